// attn_openblas.c: attention forward composed of OpenBLAS calls, the way a
// careful user without a fused kernel writes it: S = scale * Q K^T (sgemm),
// row softmax with the causal mask, O = P V (sgemm). It materializes the
// (Lq, Lk) score matrix per head, which is exactly what flash attention avoids.
//
// Q (B,H,Lq,D), K/V (B,Hkv,Lk,D), O (B,H,Lq,D), lse (B,H,Lq) optional; causal
// bottom-right aligned as in attn_ref.c.
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "chipbench/cb_kernel.h"
#include "chipbench/cb_util.h"
#include "../kernel_tables.h"

struct attn_blas_plan {
    float *scores;  // (Lq, Lk)
};

static enum cb_status attn_blas_plan(const struct cb_kernel *k, const struct cb_plan_req *req,
                                     void **plan)
{
    const struct cb_attn_args *a = &req->shape->u.attn;
    openblas_set_num_threads(req->threads);
    struct attn_blas_plan *p = calloc(1, sizeof *p);
    if (!p)
        return cb_set_error(CB_ERR_NO_MEMORY, "attention plan");
    size_t n = (size_t)a->seq_q * (size_t)a->seq_kv;
    p->scores = cb_alloc_array(n ? n : 1, sizeof(float));
    if (!p->scores) {
        free(p);
        return cb_set_error(CB_ERR_NO_MEMORY, "score matrix %lld x %lld floats (%.1f MiB)",
                            (long long)a->seq_q, (long long)a->seq_kv,
                            (double)n * 4 / (1 << 20));
    }
    *plan = p;
    return CB_OK;
}

static void attn_blas_plan_free(void *plan)
{
    struct attn_blas_plan *p = plan;
    if (p)
        cb_free(p->scores);
    free(p);
}

static enum cb_status attn_f32_openblas(void *plan, const struct cb_call *call)
{
    const struct cb_attn_args *a = &call->u.attn;
    struct attn_blas_plan *p = plan;
    const int64_t D = a->head_dim, Lq = a->seq_q, Lk = a->seq_kv;
    const int64_t group = a->heads / a->kv_heads;
    const float scale = a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)D);
    float *S = p->scores;

    for (int64_t b = 0; b < a->batch; b++)
        for (int64_t h = 0; h < a->heads; h++) {
            const int64_t kvh = h / group;
            const float *q = (const float *)a->q + ((b * a->heads + h) * Lq) * D;
            const float *kk = (const float *)a->k + ((b * a->kv_heads + kvh) * Lk) * D;
            const float *vv = (const float *)a->v + ((b * a->kv_heads + kvh) * Lk) * D;
            float *o = (float *)a->o + ((b * a->heads + h) * Lq) * D;
            float *lse = a->lse ? a->lse + (b * a->heads + h) * Lq : NULL;

            // S(Lq,Lk) = scale * Q(Lq,D) * K(Lk,D)^T
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)Lq, (blasint)Lk,
                        (blasint)D, scale, q, (blasint)D, kk, (blasint)D, 0.0f, S,
                        (blasint)Lk);
            for (int64_t i = 0; i < Lq; i++) {
                float *si = S + i * Lk;
                const int64_t nk = cb_attn_visible_keys(a, i);
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
                for (int64_t j = nk; j < Lk; j++)
                    si[j] = 0.0f;
                if (lse)
                    lse[i] = nk ? mx + logf(sum) : -INFINITY;
            }
            // O(Lq,D) = P(Lq,Lk) * V(Lk,D)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)Lq, (blasint)D,
                        (blasint)Lk, 1.0f, S, (blasint)Lk, vv, (blasint)D, 0.0f, o,
                        (blasint)D);
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
        .desc = "OpenBLAS sgemm + softmax + sgemm, scores materialized (baseline)",
    },
    {.name = NULL},
};
