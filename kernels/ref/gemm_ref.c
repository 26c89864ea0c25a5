// gemm_ref.c: portable C99 f32 GEMM, the fallback every machine can run.
//
// Not the test oracle (that is the float64 reference in harness/verify.c):
// this is a plain, reasonably cache-friendly kernel that accumulates in f32
// like the tuned kernels do, so it is a fair "no SIMD work at all" baseline.
// Single-threaded by design. gemm_bf16_ref and gemm_f16_ref are the same for
// bf16 and f16 inputs; gemm_tf32_ref rounds each f32 input to TF32 as it is
// read (what a matrix unit's tf32 mode does), the plain version of the tf32
// rows.
//
// C(m,n) = alpha * op(A)(m,k) * op(B)(k,n) + beta * C, row-major, any ld.
#include <stddef.h>
#include <stdint.h>

#include "chipbench/cb_kernel.h"
#include "chipbench/cb_util.h"
#include "../kernel_tables.h"

// Element (i,p) of op(A) and (p,j) of op(B).
#define A_AT(i, p) (g->trans_a ? a[(p) * g->lda + (i)] : a[(i) * g->lda + (p)])
#define B_AT(p, j) (g->trans_b ? b[(j) * g->ldb + (p)] : b[(p) * g->ldb + (j)])

static enum cb_status gemm_f32_ref(void *plan, const struct cb_call *call)
{
    const struct cb_gemm_args *g = &call->u.gemm;
    const float *a = g->a, *b = g->b;
    float *c = g->c;
    for (int64_t i = 0; i < g->m; i++) {
        float *ci = c + i * g->ldc;
        // beta == 0 must not read C: it may hold NaN (BLAS semantics).
        for (int64_t j = 0; j < g->n; j++)
            ci[j] = g->beta == 0.0f ? 0.0f : g->beta * ci[j];
        if (!g->trans_b) {
            // i-p-j order: the inner loop streams a row of B and of C.
            for (int64_t p = 0; p < g->k; p++) {
                float av = g->alpha * A_AT(i, p);
                const float *bp = b + p * g->ldb;
                for (int64_t j = 0; j < g->n; j++)
                    ci[j] += av * bp[j];
            }
        } else {
            // B stored (n,k): each C element is a dot product of two rows.
            for (int64_t j = 0; j < g->n; j++) {
                const float *bj = b + j * g->ldb;
                float acc = 0.0f;
                for (int64_t p = 0; p < g->k; p++)
                    acc += A_AT(i, p) * bj[p];
                ci[j] += g->alpha * acc;
            }
        }
    }
    (void)plan;
    return CB_OK;
}

// bf16 or f16 inputs (uint16_t bit patterns) widened exactly to f32 as they
// are read, or f32 inputs rounded to TF32 as they are read; f32 accumulate
// and output: the same loops with `widen` applied to every element.
#define GEMM_WIDEN_REF(name, T, widen)                                               \
    static enum cb_status name(void *plan, const struct cb_call *call)               \
    {                                                                                 \
        const struct cb_gemm_args *g = &call->u.gemm;                                 \
        const T *a = g->a, *b = g->b;                                                 \
        float *c = g->c;                                                              \
        for (int64_t i = 0; i < g->m; i++) {                                          \
            float *ci = c + i * g->ldc;                                               \
            for (int64_t j = 0; j < g->n; j++)                                        \
                ci[j] = g->beta == 0.0f ? 0.0f : g->beta * ci[j];                     \
            for (int64_t p = 0; p < g->k; p++) {                                      \
                float av = g->alpha * widen(A_AT(i, p));                           \
                for (int64_t j = 0; j < g->n; j++)                                    \
                    ci[j] += av * widen(B_AT(p, j));                               \
            }                                                                         \
        }                                                                             \
        (void)plan;                                                                   \
        return CB_OK;                                                                 \
    }
GEMM_WIDEN_REF(gemm_bf16_ref, uint16_t, cb_bf16_to_f32)
GEMM_WIDEN_REF(gemm_f16_ref, uint16_t, cb_f16_to_f32)
GEMM_WIDEN_REF(gemm_tf32_ref, float, cb_f32_to_tf32)

const struct cb_kernel cb_gemm_ref_kernels[] = {
    {
        .name = "gemm_f32_ref",
        .op = CB_OP_GEMM,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_REF,
        .priority = 0,
        .max_threads = 1,
        .run = gemm_f32_ref,
        .desc = "portable C, i-p-j loops, f32 accumulate, single thread",
    },
    {
        .name = "gemm_bf16_ref",
        .op = CB_OP_GEMM,
        .dtype = CB_DTYPE_BF16,
        .backend = CB_BACKEND_REF,
        .priority = 0,
        .max_threads = 1,
        .run = gemm_bf16_ref,
        .desc = "portable C, bf16 inputs widened to f32, f32 accumulate, single thread",
    },
    {
        .name = "gemm_tf32_ref",
        .op = CB_OP_GEMM,
        .dtype = CB_DTYPE_TF32,
        .backend = CB_BACKEND_REF,
        .priority = 0,
        .max_threads = 1,
        .run = gemm_tf32_ref,
        .desc = "portable C, f32 inputs rounded to TF32 (cvt.rna) as read, f32 accumulate, "
                "single thread",
    },
    {
        .name = "gemm_f16_ref",
        .op = CB_OP_GEMM,
        .dtype = CB_DTYPE_F16,
        .backend = CB_BACKEND_REF,
        .priority = 0,
        .max_threads = 1,
        .run = gemm_f16_ref,
        .desc = "portable C, f16 (IEEE half) inputs widened to f32, f32 accumulate, single "
                "thread",
    },
    {.name = NULL},
};
