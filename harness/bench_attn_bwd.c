// bench_attn_bwd.c: attention-backward benchmark data and its float64 check.
//
// Inputs of one buffer set: Q (B,H,Lq,D), K/V (B,Hkv,Lk,D) and dO (B,H,Lq,D)
// uniform in [-1, 1), f32 or bf16 (bf16: drawn in f32 and rounded to
// nearest even in set-up; the kernel gets 16-bit copies, the forward and
// the float64 check read the same rounded values in f32); O (B,H,Lq,D) and
// lse (B,H,Lq), always f32, are what a FORWARD
// kernel makes of them in float32, exactly what a training step hands the
// backward: during set-up (outside the timed region) the best usable f32
// attention kernel (cb_registry_best; CHIPBENCH_KERNEL may name it) runs
// once per buffer set on every core. A causal row that sees no key (Lq > Lk)
// has lse = -inf and O = 0 from it. Outputs dQ (B,H,Lq,D) and dK/dV
// (B,Hkv,Lk,D) are poisoned with NaN; every element must be written and
// finite (all of them are scanned, even when values are sampled).
//
// Reference: float64 from the given Q, K, V, O, lse and dO with the formulas
// of cb_kernel.h: P_ij = exp(scale q_i.k_j - lse_i) over the visible keys
// (0 elsewhere), Di = sum_d dO_id O_id, dP_ij = dO_i.v_j,
// dS_ij = P_ij (dP_ij - Di), dQ_i = scale sum_j dS_ij k_j,
// dK_j = scale sum_(h in group, i) dS_ij q_i, dV_j = sum_(h in group, i) P_ij dO_i.
// All of it when B H Lq Lk D <= 2^25 and Lk D <= 2^22
// (CHIPBENCH_ATTN_BWD_FULL_WORK overrides the 2^25; the tests set 0 to
// force sampling), else SAMPLED: 64 random
// query rows plus the first and last for dQ, and 64 random key rows plus the
// first and last for dK and dV (each key row sums over all query rows of
// its group's heads: O(group Lq D) per key row).
//
// Error model (u = 2^-24). Each element's error is measured relative to the
// magnitude its rounding scales with:
//   dV_jd: M = sum_i P_ij |dO_id|
//   dQ_id: M = scale sum_j P_ij w_ij |K_jd|
//   dK_jd: M = scale sum_i P_ij w_ij |Q_id|
//   w_ij = (sum_d |dO_id V_jd| + sum_d |dO_id O_id|) / sqrt(D) + |dP_ij - Di|
//   err = |x - ref| / max(M, 2^-80)   (below 2^-80 absolute: flushed
//         denormal P terms are not errors)
// (sums over i run over the visible query rows of every head of the group)
// and must stay within
//   tol = 8u (4 + sqrt(D) + sqrt(N)) + 2u ML / max(M, 2^-80)  [+ 2^-8 for bf16]
// N being the length of the final sum (Lk for dQ, group Lq for dK and dV).
// The first term is the rounding of the N-long accumulation and of the
// D-long dot products dP_ij and Di, in random-walk form as in the forward:
// their rounding scales with the sums of absolute products (the /sqrt(D) in
// w_ij, times the sqrt(D) of the tolerance), not with |dP_ij| or |Di|, which
// nearly cancel in dP_ij - Di when a softmax row is one-hot (large logits).
// The second is the error of P itself: each logit carries the rounding of
// its dot product, about u sqrt(D) scale sum_d |q_id k_jd|, and
// exp(s - lse) adds that of the subtraction, about u |lse_i|; the relative
// error of P_ij is about lambda_ij = sqrt(D) scale sum_d |q_id k_jd| + |lse_i|
// units of u. ML is M with every term also weighted by lambda_ij (and
// |dP_ij - Di| in place of w_ij for dQ and dK); it dominates for large
// logits (scale 20 or 50, where correct kernels measured within 0.25 of the
// bound, and within 0.05 at the default scale). bf16 inputs are exact in
// the reference too; what bf16 adds is the rounding of P (for dV = P^T dO)
// and of dS (for dQ = dS K, dK = dS^T Q) to bf16 where a matrix-unit kernel
// feeds them to the multiply: at most 2^-8 (bf16's unit roundoff) of each
// term, |P_ij dO_id| for dV and scale |dS_ij| |K_jd| <= scale P_ij w_ij
// |K_jd| for dQ (likewise dK), so at most 2^-8 of M. Reported: the largest
// err and the largest tol over the checked elements.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_bench.h"
#include "chipbench/cb_topo.h"
#include "chipbench/cb_util.h"
#include "bench_attn_common.h"

#define FULL_CHECK_WORK (1LL << 25)
#define SAMPLED_ROWS 64
#define MAG_FLOOR 0x1p-80
#define U 0x1p-24

extern const struct cb_bench cb_bench_attn;

struct bwd_data {
    struct cb_attn_args a;  // shape
    enum cb_dtype dtype;    // of Q, K, V, dO: f32 or bf16
    int nbuf;
    float **q, **k, **v, **o, **lse, **dout, **dq, **dk, **dv;
    float **in16;           // bf16: Q, K, V, dO as the kernel gets them, one buffer a set
    struct cb_call *calls;
    size_t q_len, kv_len, lse_len;
    struct cb_rng rng;
};

// Round n floats in place to the nearest bf16 (even on ties).
static void round_bf16(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = cb_bf16_to_f32(cb_f32_to_bf16(x[i]));
}

// n bf16 values of x (exact: x holds bf16 values) into h; returns h.
static const uint16_t *pack_bf16(uint16_t *h, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h[i] = cb_f32_to_bf16(x[i]);
    return h;
}

// Same shape rules as the forward: the backward takes the forward's shape.
static enum cb_status bwd_check_shape(const struct cb_call *shape)
{
    return cb_bench_attn.check_shape(shape);
}

static double bwd_set_bytes(const struct cb_call *shape, enum cb_dtype d)
{
    const struct cb_attn_args *a = &shape->u.attn;
    double qo, kv;
    cb_attn_bench_elems(a, &qo, &kv);
    // Q, O, dO, dQ; K, V, dK, dV; lse (all f32: the check reads them), and
    // bf16's 16-bit copies of Q, dO, K, V
    return 4.0 * (4 * qo + 4 * kv) + 4.0 * a->batch * a->heads * a->seq_q +
           (d == CB_DTYPE_F32 ? 0.0 : cb_dtype_size(d) * (2 * qo + 2 * kv));
}

static void bwd_teardown(void *data)
{
    struct bwd_data *b = data;
    if (!b)
        return;
    float **arrs[] = {b->q, b->k, b->v, b->o, b->lse, b->dout, b->dq, b->dk, b->dv, b->in16};
    cb_attn_bench_free(arrs, sizeof arrs / sizeof arrs[0], b->nbuf);
    free(b->calls);
    free(b);
}

// O and lse of every buffer set from the best forward kernel (set-up only).
static enum cb_status run_forward(struct bwd_data *b)
{
    enum cb_status s = CB_OK;
    const struct cb_kernel *fk = NULL;
    void *plan = NULL;
    char why[400];
    s = cb_registry_best(CB_OP_ATTN, CB_DTYPE_F32, &fk);
    if (s != CB_OK) {
        snprintf(why, sizeof why, "%s", cb_error_text());
        return cb_set_error(s, "attention backward set-up needs a forward kernel: %s", why);
    }
    int threads = cb_topo_get()->cores;
    if (threads < 1)
        threads = 1;
    if (fk->max_threads > 0 && threads > fk->max_threads)
        threads = fk->max_threads;
    struct cb_call fc = {.op = CB_OP_ATTN};
    fc.u.attn = b->calls[0].u.attn_bwd.fwd;
    if (fk->plan) {
        struct cb_plan_req req = {.shape = &fc, .threads = threads, .device = NULL};
        CB_TRY(fk->plan(fk, &req, &plan));
    }
    for (int i = 0; i < b->nbuf; i++) {
        fc.u.attn = b->calls[i].u.attn_bwd.fwd;
        CB_TRY(fk->run(plan, &fc));
        if (fk->finish)
            CB_TRY(fk->finish(plan));
        if (fk->readback)
            CB_TRY(fk->readback(plan, &fc));
        for (size_t x = 0; x < b->q_len; x++)
            if (!isfinite(b->o[i][x])) {
                s = cb_set_error(CB_ERR_BACKEND, "forward kernel %s left O[%zu] = %g", fk->name,
                                 x, b->o[i][x]);
                goto out;
            }
    }
out:
    if (s != CB_OK && s != CB_ERR_BACKEND) {
        snprintf(why, sizeof why, "%s", cb_error_text());
        s = cb_set_error(s, "forward kernel %s (set-up of O and lse): %s", fk->name, why);
    }
    if (plan && fk->plan_free)
        fk->plan_free(plan);
    return s;
}

static enum cb_status bwd_setup(const struct cb_call *shape, enum cb_dtype d, int nbuf,
                                struct cb_rng *rng, void **out)
{
    enum cb_status s = CB_OK;
    const struct cb_attn_args *a = &shape->u.attn;
    struct bwd_data *b = calloc(1, sizeof *b);
    if (!b)
        return cb_set_error(CB_ERR_NO_MEMORY, "attention backward bench");
    if (d != CB_DTYPE_F32 && d != CB_DTYPE_BF16) {
        s = cb_set_error(CB_ERR_UNSUPPORTED,
                         "attention backward bench: dtype %s not supported yet",
                         cb_dtype_name(d));
        goto out;
    }
    b->dtype = d;
    b->a = *a;
    b->a.q = b->a.k = b->a.v = NULL;
    b->a.o = NULL;
    b->a.lse = NULL;
    cb_attn_bench_lens(a, &b->q_len, &b->kv_len, &b->lse_len);
    float ***ptrs[] = {&b->q, &b->k, &b->v, &b->dout, &b->o, &b->lse, &b->dq, &b->dk, &b->dv,
                       &b->in16};
    const size_t n = sizeof ptrs / sizeof ptrs[0] - (d == CB_DTYPE_F32);
    if (!cb_attn_bench_alloc_ptrs(ptrs, n, nbuf)) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "attention backward buffers");
        goto out;
    }
    b->calls = calloc((size_t)nbuf, sizeof *b->calls);
    if (!b->calls) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "attention backward buffers");
        goto out;
    }
    b->nbuf = nbuf;
    // inputs (Q, K, V, dO) first; O and lse come from the forward kernel
    // in16 (bf16 only): Q, dO, K, V of 2 bytes each, packed after run_forward
    float **arrs[] = {b->q, b->k, b->v, b->dout, b->o, b->lse, b->dq, b->dk, b->dv, b->in16};
    const size_t lens[] = {b->q_len, b->kv_len, b->kv_len, b->q_len, b->q_len,
                           b->lse_len, b->q_len, b->kv_len, b->kv_len, b->q_len + b->kv_len};
    for (int i = 0; i < nbuf; i++) {
        if (!cb_attn_bench_alloc_set(arrs, lens, n, 4, i)) {
            s = cb_set_error(CB_ERR_NO_MEMORY, "attention backward buffers: %.1f MiB per set",
                             bwd_set_bytes(shape, d) / (1 << 20));
            goto out;
        }
        cb_attn_bench_fill_qkv(rng, b->q[i], b->k[i], b->v[i], b->q_len, b->kv_len);
        cb_rng_fill_f32(rng, b->dout[i], b->q_len, -1.0f, 1.0f);
        if (d == CB_DTYPE_BF16) {
            round_bf16(b->q[i], b->q_len);
            round_bf16(b->k[i], b->kv_len);
            round_bf16(b->v[i], b->kv_len);
            round_bf16(b->dout[i], b->q_len);
        }
        struct cb_call *c = &b->calls[i];
        c->op = CB_OP_ATTN_BWD;
        c->u.attn_bwd.fwd = b->a;
        c->u.attn_bwd.fwd.q = b->q[i];
        c->u.attn_bwd.fwd.k = b->k[i];
        c->u.attn_bwd.fwd.v = b->v[i];
        c->u.attn_bwd.fwd.o = b->o[i];
        c->u.attn_bwd.fwd.lse = b->lse[i];
        c->u.attn_bwd.dout = b->dout[i];
        c->u.attn_bwd.dq = b->dq[i];
        c->u.attn_bwd.dk = b->dk[i];
        c->u.attn_bwd.dv = b->dv[i];
    }
    b->rng = *rng;
    CB_TRY(run_forward(b));
    if (d == CB_DTYPE_BF16)
        for (int i = 0; i < nbuf; i++) {
            // Exact: the values are bf16 already. Q, dO, then K, V.
            uint16_t *h = (uint16_t *)b->in16[i];
            struct cb_attn_bwd_args *c = &b->calls[i].u.attn_bwd;
            c->fwd.q = pack_bf16(h, b->q[i], b->q_len);
            c->dout = pack_bf16(h + b->q_len, b->dout[i], b->q_len);
            c->fwd.k = pack_bf16(h + 2 * b->q_len, b->k[i], b->kv_len);
            c->fwd.v = pack_bf16(h + 2 * b->q_len + b->kv_len, b->v[i], b->kv_len);
        }
out:
    if (s != CB_OK) {
        bwd_teardown(b);
        b = NULL;
    }
    *out = b;
    return s;
}

static const struct cb_call *bwd_call(void *data, int i)
{
    return &((struct bwd_data *)data)->calls[i];
}

static void bwd_poison(void *data, int i)
{
    struct bwd_data *b = data;
    for (size_t x = 0; x < b->q_len; x++)
        b->dq[i][x] = NAN;
    for (size_t x = 0; x < b->kv_len; x++)
        b->dk[i][x] = b->dv[i][x] = NAN;
}

// Verification ---------------------------------------------------------------

// Accumulators of one output row of D elements: value, magnitude M and the
// lambda-weighted magnitude ML (see the file header), each D long.
struct acc3 {
    double *val, *mag, *ml;
};

struct vctx {
    const struct cb_attn_args *a;
    int64_t D, Lq, Lk, group;
    double scale, sqrt_d;
    const float *Q, *K, *V, *O, *lse, *dO;  // base pointers of the checked set
    const float *dQ, *dK, *dV;
    double rounding;  // bf16: 2^-8 of M (the file header), f32: 0
    double max_err, tol;
};

// Di = dO_i . O_i and its magnitude sum_d |dO_id O_id|.
static double row_di(const struct vctx *c, const float *doi, const float *oi, double *mag)
{
    double di = 0;
    *mag = 0;
    for (int64_t d = 0; d < c->D; d++) {
        di += (double)doi[d] * oi[d];
        *mag += fabs((double)doi[d] * oi[d]);
    }
    return di;
}

// One (query row i, key row j) pair: adds its terms to dQ_i (q, may be NULL)
// and to dK_j and dV_j (k and v, may be NULL). di, dimag: Di of row i and
// its magnitude sum_d |dO_id O_id|.
static void pair(const struct vctx *c, const float *qi, const float *doi, double di,
                 double dimag, double lse, const float *kj, const float *vj, struct acc3 *q,
                 struct acc3 *k, struct acc3 *v)
{
    const int64_t D = c->D;
    double s = 0, mag = 0, dp = 0, dpmag = 0;
    for (int64_t d = 0; d < D; d++) {
        const double t = (double)qi[d] * kj[d], t2 = (double)doi[d] * vj[d];
        s += t;
        mag += fabs(t);
        dp += t2;
        dpmag += fabs(t2);
    }
    const double p = exp(c->scale * s - lse);
    const double lambda = c->sqrt_d * c->scale * mag + fabs(lse);
    const double ds = p * (dp - di);
    const double w = c->scale * p * ((dpmag + dimag) / c->sqrt_d + fabs(dp - di));
    const double wl = c->scale * p * lambda * fabs(dp - di);
    for (int64_t d = 0; d < D; d++) {
        if (q) {
            q->val[d] += c->scale * ds * kj[d];
            q->mag[d] += w * fabs(kj[d]);
            q->ml[d] += wl * fabs(kj[d]);
        }
        if (k) {
            k->val[d] += c->scale * ds * qi[d];
            k->mag[d] += w * fabs(qi[d]);
            k->ml[d] += wl * fabs(qi[d]);
        }
        if (v) {
            v->val[d] += p * doi[d];
            v->mag[d] += p * fabs(doi[d]);
            v->ml[d] += p * lambda * fabs(doi[d]);
        }
    }
}

static void acc_zero(struct acc3 *x, int64_t D)
{
    memset(x->val, 0, (size_t)D * sizeof(double));
    memset(x->mag, 0, (size_t)D * sizeof(double));
    memset(x->ml, 0, (size_t)D * sizeof(double));
}

// Compare one output row (D elements) against its reference.
static enum cb_status check_row(struct vctx *c, const char *what, const char *hname,
                                const float *got, const struct acc3 *ref, int64_t n, int64_t bb,
                                int64_t h, int64_t r)
{
    const double base = 8.0 * U * (4.0 + c->sqrt_d + sqrt((double)n));
    for (int64_t d = 0; d < c->D; d++) {
        const double m = ref->mag[d] > MAG_FLOOR ? ref->mag[d] : MAG_FLOOR;
        const double err = fabs(got[d] - ref->val[d]) / m;
        const double tol = base + 2.0 * U * ref->ml[d] / m + c->rounding;
        c->max_err = err > c->max_err ? err : c->max_err;
        c->tol = tol > c->tol ? tol : c->tol;
        if (!(err <= tol))
            return cb_set_error(CB_ERR_VERIFY, "%s[b=%lld,%s=%lld,%s=%lld,d=%lld] = %.9g, float64 "
                                "reference %.9g (error %.3g > tolerance %.3g)", what,
                                (long long)bb, hname, (long long)h, what[1] == 'Q' ? "i" : "j",
                                (long long)r, (long long)d, got[d], ref->val[d], err, tol);
    }
    return CB_OK;
}

static enum cb_status check_finite(const char *what, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return cb_set_error(CB_ERR_VERIFY, "%s[%zu] (flat) = %g: not written or not finite",
                                what, i, x[i]);
    return CB_OK;
}

static int64_t full_check_limit(void)
{
    const char *e = getenv("CHIPBENCH_ATTN_BWD_FULL_WORK");
    int64_t v;
    if (!e || !*e)
        return FULL_CHECK_WORK;
    if (cb_parse_i64(e, 0, INT64_MAX, &v) == CB_OK)
        return v;
    cb_clear_error();  // malformed: the default
    return FULL_CHECK_WORK;
}

// Pointers of (batch bb, query head h, row i) and (batch bb, kv head g, row j).
#define QROW(base, bb, h, i) ((base) + (((bb) * c->a->heads + (h)) * c->Lq + (i)) * c->D)
#define KROW(base, bb, g, j) ((base) + (((bb) * c->a->kv_heads + (g)) * c->Lk + (j)) * c->D)
#define LSE(bb, h, i) (c->lse[((bb) * c->a->heads + (h)) * c->Lq + (i)])

// dQ row (bb, h, i) over all its visible keys; when kacc/vacc are given
// (full check: Lk rows each) also dK and dV of every key of the row.
static enum cb_status query_row(struct vctx *c, int64_t bb, int64_t h, int64_t i,
                                struct acc3 *qa, struct acc3 *kacc, struct acc3 *vacc)
{
    const int64_t g = h / c->group, nk = cb_attn_visible_keys(c->a, i);
    const float *qi = QROW(c->Q, bb, h, i), *doi = QROW(c->dO, bb, h, i);
    double dimag;
    const double di = row_di(c, doi, QROW(c->O, bb, h, i), &dimag);
    acc_zero(qa, c->D);
    for (int64_t j = 0; j < nk; j++)
        pair(c, qi, doi, di, dimag, LSE(bb, h, i), KROW(c->K, bb, g, j), KROW(c->V, bb, g, j), qa,
             kacc ? &kacc[j] : NULL, vacc ? &vacc[j] : NULL);
    return check_row(c, "dQ", "h", QROW(c->dQ, bb, h, i), qa, c->Lk, bb, h, i);
}

// dK and dV row (bb, g, j): sums over every query row of every head of group g.
static enum cb_status key_row(struct vctx *c, int64_t bb, int64_t g, int64_t j,
                              struct acc3 *ka, struct acc3 *va)
{
    acc_zero(ka, c->D);
    acc_zero(va, c->D);
    // Query i sees key j iff j < visible_keys(i); visible_keys grows with i.
    int64_t i0 = 0;
    if (c->a->causal) {
        i0 = j - (c->Lk - c->Lq);
        i0 = i0 < 0 ? 0 : i0;
    }
    for (int64_t h = g * c->group; h < (g + 1) * c->group; h++)
        for (int64_t i = i0; i < c->Lq; i++) {
            const float *qi = QROW(c->Q, bb, h, i), *doi = QROW(c->dO, bb, h, i);
            double dimag;
            const double di = row_di(c, doi, QROW(c->O, bb, h, i), &dimag);
            pair(c, qi, doi, di, dimag, LSE(bb, h, i),
                 KROW(c->K, bb, g, j), KROW(c->V, bb, g, j), NULL, ka, va);
        }
    enum cb_status s;
    s = check_row(c, "dK", "kvh", KROW(c->dK, bb, g, j), ka, c->group * c->Lq, bb, g, j);
    if (s == CB_OK)
        s = check_row(c, "dV", "kvh", KROW(c->dV, bb, g, j), va, c->group * c->Lq, bb, g, j);
    return s;
}

static enum cb_status bwd_verify(void *data, int bi, double *max_err, double *tol)
{
    struct bwd_data *b = data;
    const struct cb_attn_args *a = &b->a;
    enum cb_status s = CB_OK;
    struct vctx cv = {
        .a = a, .D = a->head_dim, .Lq = a->seq_q, .Lk = a->seq_kv,
        .group = a->heads / a->kv_heads,
        .scale = a->scale != 0.0f ? a->scale : 1.0 / sqrt((double)a->head_dim),
        .sqrt_d = sqrt((double)a->head_dim),
        .Q = b->q[bi], .K = b->k[bi], .V = b->v[bi], .O = b->o[bi], .lse = b->lse[bi],
        .dO = b->dout[bi], .dQ = b->dq[bi], .dK = b->dk[bi], .dV = b->dv[bi],
        .rounding = b->dtype == CB_DTYPE_BF16 ? 0x1p-8 : 0.0,
    };
    struct vctx *c = &cv;
    const int64_t D = c->D;
    // (the full check keeps dK and dV of one kv head: 6 Lk D doubles)
    const int full = (double)a->batch * a->heads * c->Lq * c->Lk * D <=
                         (double)full_check_limit() &&
                     c->Lk * D <= (1 << 22);
    // Full: 1 + 2 Lk accumulator rows (dQ, then dK and dV of one kv head);
    // sampled: 3 rows.
    const int64_t nacc = full ? 1 + 2 * c->Lk : 3;
    double *mem = calloc((size_t)(nacc * 3 * D), sizeof(double));
    struct acc3 *acc = calloc((size_t)nacc, sizeof *acc);
    const int64_t nq = a->batch * a->heads * c->Lq, nkr = a->batch * a->kv_heads * c->Lk;
    char *qsel = NULL, *ksel = NULL;
    *max_err = 0;
    *tol = 8.0 * U * (4.0 + c->sqrt_d + sqrt((double)c->Lk)) + c->rounding;
    if (!mem || !acc) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "attention backward verification");
        goto out;
    }
    for (int64_t x = 0; x < nacc; x++)
        acc[x] = (struct acc3){mem + 3 * x * D, mem + (3 * x + 1) * D, mem + (3 * x + 2) * D};
    CB_TRY(check_finite("dQ", c->dQ, b->q_len));
    CB_TRY(check_finite("dK", c->dK, b->kv_len));
    CB_TRY(check_finite("dV", c->dV, b->kv_len));

    if (full) {
        struct acc3 *kacc = acc + 1, *vacc = acc + 1 + c->Lk;
        for (int64_t bb = 0; bb < a->batch; bb++)
            for (int64_t g = 0; g < a->kv_heads; g++) {
                for (int64_t j = 0; j < 2 * c->Lk; j++)
                    acc_zero(&kacc[j], D);
                for (int64_t h = g * c->group; h < (g + 1) * c->group; h++)
                    for (int64_t i = 0; i < c->Lq; i++)
                        CB_TRY(query_row(c, bb, h, i, &acc[0], kacc, vacc));
                for (int64_t j = 0; j < c->Lk; j++) {
                    const int64_t n = c->group * c->Lq;
                    CB_TRY(check_row(c, "dK", "kvh", KROW(c->dK, bb, g, j), &kacc[j], n, bb, g,
                                     j));
                    CB_TRY(check_row(c, "dV", "kvh", KROW(c->dV, bb, g, j), &vacc[j], n, bb, g,
                                     j));
                }
            }
        goto out;
    }

    // Sampled: random query rows and key rows, plus the first and last of each.
    qsel = calloc((size_t)nq, 1);
    ksel = calloc((size_t)nkr, 1);
    if (!qsel || !ksel) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "attention backward verification");
        goto out;
    }
    qsel[0] = qsel[nq - 1] = 1;
    ksel[0] = ksel[nkr - 1] = 1;
    for (int r = 0; r < SAMPLED_ROWS; r++) {
        qsel[cb_rng_next(&b->rng) % (uint64_t)nq] = 1;
        ksel[cb_rng_next(&b->rng) % (uint64_t)nkr] = 1;
    }
    for (int64_t r = 0; r < nq; r++)
        if (qsel[r])
            CB_TRY(query_row(c, r / (a->heads * c->Lq), (r / c->Lq) % a->heads, r % c->Lq,
                             &acc[0], NULL, NULL));
    for (int64_t r = 0; r < nkr; r++)
        if (ksel[r])
            CB_TRY(key_row(c, r / (a->kv_heads * c->Lk), (r / c->Lk) % a->kv_heads, r % c->Lk,
                           &acc[1], &acc[2]));
out:
    if (c->tol > *tol)
        *tol = c->tol;
    *max_err = c->max_err;
    free(mem);
    free(acc);
    free(qsel);
    free(ksel);
    return s;
}

const struct cb_bench cb_bench_attn_bwd = {
    .op = CB_OP_ATTN_BWD,
    .check_shape = bwd_check_shape,
    .set_bytes = bwd_set_bytes,
    .setup = bwd_setup,
    .call = bwd_call,
    .poison = bwd_poison,
    .verify = bwd_verify,
    .teardown = bwd_teardown,
};
