// gemm_avx512.c: f32 GEMM for AVX-512F, compiled with -mavx512f (and
// friends) only; selected at run time when CPUID and XCR0 allow it.
//
// gemm_f32_avx512_8x48: the BLIS-style driver of kernels/common/
// gemm_driver.h around an 8x48 register tile (oneDNN's avx512 sgemm shape,
// transposed to row-major C).
//   zmm0-23  accumulate C: row r in three zmm (48 columns)
//   three zmm hold the 48 floats of packed B for one k step
//   one zmm takes the broadcast of packed A, row by row
// Per k step: 3 vector loads, 8 broadcasts, 24 FMAs; 24 independent
// accumulators cover the 4-cycle FMA latency at 2 FMAs per cycle. Measured
// alone (hot packed data) it runs at 95-100% of the FMA peak; what is lost
// in a full GEMM is memory traffic, hence the prefetches: B three lines per
// k step (it streams from L2), A 64 k steps ahead (it comes from L3 when a
// new A micro-panel starts), and C spread over the last k steps
// (TILE_8X48_KLOOP). A 12x32 tile measured the same. A second entry,
// ukernel_8x48_a, reads A in place where the driver decides packing it does
// not pay (gd_direct_a). A third, ukernel_8x48_edge, takes a last column
// panel of 32 or fewer columns (n = 512, 1024, 2048, 4096) with one or two
// zmm per row.
#include <immintrin.h>
#include <stdint.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "../kernel_tables.h"
#include "tile_avx512.h"

#define GD_MR 8
#define GD_NR 48
#define GD_UKERNEL ukernel_8x48
#define GD_UKERNEL_A ukernel_8x48_a

// One k step of both f32 tiles: B's three vectors (and a prefetch 8 steps
// ahead, it streams from L2), a prefetch of A at a_pf, and row r's A value
// a_elem broadcast into 3 FMAs for each of the 8 rows.
#define UK_PF(a_pf)                                                            \
    do {                                                                       \
        _mm_prefetch((const char *)(bp + 8 * 48), _MM_HINT_T0);                \
        _mm_prefetch((const char *)(bp + 8 * 48 + 16), _MM_HINT_T0);           \
        _mm_prefetch((const char *)(bp + 8 * 48 + 32), _MM_HINT_T0);           \
        _mm_prefetch((const char *)(a_pf), _MM_HINT_T0);                       \
    } while (0)
#define UK_STEP(a_pf, a_elem) TILE_8X48_STEP(acc, bp, a_elem, UK_PF(a_pf))

// C(8,48) = alpha * Ap(8,kg) Bp(kg,48) + beta * C; beta == 0: C not read.
static void ukernel_8x48(int64_t kg, const float *restrict ap, const float *restrict bp,
                         float *c, int64_t ldc, float alpha, float beta)
{
    TILE_8X48_ACC(acc);
    TILE_8X48_KLOOP(kg, c, ldc, {
        UK_STEP(ap + 64 * 8, ap[r]);
        ap += 8;
        bp += 48;
    });
    tile_store_8x48(c, ldc, acc, alpha, beta);
}

// The same tile with A read in place (A not transposed): row r of A at
// a + r * lda, k along the row. Each row is its own stream, one line per 16 k
// steps, and on the first B block of a k block it comes from DRAM: one row's
// line is prefetched per k step, rows in turn, UK_A_AHEAD k steps ahead.
#ifndef UK_A_AHEAD
#define UK_A_AHEAD 128
#endif
static void ukernel_8x48_a(int64_t kg, const float *restrict a, int64_t lda,
                           const float *restrict bp, float *c, int64_t ldc, float alpha,
                           float beta)
{
    TILE_8X48_ACC(acc);
    const float *ar[8];
    for (int r = 0; r < 8; r++)
        ar[r] = a + r * lda;
    int64_t i = 0;
    TILE_8X48_KLOOP(kg, c, ldc, {
        UK_STEP(ar[i & 7] + i + UK_A_AHEAD, ar[r][i]);
        i++;
        bp += 48;
    });
    tile_store_8x48(c, ldc, acc, alpha, beta);
}

// The last micro-panel of B when n is not a multiple of 48 (n = 512, 1024:
// a 16-column panel). Through the 8x48 kernel it costs a whole tile, 3% of
// a 1024^3 GEMM spent on zero padding; this tile computes only the 16 or 32
// columns it has (one or two zmm per row, masked stores). With one zmm per
// row, 8 accumulators would just cover the FMA latency at 2 FMAs per cycle,
// so even and odd k steps go to separate accumulators. A is the packed
// micro-panel (ad NULL) or read in place (row r at ad + r * lda).
static inline __attribute__((always_inline)) void
ukernel_8xv(const int nv, int64_t kg, const float *restrict ap, const float *ad, int64_t lda,
            const float *restrict bp, int64_t cols, float *c, int64_t ldc, float alpha,
            float beta)
{
    const int ns = nv == 1 ? 2 : 1;  // accumulator sets (k parity)
    TILE_8XV_EDGE_ACC(acc);
    const float *ar[8];
    for (int r = 0; r < 8; r++)
        ar[r] = ad ? ad + r * lda : ap + r;
    const int64_t as = ad ? 1 : 8;  // A's k stride
    int64_t p = 0;
#define UK_LOAD(v) _mm512_load_ps(bp + 16 * (v))
#define UK_AV(r) _mm512_set1_ps(ar[r][p * as])
#define UK_MADD(c, a, b) _mm512_fmadd_ps(a, b, c)
#define UK_EDGE_STEP(s)                                                        \
    TILE_8XV_EDGE_STEP(acc, s, nv, __m512, UK_LOAD, UK_AV, UK_MADD, (bp += 48, p++))
    TILE_8XV_EDGE_KLOOP(ns, kg, p, UK_EDGE_STEP);
#undef UK_EDGE_STEP
#undef UK_LOAD
#undef UK_AV
#undef UK_MADD
    tile_store_8xv(nv, ns, acc, cols, c, ldc, alpha, beta);
}

// C(8, cols) for cols <= 32, straight into C (no merge through a buffer);
// 33-47 columns go through the 8x48 kernel, which costs the same.
static void ukernel_8x48_edge(int64_t kg, const float *restrict ap, const float *ad, int64_t lda,
                              const float *restrict bp, int64_t cols, float *c, int64_t ldc,
                              float alpha, float beta)
{
    if (cols <= 16)
        ukernel_8xv(1, kg, ap, ad, lda, bp, cols, c, ldc, alpha, beta);
    else
        ukernel_8xv(2, kg, ap, ad, lda, bp, cols, c, ldc, alpha, beta);
}
#define GD_UKERNEL_EDGE ukernel_8x48_edge
#define GD_EDGE_COLS 32
#define GD_SPLIT_COLS 16

#include "../common/gemm_driver.h"

const struct cb_kernel cb_gemm_avx512_kernels[] = {
    {
        .name = "gemm_f32_avx512_8x48",
        .op = CB_OP_GEMM,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_AVX512,
        .isa = CB_ISA_GROUP_AVX512,  // the file is built with -mavx512bw/vl/dq
        .priority = 30,
        .mr = 8,
        .nr = 48,
        .plan = gd_plan_create,
        .run = gd_run,
        .plan_free = gd_plan_free,
        .desc = "8x48 zmm tile, packed A/B, cache blocking from hwloc, pinned threads",
    },
    {.name = NULL},
};
