// stream_avx2.c: the STREAM triad a = b + scalar * c with AVX2 FMA,
// threads (cb_pool) over contiguous chunks of 8-float (32-byte) multiples.
// When the three arrays together exceed the last-level cache, a is written
// with non-temporal stores (no read-for-ownership, no cache pollution);
// below that, ordinary stores keep a in cache for the next launch.
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "chipbench/cb_pool.h"
#include "chipbench/cb_topo.h"
#include "../kernel_tables.h"

#define VW 8

struct stream_plan {
    struct cb_pool *pool;
    int nt;                              // non-temporal stores
    const struct cb_stream_args *s;      // current call
};

static void triad_range(float *a, const float *b, const float *c, float q, int64_t n, int nt)
{
    const __m256 vq = _mm256_set1_ps(q);
    int64_t i = 0;
    if (nt) {
        // Scalar head up to a 32-byte boundary of a (streaming stores need it).
        while (i < n && ((uintptr_t)(a + i) & 31))
            a[i] = b[i] + q * c[i], i++;
        for (; i + 2 * VW <= n; i += 2 * VW) {
            __m256 x0 = _mm256_fmadd_ps(vq, _mm256_loadu_ps(c + i), _mm256_loadu_ps(b + i));
            __m256 x1 = _mm256_fmadd_ps(vq, _mm256_loadu_ps(c + i + VW),
                                        _mm256_loadu_ps(b + i + VW));
            _mm256_stream_ps(a + i, x0);
            _mm256_stream_ps(a + i + VW, x1);
        }
    } else {
        for (; i + 2 * VW <= n; i += 2 * VW) {
            __m256 x0 = _mm256_fmadd_ps(vq, _mm256_loadu_ps(c + i), _mm256_loadu_ps(b + i));
            __m256 x1 = _mm256_fmadd_ps(vq, _mm256_loadu_ps(c + i + VW),
                                        _mm256_loadu_ps(b + i + VW));
            _mm256_storeu_ps(a + i, x0);
            _mm256_storeu_ps(a + i + VW, x1);
        }
    }
    for (; i < n; i++)  // scalar tail
        a[i] = b[i] + q * c[i];
    if (nt)
        _mm_sfence();  // streaming stores visible before the pool's barrier
}

static void stream_thread(void *arg, int tid, int nthreads)
{
    const struct stream_plan *pl = arg;
    const struct cb_stream_args *s = pl->s;
    int64_t chunk = (s->n + nthreads - 1) / nthreads;
    chunk = (chunk + VW - 1) / VW * VW;
    int64_t lo = (int64_t)tid * chunk, hi = lo + chunk < s->n ? lo + chunk : s->n;
    if (lo < hi)
        triad_range((float *)s->a + lo, (const float *)s->b + lo, (const float *)s->c + lo,
                    s->scalar, hi - lo, pl->nt);
}

static void stream_plan_free(void *plan)
{
    struct stream_plan *pl = plan;
    if (!pl)
        return;
    cb_pool_free(pl->pool);
    free(pl);
}

static enum cb_status stream_plan_create(const struct cb_kernel *k, const struct cb_plan_req *req,
                                         void **plan)
{
    (void)k;
    struct stream_plan *pl = calloc(1, sizeof *pl);
    *plan = NULL;
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "stream plan");
    enum cb_status s = cb_pool_create(req->threads, &pl->pool);
    if (s != CB_OK) {
        free(pl);
        return s;
    }
    int64_t llc = cb_topo_llc_bytes();
    pl->nt = 12.0 * (double)req->shape->u.stream.n > (double)(llc > 0 ? llc : 32 << 20);
    *plan = pl;
    return CB_OK;
}

static enum cb_status stream_run(void *plan, const struct cb_call *call)
{
    struct stream_plan *pl = plan;
    pl->s = &call->u.stream;
    cb_pool_run(pl->pool, stream_thread, pl);
    return CB_OK;
}

const struct cb_kernel cb_stream_avx2_kernels[] = {
    {
        .name = "stream_f32_avx2",
        .op = CB_OP_STREAM,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_AVX2,
        .isa = CB_ISA_AVX | CB_ISA_AVX2 | CB_ISA_FMA,
        .priority = 20,
        .plan = stream_plan_create,
        .run = stream_run,
        .plan_free = stream_plan_free,
        .desc = "STREAM triad, AVX2 FMA, non-temporal stores above the LLC, pinned threads",
    },
    {.name = NULL},
};
