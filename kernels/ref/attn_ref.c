// attn_ref.c: portable C attention forward (softmax(Q K^T * scale) V),
// causal or not, grouped-query: f32, and bf16 inputs (the plain version of
// the matrix-unit kernels: f32 arithmetic, P rounded to bf16 for P V). The fallback every machine can run; the
// float64 oracle for tests is in harness/verify.c.
//
// Q (B,H,Lq,D), K/V (B,Hkv,Lk,D), O (B,H,Lq,D), lse (B,H,Lq) optional.
// Causal is bottom-right aligned: query i sees keys j <= i + (Lk - Lq). A
// query row that sees no key (only when Lq > Lk) gets O = 0 and lse = -inf.
// One score row of Lk floats at a time: O(Lk) scratch, single-threaded.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "chipbench/cb_kernel.h"
#include "chipbench/cb_util.h"
#include "../kernel_tables.h"

struct attn_ref_plan {
    float *scores;  // Lk
};

static enum cb_status attn_ref_plan(const struct cb_kernel *k, const struct cb_plan_req *req,
                                    void **plan)
{
    const struct cb_attn_args *a = &req->shape->u.attn;
    struct attn_ref_plan *p = calloc(1, sizeof *p);
    if (!p)
        return cb_set_error(CB_ERR_NO_MEMORY, "attention plan");
    p->scores = cb_alloc_array((size_t)(a->seq_kv > 0 ? a->seq_kv : 1), sizeof(float));
    if (!p->scores) {
        free(p);
        return cb_set_error(CB_ERR_NO_MEMORY, "attention scores row of %lld floats",
                            (long long)a->seq_kv);
    }
    *plan = p;
    return CB_OK;
}

static void attn_ref_plan_free(void *plan)
{
    struct attn_ref_plan *p = plan;
    if (p)
        cb_free(p->scores);
    free(p);
}

// One kernel body for both input types (ATTN_REF_ROW): IN widens an element to f32, PR
// rounds an unnormalized probability the way the P V product sees it (f32:
// not at all; bf16: to bf16, as a matrix-unit kernel feeds P to the
// multiply), and O is divided by the unrounded row sum at the end.
#define ATTN_REF(name, T)                                                                    \
    static enum cb_status name(void *plan, const struct cb_call *call)                     \
    {                                                                                       \
        const struct cb_attn_args *a = &call->u.attn;                                       \
        struct attn_ref_plan *p = plan;                                                     \
        const int64_t D = a->head_dim, Lq = a->seq_q, Lk = a->seq_kv;                       \
        const int64_t group = a->heads / a->kv_heads;                                       \
        const float scale = a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)D);           \
        const T *Q = a->q, *K = a->k, *V = a->v;                                            \
        float *O = a->o, *s = p->scores;                                                    \
        for (int64_t b = 0; b < a->batch; b++)                                              \
            for (int64_t h = 0; h < a->heads; h++) {                                        \
                const int64_t kvh = h / group;                                              \
                const T *q = Q + ((b * a->heads + h) * Lq) * D;                             \
                const T *kk = K + ((b * a->kv_heads + kvh) * Lk) * D;                       \
                const T *vv = V + ((b * a->kv_heads + kvh) * Lk) * D;                       \
                float *o = O + ((b * a->heads + h) * Lq) * D;                               \
                float *lse = a->lse ? a->lse + (b * a->heads + h) * Lq : NULL;              \
                for (int64_t i = 0; i < Lq; i++)                                            \
                    ref_row_##name(q + i * D, kk, vv, o + i * D, s,                         \
                                   cb_attn_visible_keys(a, i), D, scale,                    \
                                   lse ? lse + i : NULL);                                   \
            }                                                                               \
        return CB_OK;                                                                       \
    }

// One query row: scores, softmax, O row and lse.
#define ATTN_REF_ROW(name, T, IN, PR)                                                      \
    static void ref_row_##name(const T *q, const T *kk, const T *vv, float *oi, float *s,   \
                               int64_t nk, int64_t D, float scale, float *lse)              \
    {                                                                                       \
        for (int64_t d = 0; d < D; d++)                                                     \
            oi[d] = 0.0f;                                                                   \
        if (nk <= 0) {                                                                      \
            if (lse)                                                                        \
                *lse = -INFINITY;                                                           \
            return;                                                                         \
        }                                                                                   \
        float mx = -INFINITY, sum = 0.0f;                                                   \
        for (int64_t j = 0; j < nk; j++) {                                                  \
            float acc = 0.0f;                                                               \
            for (int64_t d = 0; d < D; d++)                                                 \
                acc += IN(q[d]) * IN(kk[j * D + d]);                                        \
            s[j] = acc * scale;                                                             \
            if (s[j] > mx)                                                                  \
                mx = s[j];                                                                  \
        }                                                                                   \
        for (int64_t j = 0; j < nk; j++) {                                                  \
            s[j] = expf(s[j] - mx);                                                         \
            sum += s[j];                                                                    \
        }                                                                                   \
        for (int64_t j = 0; j < nk; j++) {                                                  \
            const float w = PR(s[j]);                                                       \
            for (int64_t d = 0; d < D; d++)                                                 \
                oi[d] += w * IN(vv[j * D + d]);                                             \
        }                                                                                   \
        for (int64_t d = 0; d < D; d++)                                                     \
            oi[d] /= sum;                                                                   \
        if (lse)                                                                            \
            *lse = mx + logf(sum);                                                          \
    }

#define AS_IS(x) (x)
#define BF16_IN(x) cb_bf16_to_f32(x)
#define BF16_ROUND(x) cb_bf16_to_f32(cb_f32_to_bf16(x))
ATTN_REF_ROW(attn_f32_ref, float, AS_IS, AS_IS)
ATTN_REF(attn_f32_ref, float)
ATTN_REF_ROW(attn_bf16_ref, uint16_t, BF16_IN, BF16_ROUND)
ATTN_REF(attn_bf16_ref, uint16_t)

const struct cb_kernel cb_attn_ref_kernels[] = {
    {
        .name = "attn_f32_ref",
        .op = CB_OP_ATTN,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_REF,
        .priority = 0,
        .max_threads = 1,
        .plan = attn_ref_plan,
        .run = attn_f32_ref,
        .plan_free = attn_ref_plan_free,
        .desc = "portable C, one score row at a time, single thread",
    },
    {
        .name = "attn_bf16_ref",
        .op = CB_OP_ATTN,
        .dtype = CB_DTYPE_BF16,
        .backend = CB_BACKEND_REF,
        .priority = 0,
        .max_threads = 1,
        .plan = attn_ref_plan,
        .run = attn_bf16_ref,
        .plan_free = attn_ref_plan_free,
        .desc = "portable C, bf16 Q, K, V, f32 softmax, P rounded to bf16 for P V (as "
                "matrix-unit kernels do), single thread",
    },
    {.name = NULL},
};
