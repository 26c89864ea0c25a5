// gemm_avx2.c: f32 GEMM for AVX2+FMA, compiled with -mavx2 -mfma only;
// selected at run time when CPUID and XCR0 allow it (and on AVX-512
// machines when CHIPBENCH_ISA=avx2 caps the dispatcher).
//
// gemm_f32_avx2_6x16: the BLIS-style driver of kernels/common/gemm_driver.h
// around a 6x16 register tile (BLIS's haswell sgemm shape, transposed).
//   ymm0-11  accumulate C: row r in ymm(2r), ymm(2r+1) (16 columns)
//   ymm12-13 the 16 floats of packed B for one k step
//   ymm14    broadcast of packed A
// Per k step: 2 vector loads, 6 broadcasts, 12 FMAs.
#include <immintrin.h>
#include <stdint.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"

#define GD_MR 6
#define GD_NR 16
#define GD_UKERNEL ukernel_6x16
// Measured on Zen 5: KC 384 is level with OpenBLAS's Haswell kernel; the
// L1-derived 1024 is 2-5% slower (the 16-wide B stream then outgrows L1).
#define GD_KC_MAX 384
// Steps between the last C prefetch and the tile's store (6 cycles each).
#ifndef CPF_LEAD
#define CPF_LEAD 128
#endif

// C(6,16) = alpha * Ap(6,kg) Bp(kg,16) + beta * C; beta == 0: C not read.
static void ukernel_6x16(int64_t kg, const float *restrict ap, const float *restrict bp,
                         float *c, int64_t ldc, float alpha, float beta)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

#define ROW(r, x0, x1)                                                        \
    do {                                                                      \
        __m256 av = _mm256_broadcast_ss(ap + (r));                            \
        x0 = _mm256_fmadd_ps(av, b0, x0);                                     \
        x1 = _mm256_fmadd_ps(av, b1, x1);                                     \
    } while (0)
#define STEP()                                                                \
    do {                                                                      \
        __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);          \
        _mm_prefetch((const char *)(bp + 8 * 16), _MM_HINT_T0);               \
        _mm_prefetch((const char *)(ap + 64 * 6), _MM_HINT_T0);               \
        ROW(0, c00, c01); ROW(1, c10, c11); ROW(2, c20, c21);                 \
        ROW(3, c30, c31); ROW(4, c40, c41); ROW(5, c50, c51);                 \
        ap += 6;                                                              \
        bp += 16;                                                             \
    } while (0)
#define STEP4()                                                               \
    do {                                                                      \
        STEP();                                                               \
        STEP();                                                               \
        STEP();                                                               \
        STEP();                                                               \
    } while (0)

    // C's 12 lines (6 rows of 64 bytes, 2 lines each when unaligned) are
    // fetched one every 4 steps from CPF_LEAD + 48 steps before the end, so
    // the loads of a later k block's C do not stall the tile's end (as
    // TILE_8X48_KLOOP does for AVX-512). Zen 4, 1 thread, 3 alternating
    // runs: 2048^3 106.5 -> 109.1 GFLOP/s, 4096x768x3072 tn 101.9 -> 104.3
    // (OpenBLAS's Haswell kernel 107-110); leads of 64 and 256 measured the
    // same.
    int64_t p = 0;
    for (; p + 4 <= kg - CPF_LEAD - 48; p += 4) {
        STEP4();
    }
    for (int i = 0; i < 12 && p + 4 <= kg; i++, p += 4) {
        STEP4();
        _mm_prefetch((const char *)(c + (i >> 1) * ldc + (i & 1) * 15), _MM_HINT_T0);
    }
    for (; p + 4 <= kg; p += 4) {
        STEP4();
    }
    for (; p < kg; p++)
        STEP();
#undef STEP4
#undef STEP
#undef ROW

    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#define STORE(r, x0, x1)                                                      \
    do {                                                                      \
        float *cr = c + (r) * ldc;                                            \
        if (beta == 0.0f) {                                                   \
            _mm256_storeu_ps(cr, _mm256_mul_ps(va, x0));                      \
            _mm256_storeu_ps(cr + 8, _mm256_mul_ps(va, x1));                  \
        } else {                                                              \
            _mm256_storeu_ps(cr, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr),     \
                                                 _mm256_mul_ps(va, x0)));     \
            _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), \
                                                     _mm256_mul_ps(va, x1))); \
        }                                                                     \
    } while (0)
    STORE(0, c00, c01); STORE(1, c10, c11); STORE(2, c20, c21);
    STORE(3, c30, c31); STORE(4, c40, c41); STORE(5, c50, c51);
#undef STORE
}

#include "../common/gemm_driver.h"

const struct cb_kernel cb_gemm_avx2_kernels[] = {
    {
        .name = "gemm_f32_avx2_6x16",
        .op = CB_OP_GEMM,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_AVX2,
        .isa = CB_ISA_AVX | CB_ISA_AVX2 | CB_ISA_FMA,
        .priority = 20,
        .mr = 6,
        .nr = 16,
        .plan = gd_plan_create,
        .run = gd_run,
        .plan_free = gd_plan_free,
        .desc = "6x16 ymm tile, packed A/B, cache blocking from hwloc, pinned threads",
    },
    {.name = NULL},
};
