// test_attn_bwd.c: the attention backward op.
//
//  - every usable attention_bwd kernel against the float64 check, through the
//    harness's set-up/poison/run/finish/readback/verify path, on odd shapes
//    (1x1, causal with rows that see no key, Lq < Lk, GQA, d = 1, d = 80,
//    large logits) and once with the sampled check forced;
//  - the reference backward against central finite differences of a float64
//    forward (loss = sum dO * O), causal and grouped-query included: the
//    formulas themselves, not just agreement with another implementation;
//  - deliberately broken kernels the check must catch (dropped term,
//    missing GQA sum, 1e-4 relative scaling, unwritten element), on the full
//    and on the sampled check; for bf16 (tolerance + 2^-8) a 2^-5 scaling.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cb_test.h"
#include "check_kernel.h"
#include "chipbench/cb_bench.h"
#include "chipbench/cb_shape.h"

static uint64_t seed;

// Run kernel k on one attention shape via the bench path (check_kernel.h).
static enum cb_status check_one(const struct cb_kernel *k, const char *shape_text, int threads,
                                double *err, double *tol)
{
    return check_kernel(k, shape_text, threads, seed++, err, tol);
}

static const char *const bwd_shapes[] = {
    "b=1,h=1,s=1,d=1", "b=1,h=1,s=7,d=8,causal=1", "b=1,h=4,kvh=2,s=65,d=64,causal=1",
    // rows 0..23 see no key (lse = -inf, dQ = 0)
    "b=1,h=2,sq=33,skv=9,d=16,causal=1", "b=1,h=3,sq=17,skv=65,d=24,causal=1",
    "b=1,h=2,s=40,d=1", "b=1,h=2,kvh=1,s=50,d=80", "b=2,h=2,s=33,d=16",
    // logits up to ~+-130 and ~+-50: one-hot softmax rows, P error dominant
    "b=1,h=2,s=100,d=64,scale=50", "b=2,h=4,kvh=2,s=129,d=72,causal=1,scale=20",
    "b=1,h=3,sq=200,skv=130,d=40,causal=1",
    // more keys than one sweep of the AVX-512 kernel (4 blocks of 48): its
    // dK/dV panels restart, its dS strip is reused; D = 128 runs all tiles
    "b=1,h=2,kvh=1,s=250,d=16", "b=1,h=1,sq=140,skv=260,d=24,causal=1",
    "b=1,h=2,kvh=1,s=150,d=128,causal=1",
    NULL,
};

static void test_all_bwd_kernels(void)
{
    int ran = 0;
    for (int i = 0; i < cb_registry_count(); i++) {
        const struct cb_kernel *k = cb_registry_get(i);
        if (k->op != CB_OP_ATTN_BWD || cb_kernel_usable(k) != CB_OK)
            continue;
        for (int t = 1; t <= (k->max_threads == 1 ? 1 : 2); t++) {
            for (int j = 0; bwd_shapes[j]; j++) {
                double err = NAN, tol = NAN;
                enum cb_status s = check_one(k, bwd_shapes[j], t, &err, &tol);
                CB_CHECK_MSG(s == CB_OK, "%s %s threads=%d: %s", k->name, bwd_shapes[j], t,
                             cb_error_msg());
                CB_CHECK_MSG(err <= tol, "%s %s: err %g > tol %g", k->name, bwd_shapes[j], err,
                             tol);
                ran++;
            }
            // The sampled check (big shapes) on a small one.
            setenv("CHIPBENCH_ATTN_BWD_FULL_WORK", "0", 1);
            double err = NAN, tol = NAN;
            const char *shape = "b=2,h=4,kvh=2,s=97,d=32,causal=1";
            enum cb_status s = check_one(k, shape, t, &err, &tol);
            unsetenv("CHIPBENCH_ATTN_BWD_FULL_WORK");
            CB_CHECK_MSG(s == CB_OK, "%s %s (sampled) threads=%d: %s", k->name, shape, t,
                         cb_error_msg());
            ran++;
        }
    }
    CB_CHECK(ran >= 12);  // the reference at least
}

// Finite differences ---------------------------------------------------------

// float64 forward of the cb_kernel.h layouts: O and lse (-inf for a row that
// sees no key, O = 0 there).
static void fwd64(const struct cb_attn_args *a, const double *Q, const double *K,
                  const double *V, double *O, double *lse)
{
    const int64_t D = a->head_dim, Lq = a->seq_q, Lk = a->seq_kv;
    const int64_t group = a->heads / a->kv_heads;
    const double scale = a->scale != 0.0f ? a->scale : 1.0 / sqrt((double)D);
    double s[64];
    for (int64_t b = 0; b < a->batch; b++)
        for (int64_t h = 0; h < a->heads; h++)
            for (int64_t i = 0; i < Lq; i++) {
                const int64_t r = (b * a->heads + h) * Lq + i;
                const double *q = Q + r * D;
                const int64_t kv = (b * a->kv_heads + h / group) * Lk * D;
                const int64_t nk = cb_attn_visible_keys(a, i);
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < nk; j++) {
                    s[j] = 0;
                    for (int64_t d = 0; d < D; d++)
                        s[j] += q[d] * K[kv + j * D + d];
                    s[j] *= scale;
                    mx = s[j] > mx ? s[j] : mx;
                }
                for (int64_t j = 0; j < nk; j++)
                    sum += exp(s[j] - mx);
                for (int64_t d = 0; d < D; d++) {
                    O[r * D + d] = 0;
                    for (int64_t j = 0; j < nk; j++)
                        O[r * D + d] += exp(s[j] - mx) / sum * V[kv + j * D + d];
                }
                lse[r] = nk ? mx + log(sum) : -INFINITY;
            }
}

static double loss64(const struct cb_attn_args *a, const double *Q, const double *K,
                     const double *V, const double *dO, double *O, double *lse, size_t q_len)
{
    fwd64(a, Q, K, V, O, lse);
    double l = 0;
    for (size_t x = 0; x < q_len; x++)
        l += dO[x] * O[x];
    return l;
}

// Central differences of loss = sum dO * O(Q, K, V) against dQ, dK, dV of
// attn_bwd_f32_ref fed with the float64 forward's O and lse rounded to f32.
static void fd_case(const char *shape_text, double *worst)
{
    struct cb_call parsed, c;
    CB_CHECK(cb_shape_parse(shape_text, &parsed) == CB_OK);
    CB_CHECK(cb_shape_as_op(&parsed, CB_OP_ATTN_BWD, &c));
    struct cb_attn_args *a = &c.u.attn_bwd.fwd;
    CB_CHECK(a->seq_kv <= 64);
    const size_t qn = (size_t)(a->batch * a->heads * a->seq_q * a->head_dim);
    const size_t kn = (size_t)(a->batch * a->kv_heads * a->seq_kv * a->head_dim);
    const size_t ln = (size_t)(a->batch * a->heads * a->seq_q);
    // f32: q k v o lse dO dQ dK dV; f64: Q K V dO O lse
    float *f = calloc(4 * qn + 4 * kn + ln, sizeof(float));
    double *g = calloc(3 * qn + 2 * kn + ln, sizeof(double));
    CB_CHECK(f && g);
    float *q = f, *o = q + qn, *dout = o + qn, *dq = dout + qn, *k = dq + qn, *v = k + kn,
          *dk = v + kn, *dv = dk + kn, *lse = dv + kn;
    double *Q = g, *DO = Q + qn, *O = DO + qn, *K = O + qn, *V = K + kn, *LSE = V + kn;
    struct cb_rng rng;
    cb_rng_seed(&rng, seed++);
    cb_rng_fill_f32(&rng, q, qn, -1, 1);
    cb_rng_fill_f32(&rng, k, kn, -1, 1);
    cb_rng_fill_f32(&rng, v, kn, -1, 1);
    cb_rng_fill_f32(&rng, dout, qn, -1, 1);
    for (size_t x = 0; x < qn; x++) {
        Q[x] = q[x];
        DO[x] = dout[x];
    }
    for (size_t x = 0; x < kn; x++) {
        K[x] = k[x];
        V[x] = v[x];
    }
    fwd64(a, Q, K, V, O, LSE);
    for (size_t x = 0; x < qn; x++)
        o[x] = (float)O[x];
    for (size_t x = 0; x < ln; x++)
        lse[x] = (float)LSE[x];
    a->q = q;
    a->k = k;
    a->v = v;
    a->o = o;
    a->lse = lse;
    c.u.attn_bwd.dout = dout;
    c.u.attn_bwd.dq = dq;
    c.u.attn_bwd.dk = dk;
    c.u.attn_bwd.dv = dv;
    const struct cb_kernel *ref = cb_registry_find("attn_bwd_f32_ref");
    void *plan = NULL;
    struct cb_plan_req req = {.shape = &c, .threads = 1};
    enum cb_status st = ref->plan(ref, &req, &plan);
    if (st == CB_OK)
        st = ref->run(plan, &c);
    ref->plan_free(plan);

    // h = 1e-3: truncation error ~ h^2 (~1e-7 for these O(1) derivatives),
    // float64 cancellation ~1e-16 / h; the f32 kernel itself errs ~1e-6.
    const double hstep = 1e-3;
    struct { double *x; const float *grad; size_t n; const char *name; } in[3] = {
        {Q, dq, qn, "dQ"}, {K, dk, kn, "dK"}, {V, dv, kn, "dV"}};
    double gsum = 0;
    int bad = 0;
    char why[200] = "";
    for (int t = 0; t < 3 && st == CB_OK; t++)
        for (size_t x = 0; x < in[t].n; x++) {
            const double keep = in[t].x[x];
            in[t].x[x] = keep + hstep;
            const double lp = loss64(a, Q, K, V, DO, O, LSE, qn);
            in[t].x[x] = keep - hstep;
            const double lm = loss64(a, Q, K, V, DO, O, LSE, qn);
            in[t].x[x] = keep;
            const double fd = (lp - lm) / (2 * hstep), got = in[t].grad[x];
            const double e = fabs(fd - got) / (1e-2 + fabs(fd));
            gsum += fabs(got);
            *worst = e > *worst ? e : *worst;
            if (!(e <= 1e-4) && !bad++)
                snprintf(why, sizeof why, "%s[%zu] = %.9g, finite difference %.9g", in[t].name,
                         x, got, fd);
        }
    free(f);
    free(g);
    CB_CHECK_MSG(st == CB_OK, "%s: %s", shape_text, cb_error_msg());
    CB_CHECK_MSG(!bad, "%s: %d gradients off, first %s", shape_text, bad, why);
    CB_CHECK_MSG(gsum > 0, "%s: all gradients zero", shape_text);
}

static void test_ref_finite_differences(void)
{
    static const char *const shapes[] = {
        "b=1,h=1,s=1,d=1", "b=2,h=2,s=4,d=2", "b=1,h=2,kvh=1,sq=5,skv=7,d=3,causal=1,scale=0.8",
        // rows 0..2 see no key
        "b=1,h=4,kvh=2,sq=6,skv=3,d=4,causal=1", "b=1,h=1,sq=3,skv=6,d=2,scale=2",
        "b=1,h=3,kvh=1,s=9,d=5,causal=1,scale=1.5",
        NULL,
    };
    double worst = 0;
    for (int i = 0; shapes[i]; i++) {
        fd_case(shapes[i], &worst);
        if (cb_t_state)
            return;
    }
    printf("  finite differences: worst |fd - grad| / (0.01 + |fd|) = %.2g\n", worst);
}

// Broken kernels: each must be caught. -------------------------------------

static int broken_mode;
static const char *broken_base = "attn_bwd_f32_ref";  // the kernel the mutations wrap
static float broken_scale = 1.0f + 1e-4f;              // modes 2-4

static enum cb_status bwd_broken(void *plan, const struct cb_call *call)
{
    const struct cb_kernel *ref = cb_registry_find(broken_base);
    const struct cb_attn_bwd_args *ba = &call->u.attn_bwd;
    const struct cb_attn_args *a = &ba->fwd;
    const int64_t D = a->head_dim, Lq = a->seq_q;
    const size_t qn = (size_t)(a->batch * a->heads * Lq * D);
    const size_t kn = (size_t)(a->batch * a->kv_heads * a->seq_kv * D);
    float *dq = ba->dq, *dk = ba->dk, *dv = ba->dv;
    enum cb_status s = ref->run(plan, call);
    if (s != CB_OK)
        return s;
    switch (broken_mode) {
    case 0: {  // dV of key 0 (batch 0, kv head 0) misses the term of head 0's last row
        const float *q = a->q, *k = a->k, *dout = ba->dout;
        const float *qi = q + (Lq - 1) * D, *doi = dout + (Lq - 1) * D;
        const double scale = a->scale != 0.0f ? a->scale : 1.0 / sqrt((double)D);
        double sc = 0;
        for (int64_t d = 0; d < D; d++)
            sc += (double)qi[d] * k[d];
        const double p = exp(scale * sc - a->lse[Lq - 1]);
        for (int64_t d = 0; d < D; d++)
            dv[d] -= (float)(p * doi[d]);
        break;
    }
    case 1: {  // dK from the first head of the group only (needs b=1, kvh=1)
        float *scratch = malloc((qn + kn) * sizeof(float));
        if (!scratch)
            return cb_set_error(CB_ERR_NO_MEMORY, "broken kernel");
        struct cb_call one = *call;
        one.u.attn_bwd.fwd.heads = one.u.attn_bwd.fwd.kv_heads;  // head 0 of each group
        one.u.attn_bwd.dq = scratch;
        one.u.attn_bwd.dv = scratch + qn;
        s = ref->run(plan, &one);
        free(scratch);
        break;
    }
    case 2:  // dQ scaled by broken_scale
        for (size_t x = 0; x < qn; x++)
            dq[x] *= broken_scale;
        break;
    case 3:  // dK scaled by broken_scale
        for (size_t x = 0; x < kn; x++)
            dk[x] *= broken_scale;
        break;
    case 4:  // dV scaled by broken_scale
        for (size_t x = 0; x < kn; x++)
            dv[x] *= broken_scale;
        break;
    case 5:  // unwritten elements: the NaN poison stays
        dq[qn / 2] = NAN;
        break;
    case 6:
        dk[kn - 1] = NAN;
        break;
    case 7:
        dv[0] = NAN;
        break;
    }
    return s;
}

static void test_broken_bwd_caught(void)
{
    const struct cb_kernel *ref = cb_registry_find("attn_bwd_f32_ref");
    struct cb_kernel k = *ref;
    k.name = "attn_bwd_f32_broken";
    k.run = bwd_broken;
    double err, tol;
    // b = 1 and kv_heads = 1 for mode 1's trick (head 0's rows are contiguous)
    const char *shape = "b=1,h=4,kvh=1,s=33,d=16,causal=1";
    for (int sampled = 0; sampled <= 1; sampled++) {
        if (sampled)
            setenv("CHIPBENCH_ATTN_BWD_FULL_WORK", "0", 1);
        for (broken_mode = 0; broken_mode <= 7; broken_mode++) {
            enum cb_status s = check_one(&k, shape, 1, &err, &tol);
            if (s != CB_ERR_VERIFY)
                unsetenv("CHIPBENCH_ATTN_BWD_FULL_WORK");
            CB_CHECK_MSG(s == CB_ERR_VERIFY, "mode %d%s not caught (status %d, err %g, tol %g)",
                         broken_mode, sampled ? " (sampled check)" : "", s, err, tol);
        }
        unsetenv("CHIPBENCH_ATTN_BWD_FULL_WORK");
    }
    // The unbroken wrapper passes (the mutations above are what fails).
    broken_mode = -1;
    CB_CHECK_MSG(check_one(&k, shape, 1, &err, &tol) == CB_OK, "%s", cb_error_msg());
}

// bf16: the tolerance adds 2^-8 (P and dS rounded to bf16), so an output
// 2^-5 off must still fail, as must unwritten elements; the wrapped bf16
// reference passes.
static void test_broken_bf16_caught(void)
{
    const struct cb_kernel *ref = cb_registry_find("attn_bwd_bf16_ref");
    CB_CHECK(ref != NULL);
    struct cb_kernel k = *ref;
    k.name = "attn_bwd_bf16_broken";
    k.run = bwd_broken;
    broken_base = "attn_bwd_bf16_ref";
    broken_scale = 1.0f + 0x1p-5f;
    double err, tol;
    const char *shape = "b=1,h=4,kvh=2,s=40,d=32,causal=1";
    for (broken_mode = 2; broken_mode <= 7; broken_mode++)
        CB_CHECK_MSG(check_one(&k, shape, 1, &err, &tol) == CB_ERR_VERIFY,
                     "bf16 mode %d not caught (err %g, tol %g)", broken_mode, err, tol);
    broken_mode = -1;
    CB_CHECK_MSG(check_one(&k, shape, 1, &err, &tol) == CB_OK, "%s", cb_error_msg());
    CB_CHECK_MSG(tol < 0x1p-7, "bf16 tolerance %g", tol);
    broken_base = "attn_bwd_f32_ref";
    broken_scale = 1.0f + 1e-4f;
}

int main(void)
{
    seed = cb_fresh_seed();
    printf("seed %llu\n", (unsigned long long)seed);
    CB_RUN(test_ref_finite_differences);
    CB_RUN(test_all_bwd_kernels);
    CB_RUN(test_broken_bwd_caught);
    CB_RUN(test_broken_bf16_caught);
    return CB_TEST_END("test_attn_bwd");
}
