// attn_ref.c: portable C f32 attention forward (softmax(Q K^T * scale) V),
// causal or not, grouped-query. The fallback every machine can run; the
// float64 oracle for tests is in harness/verify.c.
//
// Q (B,H,Lq,D), K/V (B,Hkv,Lk,D), O (B,H,Lq,D), lse (B,H,Lq) optional.
// Causal is bottom-right aligned: query i sees keys j <= i + (Lk - Lq). A
// query row that sees no key (only when Lq > Lk) gets O = 0 and lse = -inf.
// One score row of Lk floats at a time: O(Lk) scratch, single-threaded.
#include <math.h>
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

static enum cb_status attn_f32_ref(void *plan, const struct cb_call *call)
{
    const struct cb_attn_args *a = &call->u.attn;
    struct attn_ref_plan *p = plan;
    const int64_t D = a->head_dim, Lq = a->seq_q, Lk = a->seq_kv;
    const int64_t group = a->heads / a->kv_heads;
    const float scale = a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)D);
    const float *Q = a->q, *K = a->k, *V = a->v;
    float *O = a->o;
    float *s = p->scores;

    for (int64_t b = 0; b < a->batch; b++)
        for (int64_t h = 0; h < a->heads; h++) {
            const int64_t kvh = h / group;
            const float *q = Q + ((b * a->heads + h) * Lq) * D;
            const float *kk = K + ((b * a->kv_heads + kvh) * Lk) * D;
            const float *vv = V + ((b * a->kv_heads + kvh) * Lk) * D;
            float *o = O + ((b * a->heads + h) * Lq) * D;
            for (int64_t i = 0; i < Lq; i++) {
                const int64_t nk = cb_attn_visible_keys(a, i);
                float *oi = o + i * D;
                if (nk <= 0) {
                    for (int64_t d = 0; d < D; d++)
                        oi[d] = 0.0f;
                    if (a->lse)
                        a->lse[(b * a->heads + h) * Lq + i] = -INFINITY;
                    continue;
                }
                float mx = -INFINITY;
                for (int64_t j = 0; j < nk; j++) {
                    float acc = 0.0f;
                    for (int64_t d = 0; d < D; d++)
                        acc += q[i * D + d] * kk[j * D + d];
                    s[j] = acc * scale;
                    if (s[j] > mx)
                        mx = s[j];
                }
                float sum = 0.0f;
                for (int64_t j = 0; j < nk; j++) {
                    s[j] = expf(s[j] - mx);
                    sum += s[j];
                }
                for (int64_t d = 0; d < D; d++)
                    oi[d] = 0.0f;
                for (int64_t j = 0; j < nk; j++) {
                    const float w = s[j] / sum;
                    for (int64_t d = 0; d < D; d++)
                        oi[d] += w * vv[j * D + d];
                }
                if (a->lse)
                    a->lse[(b * a->heads + h) * Lq + i] = mx + logf(sum);
            }
        }
    return CB_OK;
}

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
    {.name = NULL},
};
