// bench_stream.c: STREAM triad benchmark data and its check.
//
// Sets up `nbuf` independent (a, b, c) sets, b and c uniform random in
// [-1, 1), a poisoned with NaN before the verification launch. Every a[i] of
// set 0 is checked against b[i] + scalar c[i] computed in float64 and rounded
// to f32: equal, or within one f32 ulp of the operands' magnitude, i.e.
// |a - ref| <= 2^-23 (|b| + |scalar c|). An FMA rounds once (error <= u |ref|)
// and a multiply then add rounds twice (error <= 2u (|b| + |scalar c|)), so
// both pass, while a dropped or wrong term is off by about the term itself.
// Work per call (cb_kernel.h): 2n flops, 12n bytes (no write-allocate).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_bench.h"

struct stream_data {
    struct cb_stream_args s;  // shape
    int nbuf;
    float **a, **b, **c;
    struct cb_call *calls;
};

static enum cb_status stream_check_shape(const struct cb_call *shape)
{
    const struct cb_stream_args *s = &shape->u.stream;
    if (s->n < 1 || s->n > (INT64_C(1) << 30))
        return cb_set_error(CB_ERR_INVALID_ARG, "stream n must be in [1, 2^30], got %lld",
                            (long long)s->n);
    if (!isfinite(s->scalar))
        return cb_set_error(CB_ERR_INVALID_ARG, "stream scalar must be finite");
    return CB_OK;
}

static double stream_set_bytes(const struct cb_call *shape, enum cb_dtype d)
{
    return 3.0 * cb_dtype_size(d) * (double)shape->u.stream.n;
}

static void stream_teardown(void *data)
{
    struct stream_data *b = data;
    if (!b)
        return;
    for (int i = 0; i < b->nbuf; i++) {
        if (b->a)
            cb_free(b->a[i]);
        if (b->b)
            cb_free(b->b[i]);
        if (b->c)
            cb_free(b->c[i]);
    }
    free(b->a);
    free(b->b);
    free(b->c);
    free(b->calls);
    free(b);
}

static enum cb_status stream_setup(const struct cb_call *shape, enum cb_dtype d, int nbuf,
                                   struct cb_rng *rng, void **out)
{
    enum cb_status s = CB_OK;
    struct stream_data *b = calloc(1, sizeof *b);
    if (!b)
        return cb_set_error(CB_ERR_NO_MEMORY, "stream bench");
    if (d != CB_DTYPE_F32) {
        s = cb_set_error(CB_ERR_UNSUPPORTED, "stream bench: dtype %s not supported",
                         cb_dtype_name(d));
        goto out;
    }
    b->s = shape->u.stream;
    const size_t n = (size_t)b->s.n;
    b->a = calloc((size_t)nbuf, sizeof *b->a);
    b->b = calloc((size_t)nbuf, sizeof *b->b);
    b->c = calloc((size_t)nbuf, sizeof *b->c);
    b->calls = calloc((size_t)nbuf, sizeof *b->calls);
    if (!b->a || !b->b || !b->c || !b->calls) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "stream bench buffers");
        goto out;
    }
    b->nbuf = nbuf;
    for (int i = 0; i < nbuf; i++) {
        b->a[i] = cb_alloc_array(n, sizeof(float));
        b->b[i] = cb_alloc_array(n, sizeof(float));
        b->c[i] = cb_alloc_array(n, sizeof(float));
        if (!b->a[i] || !b->b[i] || !b->c[i]) {
            s = cb_set_error(CB_ERR_NO_MEMORY, "stream buffers: %.1f MiB per set",
                             3.0 * (double)n * 4 / (1 << 20));
            goto out;
        }
        cb_rng_fill_f32(rng, b->b[i], n, -1.0f, 1.0f);
        cb_rng_fill_f32(rng, b->c[i], n, -1.0f, 1.0f);
        memset(b->a[i], 0, n * sizeof(float));  // touched: page faults stay out of timing
        struct cb_call *c = &b->calls[i];
        c->op = CB_OP_STREAM;
        c->u.stream = b->s;
        c->u.stream.a = b->a[i];
        c->u.stream.b = b->b[i];
        c->u.stream.c = b->c[i];
    }
out:
    if (s != CB_OK) {
        stream_teardown(b);
        b = NULL;
    }
    *out = b;
    return s;
}

static const struct cb_call *stream_call(void *data, int i)
{
    return &((struct stream_data *)data)->calls[i];
}

static void stream_poison(void *data, int i)
{
    struct stream_data *b = data;
    float *a = b->a[i];
    for (int64_t j = 0; j < b->s.n; j++)
        a[j] = NAN;
}

static enum cb_status stream_verify(void *data, int bi, double *max_err, double *tol)
{
    struct stream_data *bd = data;
    const float *a = bd->a[bi], *b = bd->b[bi], *c = bd->c[bi];
    const double sc = bd->s.scalar;
    *tol = 0x1p-23;  // one f32 ulp, relative to |b| + |scalar c|
    *max_err = 0.0;
    for (int64_t i = 0; i < bd->s.n; i++) {
        double exact = (double)b[i] + sc * (double)c[i];
        float ref = (float)exact, got = a[i];
        if (!isfinite(got))
            return cb_set_error(CB_ERR_VERIFY, "a[%lld] = %g: not written or not finite",
                                (long long)i, got);
        double mag = fabs((double)b[i]) + fabs(sc * (double)c[i]);
        double err = got == ref ? 0.0 : fabs((double)got - (double)ref) / (mag > 0 ? mag : 1.0);
        if (err > *max_err)
            *max_err = err;
        if (!(err <= *tol))
            return cb_set_error(CB_ERR_VERIFY, "a[%lld] = %.9g, float64 reference %.9g "
                                "(b=%.9g c=%.9g; error %.3g ulp > 1)", (long long)i, got, ref,
                                b[i], c[i], err / *tol);
    }
    return CB_OK;
}

const struct cb_bench cb_bench_stream = {
    .op = CB_OP_STREAM,
    .check_shape = stream_check_shape,
    .set_bytes = stream_set_bytes,
    .setup = stream_setup,
    .call = stream_call,
    .poison = stream_poison,
    .verify = stream_verify,
    .teardown = stream_teardown,
};
