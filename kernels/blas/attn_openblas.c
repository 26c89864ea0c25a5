// attn_openblas.c: attention forward composed of OpenBLAS calls, the way a
// careful user without a fused kernel writes it: S = scale * Q K^T (sgemm),
// row softmax with the causal mask, O = P V (sgemm). It materializes the
// (Lq, Lk) score matrix per head, which is exactly what flash attention avoids.
// Careful, because a weak baseline would flatter our kernels:
//   - the softmax is vectorized: the AVX-512 row softmax of attn_avx512.c
//     where the CPU has it (a scalar expf loop costs about 40% here);
//   - threads run over heads (each with its own score matrix and a
//     single-threaded sgemm); with fewer heads than threads OpenBLAS threads
//     each sgemm instead.
//
// Q (B,H,Lq,D), K/V (B,Hkv,Lk,D), O (B,H,Lq,D), lse (B,H,Lq) optional; causal
// bottom-right aligned as in attn_ref.c.
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "chipbench/cb_pool.h"
#include "chipbench/cb_util.h"
#include "../kernel_tables.h"

typedef float (*softmax_row_fn)(float *x, int64_t n, int64_t ld);
static softmax_row_fn pick_softmax(void);

struct attn_blas_plan {
    struct cb_pool *pool;    // NULL: one thread loops over heads, OpenBLAS threads
    int nbuf;
    float **scores;          // per thread (Lq, Lk)
    softmax_row_fn softmax;  // the row softmax for this CPU (pick_softmax)
    const struct cb_attn_args *a;
};

static void attn_blas_plan_free(void *plan)
{
    struct attn_blas_plan *p = plan;
    if (!p)
        return;
    for (int i = 0; p->scores && i < p->nbuf; i++)
        cb_free(p->scores[i]);
    free(p->scores);
    cb_pool_free(p->pool);
    free(p);
}

static enum cb_status attn_blas_plan(const struct cb_kernel *k, const struct cb_plan_req *req,
                                     void **plan)
{
    const struct cb_attn_args *a = &req->shape->u.attn;
    enum cb_status s = CB_OK;
    struct attn_blas_plan *p = calloc(1, sizeof *p);
    if (!p)
        return cb_set_error(CB_ERR_NO_MEMORY, "attention plan");
    const int heads_parallel = req->threads > 1 && a->batch * a->heads >= req->threads;
    openblas_set_num_threads(heads_parallel ? 1 : req->threads);
    if (heads_parallel)
        CB_TRY(cb_pool_create(req->threads, &p->pool));
    p->nbuf = heads_parallel ? req->threads : 1;
    p->softmax = pick_softmax();
    size_t n = (size_t)a->seq_q * (size_t)a->seq_kv;
    p->scores = calloc((size_t)p->nbuf, sizeof *p->scores);
    if (!p->scores) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "attention plan");
        goto out;
    }
    for (int i = 0; i < p->nbuf; i++)
        if (!(p->scores[i] = cb_alloc_array(n ? n : 1, sizeof(float)))) {
            s = cb_set_error(CB_ERR_NO_MEMORY, "score matrix %lld x %lld floats (%.1f MiB) "
                             "per thread", (long long)a->seq_q, (long long)a->seq_kv,
                             (double)n * 4 / (1 << 20));
            goto out;
        }
out:
    if (s != CB_OK) {
        attn_blas_plan_free(p);
        p = NULL;
    }
    *plan = p;
    return s;
}

// Portable softmax of one row (the fallback when AVX-512 is not usable).
static float softmax_row(float *si, int64_t nk, int64_t ld)
{
    float mx = -INFINITY, sum = 0.0f;
    for (int64_t j = 0; j < nk; j++)
        mx = si[j] > mx ? si[j] : mx;
    for (int64_t j = 0; j < nk; j++) {
        si[j] = expf(si[j] - mx);
        sum += si[j];
    }
    const float inv = nk ? 1.0f / sum : 0.0f;
    for (int64_t j = 0; j < nk; j++)
        si[j] *= inv;
    for (int64_t j = nk; j < ld; j++)
        si[j] = 0.0f;
    return nk ? mx + logf(sum) : -INFINITY;
}

// The vector row of cb_attn_baseline_simd() where there is one.
static softmax_row_fn pick_softmax(void)
{
    const int simd = cb_attn_baseline_simd();
    (void)simd;
#if CB_HAVE_AVX512
    if (simd == 2)
        return cb_softmax_row_avx512;
#endif
#if CB_HAVE_AVX2
    if (simd == 1)
        return cb_softmax_row_avx2;
#endif
    return softmax_row;
}

// One (batch, head): S = scale Q K^T, softmax, O = P V.
static void one_head(const struct attn_blas_plan *p, int64_t b, int64_t h, float *S)
{
    const struct cb_attn_args *a = p->a;
    const int64_t D = a->head_dim, Lq = a->seq_q, Lk = a->seq_kv;
    const int64_t kvh = h / (a->heads / a->kv_heads);
    const float scale = a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)D);
    const float *q = (const float *)a->q + ((b * a->heads + h) * Lq) * D;
    const float *kk = (const float *)a->k + ((b * a->kv_heads + kvh) * Lk) * D;
    const float *vv = (const float *)a->v + ((b * a->kv_heads + kvh) * Lk) * D;
    float *o = (float *)a->o + ((b * a->heads + h) * Lq) * D;
    float *lse = a->lse ? a->lse + (b * a->heads + h) * Lq : NULL;

    // S(Lq,Lk) = scale * Q(Lq,D) * K(Lk,D)^T
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)Lq, (blasint)Lk, (blasint)D,
                scale, q, (blasint)D, kk, (blasint)D, 0.0f, S, (blasint)Lk);
    for (int64_t i = 0; i < Lq; i++) {
        const int64_t nk = cb_attn_visible_keys(a, i);
        const float l = p->softmax(S + i * Lk, nk, Lk);
        if (lse)
            lse[i] = l;
    }
    // O(Lq,D) = P(Lq,Lk) * V(Lk,D)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)Lq, (blasint)D, (blasint)Lk,
                1.0f, S, (blasint)Lk, vv, (blasint)D, 0.0f, o, (blasint)D);
}

static void heads_thread(void *arg, int tid, int nt)
{
    const struct attn_blas_plan *p = arg;
    const int64_t nh = p->a->batch * p->a->heads;
    for (int64_t x = tid; x < nh; x += nt)
        one_head(p, x / p->a->heads, x % p->a->heads, p->scores[tid]);
}

static enum cb_status attn_f32_openblas(void *plan, const struct cb_call *call)
{
    struct attn_blas_plan *p = plan;
    p->a = &call->u.attn;
    if (p->pool) {
        cb_pool_run(p->pool, heads_thread, p);
    } else {
        for (int64_t b = 0; b < p->a->batch; b++)
            for (int64_t h = 0; h < p->a->heads; h++)
                one_head(p, b, h, p->scores[0]);
    }
    return CB_OK;
}

const struct cb_kernel cb_attn_openblas_kernels[] = {
    {
        .name = "attn_f32_openblas",
        .op = CB_OP_ATTN,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_OPENBLAS,
        .priority = 10,
        .plan = attn_blas_plan,
        .run = attn_f32_openblas,
        .plan_free = attn_blas_plan_free,
        .desc = "OpenBLAS sgemm + vectorized softmax + sgemm, scores materialized, threads over "
                "heads (baseline)",
    },
    {.name = NULL},
};
