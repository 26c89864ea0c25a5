// gemm_bf16_avx512.c: bf16 GEMM (bf16 A and B, f32 accumulate and C) with
// AVX512_BF16's vdpbf16ps, compiled with the AVX-512 flags only; selected at
// run time when CPUID and XCR0 allow it.
//
// gemm_bf16_avx512_12x32: the driver of kernels/common/gemm_driver.h with k
// packed in pairs (GD_KP = 2): vdpbf16ps multiplies 16 lanes of bf16 pairs
// and adds both products into f32 lanes, so one instruction does the work
// of two k steps.
//   zmm0-23  accumulate C: row r in zmm(2r), zmm(2r+1) (32 columns)
//   zmm24-25 packed B for one k pair: 16 columns x (k, k+1) each
//   the (k, k+1) pair of row r of A is broadcast as one 32-bit element
// Per k pair: 2 vector loads, 12 broadcasts, 24 vdpbf16ps.
// Rounding: inputs are bf16 already (the harness rounds f32 to nearest
// even during set-up); products of bf16 values are exact in f32; vdpbf16ps
// flushes f32 denormals and rounds its sums to nearest even.
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"

#define GD_MR 12
#define GD_NR 32
#define GD_IN_T uint16_t
#define GD_KP 2
#define GD_UKERNEL ukernel_bf16_12x32

static inline __m512bh pair_bcast(const uint16_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);  // two bf16 values as one 32-bit lane
    return (__m512bh)_mm512_set1_epi32(v);
}

// C(12,32) = alpha * Ap Bp + beta * C over kg k pairs; beta == 0: C not read.
static void ukernel_bf16_12x32(int64_t kg, const uint16_t *restrict ap,
                               const uint16_t *restrict bp, float *c, int64_t ldc, float alpha,
                               float beta)
{
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
    __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
    __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
    __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps();
    __m512 c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
    __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps();
    __m512 c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps();
    __m512 ca0 = _mm512_setzero_ps(), ca1 = _mm512_setzero_ps();
    __m512 cb0 = _mm512_setzero_ps(), cb1 = _mm512_setzero_ps();

#define ROW(r, x0, x1)                                                        \
    do {                                                                      \
        __m512bh av = pair_bcast(ap + 2 * (r));                               \
        x0 = _mm512_dpbf16_ps(x0, av, b0);                                    \
        x1 = _mm512_dpbf16_ps(x1, av, b1);                                    \
    } while (0)
#define STEP()                                                                \
    do {                                                                      \
        __m512bh b0 = (__m512bh)_mm512_load_si512(bp);                        \
        __m512bh b1 = (__m512bh)_mm512_load_si512(bp + 32);                   \
        _mm_prefetch((const char *)(bp + 8 * 64), _MM_HINT_T0);               \
        ROW(0, c00, c01); ROW(1, c10, c11); ROW(2, c20, c21);                 \
        ROW(3, c30, c31); ROW(4, c40, c41); ROW(5, c50, c51);                 \
        ROW(6, c60, c61); ROW(7, c70, c71); ROW(8, c80, c81);                 \
        ROW(9, c90, c91); ROW(10, ca0, ca1); ROW(11, cb0, cb1);               \
        ap += 24;                                                             \
        bp += 64;                                                             \
    } while (0)

    int64_t p = 0;
    for (; p + 4 <= kg; p += 4) {
        STEP();
        STEP();
        STEP();
        STEP();
    }
    for (; p < kg; p++)
        STEP();
#undef STEP
#undef ROW

    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#define STORE(r, x0, x1)                                                      \
    do {                                                                      \
        float *cr = c + (r) * ldc;                                            \
        if (beta == 0.0f) {                                                   \
            _mm512_storeu_ps(cr, _mm512_mul_ps(va, x0));                      \
            _mm512_storeu_ps(cr + 16, _mm512_mul_ps(va, x1));                 \
        } else {                                                              \
            _mm512_storeu_ps(cr, _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr),     \
                                                 _mm512_mul_ps(va, x0)));     \
            _mm512_storeu_ps(cr + 16, _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr + 16), \
                                                      _mm512_mul_ps(va, x1))); \
        }                                                                     \
    } while (0)
    STORE(0, c00, c01); STORE(1, c10, c11); STORE(2, c20, c21);
    STORE(3, c30, c31); STORE(4, c40, c41); STORE(5, c50, c51);
    STORE(6, c60, c61); STORE(7, c70, c71); STORE(8, c80, c81);
    STORE(9, c90, c91); STORE(10, ca0, ca1); STORE(11, cb0, cb1);
#undef STORE
}

#include "../common/gemm_driver.h"

const struct cb_kernel cb_gemm_bf16_avx512_kernels[] = {
    {
        .name = "gemm_bf16_avx512_12x32",
        .op = CB_OP_GEMM,
        .dtype = CB_DTYPE_BF16,
        .backend = CB_BACKEND_AVX512,
        .isa = CB_ISA_GROUP_AVX512 | CB_ISA_AVX512_BF16,
        .priority = 30,
        .mr = 12,
        .nr = 32,
        .plan = gd_plan_create,
        .run = gd_run,
        .plan_free = gd_plan_free,
        .desc = "12x32 zmm tile, vdpbf16ps on k pairs, f32 accumulate, pinned threads",
    },
    {.name = NULL},
};
