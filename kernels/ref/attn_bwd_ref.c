// attn_bwd_ref.c: portable C attention backward (the FlashAttention-2
// backward without tiling), causal or not, grouped-query: f32, and bf16
// Q, K, V, dO (the plain version of the matrix-unit kernel: f32 arithmetic,
// P and dS rounded to bf16 for the products that take them). The fallback
// every machine can run; the float64 check is in harness/bench_attn_bwd.c.
//
// Inputs:  Q (B,H,Lq,D), K/V (B,Hkv,Lk,D), O (B,H,Lq,D) and lse (B,H,Lq)
//          from the forward (f32), dO (B,H,Lq,D).
// Outputs: dQ (B,H,Lq,D), dK/dV (B,Hkv,Lk,D); query head h belongs to kv
//          head h / (H/Hkv) and dK/dV sum over all heads of a group.
//
// One query row i at a time (O(Lk) scratch: P and dS of the row):
//   Di     = sum_d dO_id O_id                    (first, from the given O)
//   P_ij   = exp(scale q_i.k_j - lse_i)          j < visible keys of row i
//   dS_ij  = P_ij (dO_i.v_j - Di)
//   dV_j  += P_ij dO_i,  dK_j += scale dS_ij q_i,  dQ_i = scale sum_j dS_ij k_j
// A row that sees no key (causal, Lq > Lk; lse = -inf) touches nothing and
// gets dQ = 0. Single-threaded.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_kernel.h"
#include "chipbench/cb_util.h"
#include "../kernel_tables.h"

struct attn_bwd_ref_plan {
    float *p;   // Lk: P of the current row
    float *ds;  // Lk: dS of the current row
};

static void attn_bwd_ref_plan_free(void *plan)
{
    struct attn_bwd_ref_plan *p = plan;
    if (p) {
        cb_free(p->p);
        cb_free(p->ds);
    }
    free(p);
}

static enum cb_status attn_bwd_ref_plan(const struct cb_kernel *k,
                                        const struct cb_plan_req *req, void **plan)
{
    const struct cb_attn_args *a = &req->shape->u.attn_bwd.fwd;
    const size_t n = (size_t)(a->seq_kv > 0 ? a->seq_kv : 1);
    struct attn_bwd_ref_plan *p = calloc(1, sizeof *p);
    if (!p)
        return cb_set_error(CB_ERR_NO_MEMORY, "attention backward plan");
    p->p = cb_alloc_array(n, sizeof(float));
    p->ds = cb_alloc_array(n, sizeof(float));
    if (!p->p || !p->ds) {
        attn_bwd_ref_plan_free(p);
        return cb_set_error(CB_ERR_NO_MEMORY, "attention backward rows of %lld floats",
                            (long long)a->seq_kv);
    }
    *plan = p;
    return CB_OK;
}

// One kernel body for both input types: IN widens an element to f32, PR
// rounds what a matrix-unit kernel feeds to a multiply in bf16 (P for dV,
// dS for dK and dQ; f32: nothing is rounded). Everything else is f32.
#define ATTN_BWD_REF(name, T, IN, PR)                                                      \
    static enum cb_status name(void *plan, const struct cb_call *call)                     \
    {                                                                                       \
        const struct cb_attn_bwd_args *ba = &call->u.attn_bwd;                              \
        const struct cb_attn_args *a = &ba->fwd;                                            \
        struct attn_bwd_ref_plan *p = plan;                                                 \
        const int64_t D = a->head_dim, Lq = a->seq_q, Lk = a->seq_kv;                       \
        const int64_t group = a->heads / a->kv_heads;                                       \
        const float scale = a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)D);           \
        const T *Q = a->q, *K = a->k, *V = a->v, *dO = ba->dout;                            \
        const float *O = a->o;                                                              \
        float *dQ = ba->dq, *dK = ba->dk, *dV = ba->dv;                                     \
        float *pr = p->p, *ds = p->ds;                                                      \
        /* dK and dV accumulate over every query row of every head of a group. */           \
        const size_t kv_len = (size_t)(a->batch * a->kv_heads * Lk * D);                    \
        memset(dK, 0, kv_len * sizeof(float));                                              \
        memset(dV, 0, kv_len * sizeof(float));                                              \
        for (int64_t b = 0; b < a->batch; b++)                                              \
            for (int64_t h = 0; h < a->heads; h++) {                                        \
                const int64_t kvh = h / group;                                              \
                const int64_t qoff = (b * a->heads + h) * Lq; /* row of (B,H,Lq) */         \
                const int64_t kvoff = (b * a->kv_heads + kvh) * Lk * D;                     \
                const T *kk = K + kvoff, *vv = V + kvoff;                                   \
                float *dk = dK + kvoff, *dv = dV + kvoff;                                   \
                for (int64_t i = 0; i < Lq; i++) {                                          \
                    const T *qi = Q + (qoff + i) * D, *doi = dO + (qoff + i) * D;           \
                    const float *oi = O + (qoff + i) * D;                                   \
                    float *dqi = dQ + (qoff + i) * D;                                       \
                    const int64_t nk = cb_attn_visible_keys(a, i);                          \
                    const float lse = a->lse[qoff + i];                                     \
                    for (int64_t d = 0; d < D; d++)                                         \
                        dqi[d] = 0.0f;                                                      \
                    if (nk <= 0)                                                            \
                        continue; /* lse = -inf: no P, no gradient */                       \
                    float di = 0.0f; /* Di = dO_i . O_i */                                  \
                    for (int64_t d = 0; d < D; d++)                                         \
                        di += IN(doi[d]) * oi[d];                                           \
                    for (int64_t j = 0; j < nk; j++) { /* P and dS of the row */            \
                        float s = 0.0f, dp = 0.0f;                                          \
                        for (int64_t d = 0; d < D; d++) {                                   \
                            s += IN(qi[d]) * IN(kk[j * D + d]);                             \
                            dp += IN(doi[d]) * IN(vv[j * D + d]);                           \
                        }                                                                   \
                        pr[j] = expf(s * scale - lse);                                      \
                        ds[j] = pr[j] * (dp - di);                                          \
                    }                                                                       \
                    /* dV_j += P_ij dO_i; dK_j += scale dS_ij q_i; dQ_i += dS_ij k_j */     \
                    for (int64_t j = 0; j < nk; j++) {                                      \
                        const float pj = PR(pr[j]), dsj = PR(ds[j]), sdsj = scale * dsj;    \
                        for (int64_t d = 0; d < D; d++) {                                   \
                            dv[j * D + d] += pj * IN(doi[d]);                               \
                            dk[j * D + d] += sdsj * IN(qi[d]);                              \
                            dqi[d] += dsj * IN(kk[j * D + d]);                              \
                        }                                                                   \
                    }                                                                       \
                    for (int64_t d = 0; d < D; d++)                                         \
                        dqi[d] *= scale;                                                    \
                }                                                                           \
            }                                                                               \
        return CB_OK;                                                                       \
    }

#define AS_IS(x) (x)
#define BF16_IN(x) cb_bf16_to_f32(x)
#define BF16_ROUND(x) cb_bf16_to_f32(cb_f32_to_bf16(x))
ATTN_BWD_REF(attn_bwd_f32_ref, float, AS_IS, AS_IS)
ATTN_BWD_REF(attn_bwd_bf16_ref, uint16_t, BF16_IN, BF16_ROUND)

const struct cb_kernel cb_attn_bwd_ref_kernels[] = {
    {
        .name = "attn_bwd_f32_ref",
        .op = CB_OP_ATTN_BWD,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_REF,
        .priority = 0,
        .max_threads = 1,
        .plan = attn_bwd_ref_plan,
        .run = attn_bwd_f32_ref,
        .plan_free = attn_bwd_ref_plan_free,
        .desc = "portable C, one query row at a time (P and dS rows), single thread",
    },
    {
        .name = "attn_bwd_bf16_ref",
        .op = CB_OP_ATTN_BWD,
        .dtype = CB_DTYPE_BF16,
        .backend = CB_BACKEND_REF,
        .priority = 0,
        .max_threads = 1,
        .plan = attn_bwd_ref_plan,
        .run = attn_bwd_bf16_ref,
        .plan_free = attn_bwd_ref_plan_free,
        .desc = "portable C, bf16 Q, K, V, dO, f32 arithmetic, P and dS rounded to bf16 for the "
                "products (as matrix-unit kernels do), single thread",
    },
    {.name = NULL},
};
