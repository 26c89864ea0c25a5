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

// The last micro-panel of B when n is not a multiple of 48 (n = 512: 32
// columns; 1024, 4096: 16), as ukernel_8x48_edge of gemm_avx512.c: only the
// 16 or 32 columns it has, straight into C with masked stores, instead of a
// whole 8x48 tile into a buffer and a scalar merge. Even and odd k pairs go
// to separate accumulators when there is one zmm a row. A is always packed
// (ad is NULL: bf16 A is never read in place). Zen 4, 3 alternating runs:
// 512^3 202 -> 209 GFLOP/s on 1 thread and 379 -> 393 on 2 (oneDNN
// 403-408 beside it); 1024^3 213 -> 218 and 419 -> 431.
static inline __attribute__((always_inline)) void
ukernel_bf16_8xv(const int nv, int64_t kg, const uint16_t *restrict ap,
                 const uint16_t *restrict bp, int64_t cols, float *c, int64_t ldc, float alpha,
                 float beta)
{
    const int ns = nv == 1 ? 2 : 1;  // accumulator sets (k parity)
    TILE_8XV_EDGE_ACC(acc);
    int64_t p = 0;
#define UK_LOAD(v) ((__m512bh)_mm512_load_si512(bp + 32 * (v)))
#define UK_AV(r) pair_bcast(ap + 2 * (r))
#define UK_EDGE_PAIR(s)                                                        \
    TILE_8XV_EDGE_STEP(acc, s, nv, __m512bh, UK_LOAD, UK_AV, _mm512_dpbf16_ps, \
                       (ap += 16, bp += 96, p++))
    TILE_8XV_EDGE_KLOOP(ns, kg, p, UK_EDGE_PAIR);
#undef UK_EDGE_PAIR
#undef UK_LOAD
#undef UK_AV
    tile_store_8xv(nv, ns, acc, cols, c, ldc, alpha, beta);
}

static void ukernel_bf16_8x48_edge(int64_t kg, const uint16_t *restrict ap, const uint16_t *ad,
                                   int64_t lda, const uint16_t *restrict bp, int64_t cols,
                                   float *c, int64_t ldc, float alpha, float beta)
{
    (void)ad;
    (void)lda;
    if (cols <= 16)
        ukernel_bf16_8xv(1, kg, ap, bp, cols, c, ldc, alpha, beta);
    else
        ukernel_bf16_8xv(2, kg, ap, bp, cols, c, ldc, alpha, beta);
}
#define GD_UKERNEL_EDGE ukernel_bf16_8x48_edge
#define GD_EDGE_COLS 32
#define GD_SPLIT_COLS 16

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
