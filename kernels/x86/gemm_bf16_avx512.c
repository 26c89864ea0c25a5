// gemm_bf16_avx512.c: bf16 GEMM (bf16 A and B, f32 accumulate and C) with
// AVX512_BF16's vdpbf16ps, compiled with the AVX-512 flags only; selected at
// run time when CPUID and XCR0 allow it.
//
// gemm_bf16_avx512_8x48: the driver of kernels/common/gemm_driver.h with k
// packed in pairs (GD_KP = 2): vdpbf16ps multiplies 16 lanes of bf16 pairs
// and adds both products into f32 lanes, so one instruction does the work
// of two k steps. Same 8x48 tile and prefetches as gemm_f32_avx512_8x48:
//   zmm0-23  accumulate C: row r in three zmm (48 columns)
//   three zmm hold packed B for one k pair: 16 columns x (k, k+1) each
//   the (k, k+1) pair of row r of A is broadcast as one 32-bit element
// Per k pair: 3 vector loads, 8 broadcasts, 24 vdpbf16ps.
// Rounding: inputs are bf16 already (the harness rounds f32 to nearest
// even during set-up); products of bf16 values are exact in f32; vdpbf16ps
// flushes f32 denormals and rounds its sums to nearest even.
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"
#include "tile_avx512.h"

#define GD_MR 8
#define GD_NR 48
#define GD_IN_T uint16_t
#define GD_KP 2
#define GD_UKERNEL ukernel_bf16_8x48

static inline __m512bh pair_bcast(const uint16_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);  // two bf16 values as one 32-bit lane
    return (__m512bh)_mm512_set1_epi32(v);
}

// C(8,48) = alpha * Ap Bp + beta * C over kg k pairs; beta == 0: C not read.
static void ukernel_bf16_8x48(int64_t kg, const uint16_t *restrict ap,
                              const uint16_t *restrict bp, float *c, int64_t ldc, float alpha,
                              float beta)
{
    TILE_8X48_ACC(acc);
    TILE_8X48_KLOOP(kg, c, ldc, {
        const __m512bh b0 = (__m512bh)_mm512_load_si512(bp);
        const __m512bh b1 = (__m512bh)_mm512_load_si512(bp + 32);
        const __m512bh b2 = (__m512bh)_mm512_load_si512(bp + 64);
        _mm_prefetch((const char *)(bp + 8 * 96), _MM_HINT_T0);
        _mm_prefetch((const char *)(bp + 8 * 96 + 32), _MM_HINT_T0);
        _mm_prefetch((const char *)(bp + 8 * 96 + 64), _MM_HINT_T0);
        _mm_prefetch((const char *)(ap + 64 * 16), _MM_HINT_T0);
        _Pragma("GCC unroll 8") for (int r = 0; r < 8; r++) {
            const __m512bh av = pair_bcast(ap + 2 * r);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
            acc[r][2] = _mm512_dpbf16_ps(acc[r][2], av, b2);
        }
        ap += 16;
        bp += 96;
    });
    tile_store_8x48(c, ldc, acc, alpha, beta);
}

#include "../common/gemm_driver.h"

const struct cb_kernel cb_gemm_bf16_avx512_kernels[] = {
    {
        .name = "gemm_bf16_avx512_8x48",
        .op = CB_OP_GEMM,
        .dtype = CB_DTYPE_BF16,
        .backend = CB_BACKEND_AVX512,
        .isa = CB_ISA_GROUP_AVX512 | CB_ISA_AVX512_BF16,
        .priority = 30,
        .mr = 8,
        .nr = 48,
        .plan = gd_plan_create,
        .run = gd_run,
        .plan_free = gd_plan_free,
        .desc = "8x48 zmm tile, vdpbf16ps on k pairs, f32 accumulate, pinned threads",
    },
    {.name = NULL},
};
