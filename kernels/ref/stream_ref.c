// stream_ref.c: the portable STREAM triad a = b + scalar * c (one thread).
#include <stddef.h>

#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"

static enum cb_status stream_f32_ref(void *plan, const struct cb_call *call)
{
    const struct cb_stream_args *s = &call->u.stream;
    float *restrict a = s->a;
    const float *restrict b = s->b, *restrict c = s->c;
    const float q = s->scalar;
    for (int64_t i = 0; i < s->n; i++)
        a[i] = b[i] + q * c[i];
    (void)plan;
    return CB_OK;
}

const struct cb_kernel cb_stream_ref_kernels[] = {
    {
        .name = "stream_f32_ref",
        .op = CB_OP_STREAM,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_REF,
        .priority = 0,
        .max_threads = 1,
        .run = stream_f32_ref,
        .desc = "portable C STREAM triad a = b + s*c, single thread",
    },
    {.name = NULL},
};
