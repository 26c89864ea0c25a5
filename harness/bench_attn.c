// bench_attn.c: attention-forward benchmark data and its float64 check.
//
// Q (B,H,Lq,D), K/V (B,Hkv,Lk,D) uniform in [-1, 1), f32 or bf16 (drawn in
// f32, rounded in set-up; the check reads the rounded values); O (B,H,Lq,D) and the
// log-sum-exp (B,H,Lq) are outputs, poisoned with NaN before the check.
// Every output element must be written (finite; lse is -inf only for a row
// that sees no key). Rows are recomputed in float64: all of them up to 2^26
// multiply-adds, else 64 random rows plus the first and last.
//   O error  = |o - ref| / sum_j p_j |v_jd|   (relative to what rounding scales with)
//   lse error = |lse - ref| / (1 + |ref|)
// Tolerance per row 8u(4 + sqrt(D) + sqrt(Lk)) + 2u scale sqrt(D) max_j sum_d |q_d k_jd|,
// u = 2^-24: the P.V sum errs by about u*sqrt(Lk); each logit carries the
// rounding of its dot product, which scales with the magnitude of the
// partial sums: about u sqrt(D) sum_d |q_d k_jd| (the random-walk form of the
// gamma_D bound), times the scale. The softmax passes that absolute logit
// error on to P in relative terms: about 2e-6 at scale 1/sqrt(D), dominant
// for large logits (measured at scale 20: within 3x of this term).
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_bench.h"
#include "bench_attn_common.h"

#define FULL_CHECK_MACS (1LL << 26)
#define SAMPLED_ROWS 64

struct attn_data {
    struct cb_attn_args a;  // shape
    enum cb_dtype dtype;    // of Q, K, V: f32 or bf16 (O and lse are f32)
    int nbuf;
    float **q, **k, **v, **o, **lse;
    struct cb_call *calls;
    size_t q_len, kv_len, lse_len;
    struct cb_rng rng;
};

static enum cb_status attn_check_shape(const struct cb_call *shape)
{
    const struct cb_attn_args *a = &shape->u.attn;
    if (a->batch < 1 || a->heads < 1 || a->kv_heads < 1 || a->seq_q < 1 || a->seq_kv < 1 ||
        a->head_dim < 1)
        return cb_set_error(CB_ERR_INVALID_ARG, "attention sizes must be >= 1");
    if (a->heads % a->kv_heads)
        return cb_set_error(CB_ERR_INVALID_ARG,
                            "heads (%lld) must be a multiple of kv_heads (%lld)",
                            (long long)a->heads, (long long)a->kv_heads);
    // These bounds keep every element count and index inside int64 (the
    // products below are at most 2^54); the memory check comes after them.
    if (a->seq_q > (1 << 22) || a->seq_kv > (1 << 22) || a->head_dim > 4096 ||
        a->batch * a->heads > (1 << 20)) {
        double qo, kv;
        cb_attn_bench_elems(a, &qo, &kv);
        return cb_set_error(CB_ERR_UNSUPPORTED, "attention shape too large: needs %.3g GiB "
                            "for Q, K, V and O alone; at most s = 4194304, d = 4096 and "
                            "b x h = 1048576", 4.0 * (2 * qo + 2 * kv) / (1 << 30));
    }
    if (!isfinite(a->scale) || a->scale < 0)
        return cb_set_error(CB_ERR_INVALID_ARG, "scale must be finite and >= 0");
    return CB_OK;
}

static double attn_set_bytes(const struct cb_call *shape, enum cb_dtype d)
{
    const struct cb_attn_args *a = &shape->u.attn;
    double qo, kv;
    cb_attn_bench_elems(a, &qo, &kv);
    // Q, K, V of the dtype; O and lse f32.
    return cb_dtype_size(d) * (qo + 2 * kv) + 4.0 * qo + 4.0 * a->batch * a->heads * a->seq_q;
}

// Shared with bench_attn_bwd.c (bench_attn_common.h) ---------------------------

void cb_attn_bench_lens(const struct cb_attn_args *a, size_t *q_len, size_t *kv_len,
                        size_t *lse_len)
{
    *q_len = (size_t)(a->batch * a->heads * a->seq_q * a->head_dim);
    *kv_len = (size_t)(a->batch * a->kv_heads * a->seq_kv * a->head_dim);
    *lse_len = (size_t)(a->batch * a->heads * a->seq_q);
}

void cb_attn_bench_elems(const struct cb_attn_args *a, double *qo, double *kv)
{
    *qo = (double)a->batch * a->heads * a->seq_q * a->head_dim;
    *kv = (double)a->batch * a->kv_heads * a->seq_kv * a->head_dim;
}

int cb_attn_bench_alloc_ptrs(float ***const *arrs, size_t n, int nbuf)
{
    for (size_t x = 0; x < n; x++)
        if (!(*arrs[x] = calloc((size_t)nbuf, sizeof(float *))))
            return 0;
    return 1;
}

int cb_attn_bench_alloc_set(float **const *arrs, const size_t *lens, size_t n, size_t n_in,
                            int i)
{
    int ok = 1;
    for (size_t x = 0; x < n; x++)
        ok &= (arrs[x][i] = cb_alloc_array(lens[x], sizeof(float))) != NULL;
    if (!ok)
        return 0;
    for (size_t x = n_in; x < n; x++)
        memset(arrs[x][i], 0, lens[x] * sizeof(float));
    return 1;
}

void cb_attn_bench_free(float **const *arrs, size_t n, int nbuf)
{
    for (size_t x = 0; x < n; x++) {
        for (int i = 0; arrs[x] && i < nbuf; i++)
            cb_free(arrs[x][i]);
        free(arrs[x]);
    }
}

void cb_attn_bench_fill_qkv(struct cb_rng *rng, float *q, float *k, float *v, size_t q_len,
                            size_t kv_len)
{
    cb_rng_fill_f32(rng, q, q_len, -1.0f, 1.0f);
    cb_rng_fill_f32(rng, k, kv_len, -1.0f, 1.0f);
    cb_rng_fill_f32(rng, v, kv_len, -1.0f, 1.0f);
}

// Forward ---------------------------------------------------------------------

static void attn_teardown(void *data)
{
    struct attn_data *b = data;
    if (!b)
        return;
    float **arrs[] = {b->q, b->k, b->v, b->o, b->lse};
    cb_attn_bench_free(arrs, sizeof arrs / sizeof arrs[0], b->nbuf);
    free(b->calls);
    free(b);
}

static enum cb_status attn_setup(const struct cb_call *shape, enum cb_dtype d, int nbuf,
                                 struct cb_rng *rng, void **out)
{
    enum cb_status s = CB_OK;
    const struct cb_attn_args *a = &shape->u.attn;
    struct attn_data *b = calloc(1, sizeof *b);
    if (!b)
        return cb_set_error(CB_ERR_NO_MEMORY, "attention bench");
    if (d != CB_DTYPE_F32 && d != CB_DTYPE_BF16) {
        s = cb_set_error(CB_ERR_UNSUPPORTED, "attention bench: dtype %s not supported yet",
                         cb_dtype_name(d));
        goto out;
    }
    b->a = *a;
    b->dtype = d;
    b->rng = *rng;
    cb_attn_bench_lens(a, &b->q_len, &b->kv_len, &b->lse_len);
    float ***ptrs[] = {&b->q, &b->k, &b->v, &b->o, &b->lse};
    const size_t n = sizeof ptrs / sizeof ptrs[0];
    b->calls = calloc((size_t)nbuf, sizeof *b->calls);
    if (!cb_attn_bench_alloc_ptrs(ptrs, n, nbuf) || !b->calls) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "attention bench buffers");
        goto out;
    }
    b->nbuf = nbuf;
    float **arrs[] = {b->q, b->k, b->v, b->o, b->lse};  // inputs first
    const size_t lens[] = {b->q_len, b->kv_len, b->kv_len, b->q_len, b->lse_len};
    for (int i = 0; i < nbuf; i++) {
        if (!cb_attn_bench_alloc_set(arrs, lens, n, 3, i)) {
            s = cb_set_error(CB_ERR_NO_MEMORY, "attention buffers: %.1f MiB per set",
                             (double)(2 * b->q_len + 2 * b->kv_len + b->lse_len) * 4 /
                                 (1 << 20));
            goto out;
        }
        cb_attn_bench_fill_qkv(rng, b->q[i], b->k[i], b->v[i], b->q_len, b->kv_len);
        if (d == CB_DTYPE_BF16) {
            cb_bench_to_16bit(b->q[i], b->q_len, d);
            cb_bench_to_16bit(b->k[i], b->kv_len, d);
            cb_bench_to_16bit(b->v[i], b->kv_len, d);
        }
        struct cb_call *c = &b->calls[i];
        c->op = CB_OP_ATTN;
        c->u.attn = *a;
        c->u.attn.q = b->q[i];
        c->u.attn.k = b->k[i];
        c->u.attn.v = b->v[i];
        c->u.attn.o = b->o[i];
        c->u.attn.lse = b->lse[i];
    }
    *rng = b->rng;
out:
    if (s != CB_OK) {
        attn_teardown(b);
        b = NULL;
    }
    *out = b;
    return s;
}

static const struct cb_call *attn_call(void *data, int i)
{
    return &((struct attn_data *)data)->calls[i];
}

static void attn_poison(void *data, int i)
{
    struct attn_data *b = data;
    for (size_t x = 0; x < b->q_len; x++)
        b->o[i][x] = NAN;
    for (size_t x = 0; x < b->lse_len; x++)
        b->lse[i][x] = NAN;
}

// Element x of an input tensor, exactly as the kernel read it.
static double in_at(const struct attn_data *b, const float *t, int64_t x)
{
    return b->dtype == CB_DTYPE_BF16 ? cb_bf16_to_f32(((const uint16_t *)t)[x]) : t[x];
}

// float64 reference of one query row; returns the number of visible keys.
static int64_t ref_row(const struct attn_data *b, int bi, int64_t bb, int64_t h, int64_t i,
                       double *s, double *o, double *omag, double *lse, double *logit_err)
{
    const struct cb_attn_args *a = &b->a;
    const int64_t D = a->head_dim, Lq = a->seq_q, Lk = a->seq_kv;
    const int64_t kvh = h / (a->heads / a->kv_heads);
    const double scale = a->scale != 0.0f ? a->scale : 1.0 / sqrt((double)D);
    const int64_t q0 = ((bb * a->heads + h) * Lq + i) * D;
    const int64_t kv0 = (bb * a->kv_heads + kvh) * Lk * D;
    const float *q = b->q[bi], *kk = b->k[bi], *vv = b->v[bi];
    const int64_t nk = cb_attn_visible_keys(a, i);
    double mx = -INFINITY, sum = 0;
    *logit_err = 0;
    for (int64_t j = 0; j < nk; j++) {
        double acc = 0, mag = 0;
        for (int64_t d = 0; d < D; d++) {
            const double t = in_at(b, q, q0 + d) * in_at(b, kk, kv0 + j * D + d);
            acc += t;
            mag += fabs(t);
        }
        s[j] = acc * scale;
        mx = s[j] > mx ? s[j] : mx;
        const double e = scale * mag;
        *logit_err = e > *logit_err ? e : *logit_err;
    }
    for (int64_t j = 0; j < nk; j++)
        sum += (s[j] = exp(s[j] - mx));
    for (int64_t d = 0; d < D; d++)
        o[d] = omag[d] = 0;
    for (int64_t j = 0; j < nk; j++)
        for (int64_t d = 0; d < D; d++) {
            const double v = in_at(b, vv, kv0 + j * D + d);
            o[d] += s[j] / sum * v;
            omag[d] += s[j] / sum * fabs(v);
        }
    *lse = nk ? mx + log(sum) : -INFINITY;
    return nk;
}

static enum cb_status attn_verify(void *data, int bi, double *max_err, double *tol)
{
    struct attn_data *b = data;
    const struct cb_attn_args *a = &b->a;
    const int64_t D = a->head_dim, Lq = a->seq_q;
    const int64_t nrows = a->batch * a->heads * Lq;
    enum cb_status s = CB_OK;
    double *sc = malloc((size_t)a->seq_kv * sizeof *sc);
    double *o = malloc((size_t)D * sizeof *o), *om = malloc((size_t)D * sizeof *om);
    char *rows = calloc((size_t)nrows, 1);
    // bf16 inputs are exact in the reference too (in_at); what bf16 adds is
    // P rounded to nearest bf16 for the P V product on matrix units: at most
    // 2^-8 (bf16's unit roundoff) of each term p_j v_j, so at most 2^-8 of
    // sum p_j |v_j|, the sum O's error is measured against.
    const double base_tol = 8.0 * 0x1p-24 * (4.0 + sqrt((double)D) + sqrt((double)a->seq_kv)) +
                            (b->dtype == CB_DTYPE_BF16 ? 0x1p-8 : 0.0);
    *tol = base_tol;
    *max_err = 0;
    if (!sc || !o || !om || !rows) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "attention verification");
        goto out;
    }
    for (size_t x = 0; x < b->q_len; x++)
        if (!isfinite(b->o[bi][x])) {
            s = cb_set_error(CB_ERR_VERIFY, "O[%zu] (flat) = %g: not written or not finite", x,
                             b->o[bi][x]);
            goto out;
        }
    if ((double)nrows * a->seq_kv * D <= (double)FULL_CHECK_MACS) {
        memset(rows, 1, (size_t)nrows);
    } else {
        rows[0] = rows[nrows - 1] = 1;
        for (int r = 0; r < SAMPLED_ROWS; r++)
            rows[cb_rng_next(&b->rng) % (uint64_t)nrows] = 1;
    }
    for (int64_t r = 0; r < nrows; r++) {
        if (!rows[r])
            continue;
        int64_t bb = r / (a->heads * Lq), h = (r / Lq) % a->heads, i = r % Lq;
        double lse_ref, logit_err;
        int64_t nk = ref_row(b, bi, bb, h, i, sc, o, om, &lse_ref, &logit_err);
        const double row_tol = base_tol + 2.0 * 0x1p-24 * sqrt((double)D) * logit_err;
        *tol = row_tol > *tol ? row_tol : *tol;
        const float *got = b->o[bi] + r * D;
        for (int64_t d = 0; d < D; d++) {
            double err = fabs(got[d] - o[d]) / (om[d] > 0 ? om[d] : 1.0);
            *max_err = err > *max_err ? err : *max_err;
            if (!(err <= row_tol)) {
                s = cb_set_error(CB_ERR_VERIFY, "O[b=%lld,h=%lld,i=%lld,d=%lld] = %.9g, float64 "
                                 "reference %.9g (error %.3g > tolerance %.3g)", (long long)bb,
                                 (long long)h, (long long)i, (long long)d, got[d], o[d], err,
                                 row_tol);
                goto out;
            }
        }
        double lg = b->lse[bi][r];
        if (nk == 0) {
            if (!(isinf(lg) && lg < 0)) {
                s = cb_set_error(CB_ERR_VERIFY, "lse[b=%lld,h=%lld,i=%lld] = %g, expected -inf "
                                 "(row sees no key)", (long long)bb, (long long)h, (long long)i,
                                 lg);
                goto out;
            }
            continue;
        }
        double err = fabs(lg - lse_ref) / (1.0 + fabs(lse_ref));
        *max_err = err > *max_err ? err : *max_err;
        if (!(err <= row_tol)) {
            s = cb_set_error(CB_ERR_VERIFY, "lse[b=%lld,h=%lld,i=%lld] = %.9g, float64 reference "
                             "%.9g (error %.3g > tolerance %.3g)", (long long)bb, (long long)h,
                             (long long)i, lg, lse_ref, err, row_tol);
            goto out;
        }
    }
out:
    free(sc);
    free(o);
    free(om);
    free(rows);
    return s;
}

const struct cb_bench cb_bench_attn = {
    .op = CB_OP_ATTN,
    .check_shape = attn_check_shape,
    .set_bytes = attn_set_bytes,
    .setup = attn_setup,
    .call = attn_call,
    .poison = attn_poison,
    .verify = attn_verify,
    .teardown = attn_teardown,
};
