// attn_bwd_openblas.c: attention backward composed of OpenBLAS calls, the way
// a careful user without a fused kernel writes it, per (batch, query head):
//   S  = scale Q K^T                 sgemm (Lq, Lk)
//   dP = dO V^T                      sgemm (Lq, Lk)
//   P = exp(S - lse) (causal mask), dS = P (dP - Di), Di = rowsum(dO O):
//                                    one vectorized pass over both rows
//   dV += P^T dO                     sgemm, beta 1 over the heads of a group
//   dQ  = scale dS K                 sgemm
//   dK += scale dS^T Q               sgemm, beta 1 over the heads of a group
// Both (Lq, Lk) matrices are materialized per head (what flash attention
// avoids) and the causal mask only zeroes entries (the GEMMs stay full, as in
// the forward baseline attn_openblas.c). Careful, because a weak baseline
// would flatter our kernels:
//   - the row pass is the AVX-512 one of attn_bwd_avx512.c where the CPU has
//     it (the forward's exp), else portable C;
//   - threads run over kv-head groups (each thread owns its dK/dV, no races),
//     each with its own matrices and a single-threaded sgemm; with fewer
//     groups than threads but enough heads, threads run over heads into
//     per-thread dK/dV partials summed afterwards; with fewer heads than
//     threads OpenBLAS threads each sgemm instead.
// Rows with lse = -inf (they see no key) get P = 0.
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "chipbench/cb_pool.h"
#include "chipbench/cb_util.h"
#include "../kernel_tables.h"


enum bwd_mode {
    MODE_SERIAL,   // one thread walks every head, OpenBLAS threads the sgemms
    MODE_GROUPS,   // pool threads over kv-head groups
    MODE_HEADS,    // pool threads over heads, dK/dV partials per thread
};

typedef void (*bwd_row_fn)(float *s, float *dp, int64_t n, int64_t ld, float lse, float di);
static bwd_row_fn pick_row(void);

struct bwd_blas_plan {
    struct cb_pool *pool;
    enum bwd_mode mode;
    int nbuf;
    float **s, **dp;       // per thread (Lq, Lk)
    float **di;            // per thread Lq
    float **dkp, **dvp;    // MODE_HEADS: per thread (B, Hkv, Lk, D)
    bwd_row_fn row;        // the row pass for this CPU (pick_row)
    const struct cb_attn_bwd_args *a;
};

static void free_bufs(float **b, int n)
{
    for (int i = 0; b && i < n; i++)
        cb_free(b[i]);
    free(b);
}

static void bwd_blas_plan_free(void *plan)
{
    struct bwd_blas_plan *p = plan;
    if (!p)
        return;
    free_bufs(p->s, p->nbuf);
    free_bufs(p->dp, p->nbuf);
    free_bufs(p->di, p->nbuf);
    free_bufs(p->dkp, p->nbuf);
    free_bufs(p->dvp, p->nbuf);
    cb_pool_free(p->pool);
    free(p);
}

static float **alloc_bufs(int n, size_t count)
{
    float **b = calloc((size_t)n, sizeof *b);
    if (!b)
        return NULL;
    for (int i = 0; i < n; i++)
        if (!(b[i] = cb_alloc_array(count ? count : 1, sizeof(float)))) {
            free_bufs(b, n);
            return NULL;
        }
    return b;
}

static enum cb_status bwd_blas_plan(const struct cb_kernel *k, const struct cb_plan_req *req,
                                    void **plan)
{
    const struct cb_attn_args *a = &req->shape->u.attn_bwd.fwd;
    enum cb_status s = CB_OK;
    struct bwd_blas_plan *p = calloc(1, sizeof *p);
    if (!p)
        return cb_set_error(CB_ERR_NO_MEMORY, "attention backward plan");
    const int64_t ngroups = a->batch * a->kv_heads, nheads = a->batch * a->heads;
    const int t = req->threads;
    p->mode = t > 1 && ngroups >= t ? MODE_GROUPS : t > 1 && nheads >= t ? MODE_HEADS : MODE_SERIAL;
    openblas_set_num_threads(p->mode == MODE_SERIAL ? t : 1);
    if (p->mode != MODE_SERIAL && (s = cb_pool_create(t, &p->pool)) != CB_OK)
        goto out;
    p->nbuf = p->mode == MODE_SERIAL ? 1 : t;
    p->row = pick_row();
    const size_t n = (size_t)a->seq_q * (size_t)a->seq_kv;
    if (!(p->s = alloc_bufs(p->nbuf, n)) || !(p->dp = alloc_bufs(p->nbuf, n))) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "two score matrices %lld x %lld floats (%.1f MiB) "
                         "per thread", (long long)a->seq_q, (long long)a->seq_kv,
                         (double)n * 8 / (1 << 20));
        goto out;
    }
    if (!(p->di = alloc_bufs(p->nbuf, (size_t)a->seq_q))) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "attention backward plan");
        goto out;
    }
    if (p->mode == MODE_HEADS) {
        const size_t kv = (size_t)(ngroups * a->seq_kv * a->head_dim);
        if (!(p->dkp = alloc_bufs(p->nbuf, kv)) || !(p->dvp = alloc_bufs(p->nbuf, kv))) {
            s = cb_set_error(CB_ERR_NO_MEMORY, "dK/dV partials per thread");
            goto out;
        }
    }
out:
    if (s != CB_OK) {
        bwd_blas_plan_free(p);
        p = NULL;
    }
    *plan = p;
    return s;
}

// Portable row pass (when AVX-512 is not usable).
static void row_pass(float *s, float *dp, int64_t n, int64_t ld, float lse, float di)
{
    if (lse == -INFINITY)
        n = 0;
    for (int64_t j = 0; j < n; j++) {
        const float pv = expf(s[j] - lse);
        s[j] = pv;
        dp[j] = pv * (dp[j] - di);
    }
    for (int64_t j = n; j < ld; j++)
        s[j] = dp[j] = 0.0f;
}

// The vector row pass of cb_attn_baseline_simd() where there is one.
static bwd_row_fn pick_row(void)
{
    const int simd = cb_attn_baseline_simd();
    (void)simd;
#if CB_HAVE_AVX512
    if (simd == 2)
        return cb_attn_bwd_row_avx512;
#endif
#if CB_HAVE_AVX2
    if (simd == 1)
        return cb_attn_bwd_row_avx2;
#endif
    return row_pass;
}

// One (batch, head) into dk/dv (the head's kv head rows, (Lk, D)); beta 0
// overwrites them (first head of a group), 1 accumulates.
static void one_head(const struct bwd_blas_plan *p, int64_t b, int64_t h, float *S, float *dP,
                     float *di, float *dk, float *dv, float beta)
{
    const struct cb_attn_bwd_args *ba = p->a;
    const struct cb_attn_args *a = &ba->fwd;
    const int64_t D = a->head_dim, Lq = a->seq_q, Lk = a->seq_kv;
    const int64_t kvh = h / (a->heads / a->kv_heads);
    const float scale = a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)D);
    const int64_t qoff = ((b * a->heads + h) * Lq) * D, kvoff = ((b * a->kv_heads + kvh) * Lk) * D;
    const float *q = (const float *)a->q + qoff, *o = (const float *)a->o + qoff;
    const float *dout = (const float *)ba->dout + qoff;
    const float *kk = (const float *)a->k + kvoff, *vv = (const float *)a->v + kvoff;
    const float *lse = a->lse + (b * a->heads + h) * Lq;
    float *dq = (float *)ba->dq + qoff;

    if (Lk == 0) {
        memset(dq, 0, (size_t)(Lq * D) * sizeof *dq);
        return;
    }
    for (int64_t i = 0; i < Lq; i++) {
        float acc = 0.0f;
        for (int64_t x = 0; x < D; x++)
            acc += dout[i * D + x] * o[i * D + x];
        di[i] = acc;
    }
    // S(Lq,Lk) = scale Q K^T, dP(Lq,Lk) = dO V^T
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)Lq, (blasint)Lk, (blasint)D,
                scale, q, (blasint)D, kk, (blasint)D, 0.0f, S, (blasint)Lk);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)Lq, (blasint)Lk, (blasint)D,
                1.0f, dout, (blasint)D, vv, (blasint)D, 0.0f, dP, (blasint)Lk);
    for (int64_t i = 0; i < Lq; i++) {
        const int64_t nk = cb_attn_visible_keys(a, i);
        p->row(S + i * Lk, dP + i * Lk, nk, Lk, lse[i], di[i]);
    }
    // dV(Lk,D) (+)= P^T dO, dK (+)= scale dS^T Q, dQ(Lq,D) = scale dS K
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)Lk, (blasint)D, (blasint)Lq,
                1.0f, S, (blasint)Lk, dout, (blasint)D, beta, dv, (blasint)D);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)Lk, (blasint)D, (blasint)Lq,
                scale, dP, (blasint)Lk, q, (blasint)D, beta, dk, (blasint)D);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)Lq, (blasint)D, (blasint)Lk,
                scale, dP, (blasint)Lk, kk, (blasint)D, 0.0f, dq, (blasint)D);
}

// The heads of group g = (b, kvh) into the group's dK/dV rows.
static void one_group(const struct bwd_blas_plan *p, int64_t g, int tid)
{
    const struct cb_attn_args *a = &p->a->fwd;
    const int64_t group = a->heads / a->kv_heads, b = g / a->kv_heads, kvh = g % a->kv_heads;
    const int64_t off = g * a->seq_kv * a->head_dim;
    float *dk = (float *)p->a->dk + off, *dv = (float *)p->a->dv + off;
    for (int64_t hh = 0; hh < group; hh++)
        one_head(p, b, kvh * group + hh, p->s[tid], p->dp[tid], p->di[tid], dk, dv,
                 hh ? 1.0f : 0.0f);
}

static void groups_thread(void *arg, int tid, int nt)
{
    const struct bwd_blas_plan *p = arg;
    const int64_t ng = p->a->fwd.batch * p->a->fwd.kv_heads;
    for (int64_t g = tid; g < ng; g += nt)
        one_group(p, g, tid);
}

static void heads_thread(void *arg, int tid, int nt)
{
    const struct bwd_blas_plan *p = arg;
    const struct cb_attn_args *a = &p->a->fwd;
    const int64_t nh = a->batch * a->heads, group = a->heads / a->kv_heads;
    const int64_t kvsz = a->seq_kv * a->head_dim, total = a->batch * a->kv_heads * kvsz;
    memset(p->dkp[tid], 0, (size_t)total * sizeof(float));
    memset(p->dvp[tid], 0, (size_t)total * sizeof(float));
    for (int64_t x = tid; x < nh; x += nt) {
        const int64_t b = x / a->heads, h = x % a->heads;
        const int64_t off = (b * a->kv_heads + h / group) * kvsz;
        one_head(p, b, h, p->s[tid], p->dp[tid], p->di[tid], p->dkp[tid] + off,
                 p->dvp[tid] + off, 1.0f);
    }
    cb_pool_barrier(p->pool);
    // dK/dV = sum of the partials, elements split over the threads.
    const int64_t per = (total + nt - 1) / nt, e0 = tid * per;
    const int64_t e1 = e0 + per < total ? e0 + per : total;
    float *dk = p->a->dk, *dv = p->a->dv;
    for (int64_t e = e0; e < e1; e++) {
        float sk = 0.0f, sv = 0.0f;
        for (int t = 0; t < nt; t++) {
            sk += p->dkp[t][e];
            sv += p->dvp[t][e];
        }
        dk[e] = sk;
        dv[e] = sv;
    }
}

static enum cb_status attn_bwd_f32_openblas(void *plan, const struct cb_call *call)
{
    struct bwd_blas_plan *p = plan;
    p->a = &call->u.attn_bwd;
    if (!p->a->fwd.lse)
        return cb_set_error(CB_ERR_INVALID_ARG, "attention backward needs the forward's lse");
    switch (p->mode) {
    case MODE_GROUPS:
        cb_pool_run(p->pool, groups_thread, p);
        break;
    case MODE_HEADS:
        cb_pool_run(p->pool, heads_thread, p);
        break;
    default:
        for (int64_t g = 0; g < p->a->fwd.batch * p->a->fwd.kv_heads; g++)
            one_group(p, g, 0);
        break;
    }
    return CB_OK;
}

const struct cb_kernel cb_attn_bwd_openblas_kernels[] = {
    {
        .name = "attn_bwd_f32_openblas",
        .op = CB_OP_ATTN_BWD,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_OPENBLAS,
        .priority = 10,
        .plan = bwd_blas_plan,
        .run = attn_bwd_f32_openblas,
        .plan_free = bwd_blas_plan_free,
        .desc = "OpenBLAS: 5 sgemms + vectorized exp/dS pass per head, scores materialized, "
                "threads over kv-head groups (baseline)",
    },
    {.name = NULL},
};
