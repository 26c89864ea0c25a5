// bench_gemm.c: GEMM benchmark data and its float64 check.
//
// Sets up `nbuf` independent (A, B, C) sets of uniform random data in
// [-1, 1), so rotating through them keeps the inputs out of cache; declares
// the shapes; verifies set 0 against a float64 reference:
//   - beta == 0: C is poisoned with NaN first (a BLAS kernel must not read
//     it), so an element the kernel never wrote fails the check;
//   - ldc > n: the padding columns hold a sentinel that must survive;
//   - error of C[i,j] is |c - ref| / (sum_p |alpha a_ip b_pj| + |beta c0_ij|),
//     i.e. relative to the magnitude the rounding errors scale with; the
//     tolerance is 4u(2 + sqrt(k)), u = 2^-24 (f32 unit roundoff): random-sign
//     sums err about u*sqrt(k) at worst in practice, while one dropped term
//     costs about 1/k, which stays above the tolerance up to k ~ 10^5;
//     bf16 inputs: twice that (see gemm_verify);
//   - every element is recomputed in float64: by plain loops up to 2^26
//     multiply-adds, above that by OpenBLAS dgemm (the designated oracle
//     beside the loops) in row panels, |A| |B| giving the magnitudes;
//   - built without OpenBLAS, large shapes fall back to 24 full rows (first,
//     last, random) plus the random projection C t vs beta C0 t + alpha A (B t)
//     over all of C (BLIS's test), which catches gross errors only.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_bench.h"
#if CB_HAVE_OPENBLAS
#include <cblas.h>
#endif

#define PAD_SENTINEL (-7777.0f)
#define FULL_CHECK_MACS (1LL << 26)
#define SAMPLED_ROWS 24

struct gemm_data {
    struct cb_gemm_args g;  // shape
    enum cb_dtype dtype;    // of A and B; C is always f32
    int nbuf;
    void **a, **b;
    float **c;
    float *c0;              // set 0's C before the verification launch
    struct cb_call *calls;
    size_t a_len, b_len, c_len;
    struct cb_rng rng;
};

static void gemm_dims(const struct cb_gemm_args *g, int64_t *arows, int64_t *acols,
                      int64_t *brows, int64_t *bcols)
{
    *arows = g->trans_a ? g->k : g->m;
    *acols = g->trans_a ? g->m : g->k;
    *brows = g->trans_b ? g->n : g->k;
    *bcols = g->trans_b ? g->k : g->n;
}

static enum cb_status gemm_check_shape(const struct cb_call *shape)
{
    const struct cb_gemm_args *g = &shape->u.gemm;
    int64_t ar, ac, br, bc;
    if (g->m < 1 || g->n < 1 || g->k < 1)
        return cb_set_error(CB_ERR_INVALID_ARG, "gemm sizes must be >= 1 (m=%lld n=%lld k=%lld)",
                            (long long)g->m, (long long)g->n, (long long)g->k);
    gemm_dims(g, &ar, &ac, &br, &bc);
    // The bound keeps every index product inside int64; a shape past it
    // cannot run on any machine today, so it is a skip saying what it needs.
    if (g->m > (1 << 20) || g->n > (1 << 20) || g->k > (1 << 20))
        return cb_set_error(CB_ERR_UNSUPPORTED, "gemm sizes above 2^20 are not supported: "
                            "needs %.3g GiB for A, B and C",
                            4.0 * ((double)ar * g->lda + (double)br * g->ldb +
                                   (double)g->m * g->ldc) / (1 << 30));
    if (g->lda < ac || g->ldb < bc || g->ldc < g->n)
        return cb_set_error(CB_ERR_INVALID_ARG,
                            "leading dimensions too small: lda=%lld (>= %lld), ldb=%lld "
                            "(>= %lld), ldc=%lld (>= %lld)",
                            (long long)g->lda, (long long)ac, (long long)g->ldb, (long long)bc,
                            (long long)g->ldc, (long long)g->n);
    if (!isfinite(g->alpha) || !isfinite(g->beta))
        return cb_set_error(CB_ERR_INVALID_ARG, "alpha and beta must be finite");
    return CB_OK;
}

static double gemm_set_bytes(const struct cb_call *shape, enum cb_dtype d)
{
    const struct cb_gemm_args *g = &shape->u.gemm;
    int64_t ar, ac, br, bc;
    gemm_dims(g, &ar, &ac, &br, &bc);
    return (double)cb_dtype_size(d) * ((double)ar * g->lda + (double)br * g->ldb) +
           4.0 * (double)g->m * g->ldc;
}

// Rewrites n floats as n bf16 or f16 values in the first half of the same
// buffer (bench_attn_common.h).
void cb_bench_to_16bit(void *buf, size_t n, enum cb_dtype d)
{
    const float *f = buf;
    uint16_t *h = buf;
    for (size_t i = 0; i < n; i++) {
        float x = f[i];  // read before the write can overlap it (h[i] < f[i])
        h[i] = d == CB_DTYPE_BF16 ? cb_f32_to_bf16(x) : cb_f32_to_f16(x);
    }
}

static void gemm_teardown(void *data)
{
    struct gemm_data *b = data;
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
    cb_free(b->c0);
    free(b);
}

static enum cb_status gemm_setup(const struct cb_call *shape, enum cb_dtype d, int nbuf,
                                 struct cb_rng *rng, void **out)
{
    enum cb_status s = CB_OK;
    const struct cb_gemm_args *g = &shape->u.gemm;
    int64_t ar, ac, br, bc;
    struct gemm_data *b = calloc(1, sizeof *b);
    if (!b)
        return cb_set_error(CB_ERR_NO_MEMORY, "gemm bench");
    if (d != CB_DTYPE_F32 && d != CB_DTYPE_BF16 && d != CB_DTYPE_F16 && d != CB_DTYPE_TF32) {
        s = cb_set_error(CB_ERR_UNSUPPORTED, "gemm bench: dtype %s not supported yet",
                         cb_dtype_name(d));
        goto out;
    }
    gemm_dims(g, &ar, &ac, &br, &bc);
    b->g = *g;
    b->dtype = d;
    b->rng = *rng;
    b->a_len = (size_t)ar * (size_t)g->lda;
    b->b_len = (size_t)br * (size_t)g->ldb;
    b->c_len = (size_t)g->m * (size_t)g->ldc;
    b->a = calloc((size_t)nbuf, sizeof *b->a);
    b->b = calloc((size_t)nbuf, sizeof *b->b);
    b->c = calloc((size_t)nbuf, sizeof *b->c);
    b->calls = calloc((size_t)nbuf, sizeof *b->calls);
    b->c0 = cb_alloc_array(b->c_len, sizeof(float));
    if (!b->a || !b->b || !b->c || !b->calls || !b->c0) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "gemm bench buffers");
        goto out;
    }
    b->nbuf = nbuf;
    for (int i = 0; i < nbuf; i++) {
        // A and B are drawn in f32; for bf16 and f16 they are then rounded to
        // nearest even (set-up, outside any timed region) and the float64
        // check uses the rounded values, so it judges the kernel, not the
        // input format. Uniform [-1, 1) stays well inside f16's range.
        b->a[i] = cb_alloc_array(b->a_len, sizeof(float));
        b->b[i] = cb_alloc_array(b->b_len, sizeof(float));
        b->c[i] = cb_alloc_array(b->c_len, sizeof(float));
        if (!b->a[i] || !b->b[i] || !b->c[i]) {
            s = cb_set_error(CB_ERR_NO_MEMORY, "gemm buffers: %.1f MiB per set",
                             (double)(b->a_len + b->b_len + b->c_len) * 4 / (1 << 20));
            goto out;
        }
        cb_rng_fill_f32(rng, b->a[i], b->a_len, -1.0f, 1.0f);
        cb_rng_fill_f32(rng, b->b[i], b->b_len, -1.0f, 1.0f);
        cb_rng_fill_f32(rng, b->c[i], b->c_len, -1.0f, 1.0f);
        if (d == CB_DTYPE_BF16 || d == CB_DTYPE_F16) {
            cb_bench_to_16bit(b->a[i], b->a_len, d);
            cb_bench_to_16bit(b->b[i], b->b_len, d);
        }
        struct cb_call *c = &b->calls[i];
        c->op = CB_OP_GEMM;
        c->u.gemm = *g;
        c->u.gemm.a = b->a[i];
        c->u.gemm.b = b->b[i];
        c->u.gemm.c = b->c[i];
    }
    *rng = b->rng;  // keep caller's stream independent of nbuf
out:
    if (s != CB_OK) {
        gemm_teardown(b);
        b = NULL;
    }
    *out = b;
    return s;
}

static const struct cb_call *gemm_call(void *data, int i)
{
    return &((struct gemm_data *)data)->calls[i];
}

static void gemm_poison(void *data, int i)
{
    struct gemm_data *b = data;
    const struct cb_gemm_args *g = &b->g;
    float *c = b->c[i];
    for (int64_t r = 0; r < g->m; r++)
        for (int64_t j = 0; j < g->ldc; j++) {
            float *e = &c[r * g->ldc + j];
            if (j >= g->n)
                *e = PAD_SENTINEL;
            else if (g->beta == 0.0f)
                *e = NAN;
        }
    memcpy(b->c0, c, b->c_len * sizeof(float));
}

static double elem(enum cb_dtype d, const void *p, int64_t idx)
{
    return d == CB_DTYPE_BF16  ? cb_bf16_to_f32(((const uint16_t *)p)[idx])
           : d == CB_DTYPE_F16 ? cb_f16_to_f32(((const uint16_t *)p)[idx])
                               : ((const float *)p)[idx];
}
static double at_a(const struct gemm_data *bd, const void *a, int64_t i, int64_t p)
{
    const struct cb_gemm_args *g = &bd->g;
    return elem(bd->dtype, a, g->trans_a ? p * g->lda + i : i * g->lda + p);
}
static double at_b(const struct gemm_data *bd, const void *b, int64_t p, int64_t j)
{
    const struct cb_gemm_args *g = &bd->g;
    return elem(bd->dtype, b, g->trans_b ? j * g->ldb + p : p * g->ldb + j);
}

#if CB_HAVE_OPENBLAS
#define PANEL_ROWS 256
// Full float64 check of all of C through dgemm, PANEL_ROWS rows at a time so
// the float64 copies stay small: ref = alpha A B + beta C0, mag = |alpha| |A| |B|
// + |beta C0|. Returns CB_ERR_UNSUPPORTED if memory is short (caller falls back).
static enum cb_status verify_dgemm(const struct gemm_data *bd, const void *a, const void *b,
                                   const float *c, double tol, double *max_err)
{
    const struct cb_gemm_args *g = &bd->g;
    enum cb_status s = CB_OK;
    const int64_t m = g->m, n = g->n, k = g->k, pr = m < PANEL_ROWS ? m : PANEL_ROWS;
    double *bd_ = malloc((size_t)(k * n) * sizeof(double));
    double *bab = malloc((size_t)(k * n) * sizeof(double));
    double *ap = malloc((size_t)(pr * k) * sizeof(double));
    double *aab = malloc((size_t)(pr * k) * sizeof(double));
    double *ref = malloc((size_t)(pr * n) * sizeof(double));
    double *mag = malloc((size_t)(pr * n) * sizeof(double));
    if (!bd_ || !bab || !ap || !aab || !ref || !mag) {
        s = cb_set_error(CB_ERR_UNSUPPORTED, "float64 check needs more memory");
        goto out;
    }
    // op(B) as a dense (k, n) float64 matrix.
    for (int64_t p = 0; p < k; p++)
        for (int64_t j = 0; j < n; j++) {
            double x = at_b(bd, b, p, j);
            bd_[p * n + j] = x;
            bab[p * n + j] = fabs(x);
        }
    for (int64_t i0 = 0; i0 < m; i0 += pr) {
        int64_t rows = m - i0 < pr ? m - i0 : pr;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t p = 0; p < k; p++) {
                double x = at_a(bd, a, i0 + i, p);
                ap[i * k + p] = x;
                aab[i * k + p] = fabs(x);
            }
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < n; j++) {
                double c0v = g->beta != 0.0f ? (double)g->beta * bd->c0[(i0 + i) * g->ldc + j]
                                             : 0.0;
                ref[i * n + j] = c0v;
                mag[i * n + j] = fabs(c0v);
            }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)rows, (blasint)n,
                    (blasint)k, g->alpha, ap, (blasint)k, bd_, (blasint)n, 1.0, ref, (blasint)n);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)rows, (blasint)n,
                    (blasint)k, fabs((double)g->alpha), aab, (blasint)k, bab, (blasint)n, 1.0,
                    mag, (blasint)n);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < n; j++) {
                double got = c[(i0 + i) * g->ldc + j], r = ref[i * n + j], mg = mag[i * n + j];
                double err = fabs(got - r) / (mg > 0 ? mg : 1.0);
                if (err > *max_err)
                    *max_err = err;
                if (!(err <= tol)) {
                    s = cb_set_error(CB_ERR_VERIFY, "C[%lld,%lld] = %.9g, float64 reference "
                                     "%.9g (relative error %.3g > tolerance %.3g)",
                                     (long long)(i0 + i), (long long)j, got, r, err, tol);
                    goto out;
                }
            }
    }
out:
    free(bd_);
    free(bab);
    free(ap);
    free(aab);
    free(ref);
    free(mag);
    return s;
}
#endif

static enum cb_status gemm_verify(void *data, int bi, double *max_err, double *tol)
{
    struct gemm_data *bd = data;
    enum cb_status s = CB_OK;
    const struct cb_gemm_args *g = &bd->g;
    const void *a = bd->a[bi], *b = bd->b[bi];
    const float *c = bd->c[bi], *c0 = bd->c0;
    const double u = 0x1p-24;
    const double alpha = g->alpha, beta = g->beta;
    double *ref = NULL, *mag = NULL, *bt = NULL, *babs = NULL, *t = NULL;
    char *rows = NULL;
    // bf16 (8-bit) and f16 (11-bit) products are exact in f32, so their
    // GEMM error is f32 accumulation too; dot-product instructions (vdpbf16ps)
    // add one rounding per pair: twice the f32 bound. tf32 inputs stay f32
    // here and the matrix unit rounds (or truncates) each to 11 significant
    // bits: up to 2^-10 per input, 2^-9 per product, on top of the
    // accumulation.
    *tol = (bd->dtype == CB_DTYPE_F32 ? 4.0 : 8.0) * u * (2.0 + sqrt((double)g->k)) +
           (bd->dtype == CB_DTYPE_TF32 ? 0x1p-9 : 0.0);
    *max_err = 0.0;

    // Every element written and finite; padding untouched.
    for (int64_t i = 0; i < g->m; i++)
        for (int64_t j = 0; j < g->ldc; j++) {
            float v = c[i * g->ldc + j];
            if (j >= g->n && memcmp(&v, &c0[i * g->ldc + j], sizeof v) != 0) {
                s = cb_set_error(CB_ERR_VERIFY, "C[%lld,%lld] is padding (ldc=%lld) but was "
                                 "overwritten with %g", (long long)i, (long long)j,
                                 (long long)g->ldc, v);
                goto out;
            }
            if (j < g->n && !isfinite(v)) {
                s = cb_set_error(CB_ERR_VERIFY, "C[%lld,%lld] = %g: not written or not finite",
                                 (long long)i, (long long)j, v);
                goto out;
            }
        }

    ref = malloc((size_t)g->n * sizeof *ref);
    mag = malloc((size_t)g->n * sizeof *mag);
    rows = calloc((size_t)g->m, 1);
    if (!ref || !mag || !rows) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "gemm verification");
        goto out;
    }
    int full = (double)g->m * g->n * g->k <= (double)FULL_CHECK_MACS;
#if CB_HAVE_OPENBLAS
    if (!full) {
        s = verify_dgemm(bd, a, b, c, *tol, max_err);
        if (s != CB_ERR_UNSUPPORTED)
            goto out;
        s = CB_OK;
    }
#endif
    if (full) {
        memset(rows, 1, (size_t)g->m);
    } else {
        rows[0] = rows[g->m - 1] = 1;
        for (int r = 0; r < SAMPLED_ROWS; r++)
            rows[cb_rng_next(&bd->rng) % (uint64_t)g->m] = 1;
    }
    for (int64_t i = 0; i < g->m; i++) {
        if (!rows[i])
            continue;
        for (int64_t j = 0; j < g->n; j++) {
            ref[j] = beta != 0.0 ? beta * c0[i * g->ldc + j] : 0.0;
            mag[j] = beta != 0.0 ? fabs(beta * c0[i * g->ldc + j]) : 0.0;
        }
        for (int64_t p = 0; p < g->k; p++) {
            double ap = alpha * at_a(bd, a, i, p);
            for (int64_t j = 0; j < g->n; j++) {
                double x = ap * at_b(bd, b, p, j);
                ref[j] += x;
                mag[j] += fabs(x);
            }
        }
        for (int64_t j = 0; j < g->n; j++) {
            double got = c[i * g->ldc + j];
            double err = fabs(got - ref[j]) / (mag[j] > 0 ? mag[j] : 1.0);
            if (err > *max_err)
                *max_err = err;
            if (!(err <= *tol)) {
                s = cb_set_error(CB_ERR_VERIFY, "C[%lld,%lld] = %.9g, float64 reference %.9g "
                                 "(relative error %.3g > tolerance %.3g)", (long long)i,
                                 (long long)j, got, ref[j], err, *tol);
                goto out;
            }
        }
    }
    if (full)
        goto out;

    // Random projection over all of C: y = C t against beta C0 t + alpha A (B t).
    t = malloc((size_t)g->n * sizeof *t);
    bt = malloc((size_t)g->k * sizeof *bt);
    babs = malloc((size_t)g->k * sizeof *babs);
    if (!t || !bt || !babs) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "gemm projection check");
        goto out;
    }
    for (int64_t j = 0; j < g->n; j++)
        t[j] = cb_rng_uniform(&bd->rng, -1.0, 1.0);
    for (int64_t p = 0; p < g->k; p++) {
        double acc = 0, aa = 0;
        for (int64_t j = 0; j < g->n; j++) {
            double x = at_b(bd, b, p, j);
            acc += x * t[j];
            aa += fabs(x * t[j]);
        }
        bt[p] = acc;
        babs[p] = aa;
    }
    for (int64_t i = 0; i < g->m; i++) {
        double y = 0, yr = 0, ym = 0;
        for (int64_t j = 0; j < g->n; j++) {
            y += c[i * g->ldc + j] * t[j];
            if (beta != 0.0) {
                yr += beta * c0[i * g->ldc + j] * t[j];
                ym += fabs(beta * c0[i * g->ldc + j] * t[j]);
            }
        }
        for (int64_t p = 0; p < g->k; p++) {
            double ap = alpha * at_a(bd, a, i, p);
            yr += ap * bt[p];
            ym += fabs(ap) * babs[p];
        }
        double err = fabs(y - yr) / (ym > 0 ? ym : 1.0);
        if (err > *max_err)
            *max_err = err;
        if (!(err <= *tol)) {
            s = cb_set_error(CB_ERR_VERIFY, "row %lld of C fails the random-projection check "
                             "(relative error %.3g > tolerance %.3g)", (long long)i, err, *tol);
            goto out;
        }
    }
out:
    free(ref);
    free(mag);
    free(rows);
    free(t);
    free(bt);
    free(babs);
    return s;
}

const struct cb_bench cb_bench_gemm = {
    .op = CB_OP_GEMM,
    .check_shape = gemm_check_shape,
    .set_bytes = gemm_set_bytes,
    .setup = gemm_setup,
    .call = gemm_call,
    .poison = gemm_poison,
    .verify = gemm_verify,
    .teardown = gemm_teardown,
};
