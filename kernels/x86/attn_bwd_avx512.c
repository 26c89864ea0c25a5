// attn_bwd_avx512.c: flash-attention backward, f32, AVX-512F; compiled with
// the AVX-512 flags only and selected at run time when CPUID and XCR0 allow it.
//
// attn_bwd_f32_avx512_flash (FlashAttention-2 backward, one pass, no atomics):
// the unit of work is KB = 4 key blocks of BC = 48 keys of one kv head; its
// owner thread walks every query row that sees them, for every query head of
// the GQA group, in chunks of RCH rows (each chunk of Q, dO, dQ is reused by
// the KB blocks while in L2: one block per sweep made GQA shapes stream the
// group's rows from L3, 131 vs 211 GFLOP/s), recomputing P from lse:
//   A  S = Q_c K_j^T, P = exp(scale S - lse)   8 rows x 48 keys register tile
//      dP = dO_c V_j^T, dS = scale P (dP - Di)  (K_j^T, V_j^T packed D x 48);
//      P and dS of the chunk go to two RCH x 48 strips (L1/L2 resident)
//   B  dV_j += P^T dO_c, dK_j += dS^T Q_c      reduction over the chunk's rows
//   C  dQ_c += dS K_j                           reduction over the 48 keys
// so every (query, key) pair costs the five L x L x D products and nothing is
// recomputed. dK_j/dV_j are owned by the block's thread; dQ rows are owned by
// the thread that owns the whole group (threads over kv-head groups) or, when
// there are too few groups for the threads, each thread sums into a private
// dQ partial of the group (O(group Lq D)) that the threads reduce after a
// barrier. Memory per thread: two D x 48 panels, two RCH x 48 strips, Di.
// B and C run a register tile of MR rows x NV vectors of D (12x2, or 24x1 for
// an odd last vector: 24 zmm accumulators), per chunk of D; every loop over the
// register arrays is unrolled in full (GCC spills the accumulators otherwise).
// Phase A in two passes over the chunk, 12x2 tiles and c prefetched in B and C
// (measured together, L = 1024, D = 128, H = 16, Hkv = 4, 1 thread, median of
// 10 interleaved runs on an Emerald Rapids VM): 124 -> 131 GFLOP/s; D = 64 level.
// Causal (bottom-right aligned, cb_attn_visible_keys): a key block starts at
// its first query row that sees it; masked keys get P = dS = 0. Rows with
// lse = -inf (they see no key) get P = 0. exp: the forward's exp512.
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "chipbench/cb_pool.h"
#include "chipbench/cb_util.h"
#include "../kernel_tables.h"
#include "avx512_math.h"
#include "tile_avx512.h"

#define BC 48    // keys per block (3 zmm)
#define MA 8     // query rows per phase-A tile (the 8x48 tile of tile_avx512.h)
#define RCH 96   // query rows per chunk (multiple of 24 and of MA)
#define KB 4     // key blocks per sweep over the query rows

static inline __mmask16 left_mask(int64_t left)
{
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1);
}

// Row pass of the composed baseline: given the scaled scores s and dP = dO V^T
// of one query row, s[0,n) = P = exp(s - lse) and dp[0,n) = dS = P (dP - di);
// both are zero on [n, ld) (masked keys). n = 0 for a row that sees no key.
void cb_attn_bwd_row_avx512(float *s, float *dp, int64_t n, int64_t ld, float lse, float di)
{
    if (lse == -INFINITY)
        n = 0;
    const __m512 vl = _mm512_set1_ps(lse), vd = _mm512_set1_ps(di);
    int64_t j = 0;
    for (; j < n; j += 16) {
        const __mmask16 m = left_mask(n - j);
        const __m512 p = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + j), vl)));
        const __m512 d = _mm512_mul_ps(p, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, dp + j), vd));
        _mm512_mask_storeu_ps(s + j, m, p);
        _mm512_mask_storeu_ps(dp + j, m, d);
    }
    for (j = n; j < ld && (j & 15); j++)
        s[j] = dp[j] = 0.0f;
    for (; j + 16 <= ld; j += 16) {
        _mm512_storeu_ps(s + j, _mm512_setzero_ps());
        _mm512_storeu_ps(dp + j, _mm512_setzero_ps());
    }
    for (; j < ld; j++)
        s[j] = dp[j] = 0.0f;
}

// c(MR rows, ldc; rows < nr, columns < left) += sum_t a[r*ars + t*ats] b[t*ldb + col]
// over t < T and NV vectors of columns (the last ones masked by `left`).
// a is broadcast, b read as vectors; MR x NV accumulators stay in registers.
// The accumulators' rows of c are read after the T loop; fetching them first
// hides their latency behind it (dQ_c, 48 KiB at D = 128, is not in L1).
#define AB_PF_C(MR, NV)                                                                      \
    _Pragma("GCC unroll 24") for (int r = 0; r < MR; r++)                                    \
        if (r < nr)                                                                          \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                             \
                cb_prefetch_ahead(c, sizeof(float) * (size_t)(r * ldc + 16 * v));
#define TILE_FN(MR, NV)                                                                      \
    static void tile_##MR##x##NV(const float *a, int64_t ars, int64_t ats, const float *b,   \
                                 int64_t ldb, int64_t T, float *c, int64_t ldc, int64_t nr,  \
                                 int64_t left)                                               \
    {                                                                                        \
        __mmask16 mk[NV];                                                                    \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) mk[v] = left_mask(left - 16 * v); \
        __m512 acc[MR][NV];                                                                  \
        AB_PF_C(MR, NV)                                                                      \
        _Pragma("GCC unroll 24") for (int r = 0; r < MR; r++)                                \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                             \
                acc[r][v] = _mm512_setzero_ps();                                             \
        for (int64_t t = 0; t < T; t++, a += ats, b += ldb) {                                \
            __m512 bv[NV];                                                                   \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                             \
                bv[v] = _mm512_maskz_loadu_ps(mk[v], b + 16 * v);                            \
            _Pragma("GCC unroll 24") for (int r = 0; r < MR; r++) {                          \
                const __m512 av = _mm512_set1_ps(a[r * ars]);                                \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                         \
                    acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);                       \
            }                                                                                \
        }                                                                                    \
        _Pragma("GCC unroll 24") for (int r = 0; r < MR; r++)                                \
            if (r < nr)                                                                      \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) {                       \
                    float *cp = c + r * ldc + 16 * v;                                        \
                    _mm512_mask_storeu_ps(cp, mk[v],                                         \
                        _mm512_add_ps(_mm512_maskz_loadu_ps(mk[v], cp), acc[r][v]));         \
                }                                                                            \
    }

TILE_FN(12, 2)
TILE_FN(24, 1)

// Vectors of D taken by the next column chunk when `rem` vectors remain.
// Two at most: b (dO_c, Q_c in B; K_j in C) comes from L2 at D = 128 (dO_c
// alone is 96 x 512 B = 48 KiB, all of L1), and 12x2 loads half the bytes of
// b per FMA that 6x4 does; 24x1 (24 broadcasts per 24 FMAs) was slower.
static inline int chunk_nv(int64_t rem)
{
    return rem >= 2 ? 2 : (int)rem;
}

// c(rows, D) += A B as above over all D columns, rows split into tiles.
// rows_are_a: the tile's rows index a with stride ars; the D columns come from b.
static void ab_gemm_cols(const float *a, int64_t ars, int64_t ats, const float *b, int64_t ldb,
                         int64_t T, float *c, int64_t ldc, int64_t rows, int64_t D)
{
    for (int64_t x0 = 0; x0 < D;) {
        const int nv = chunk_nv((D - x0 + 15) / 16);
        const int64_t left = D - x0;
        if (nv == 2)
            for (int64_t r0 = 0; r0 < rows; r0 += 12)
                tile_12x2(a + r0 * ars, ars, ats, b + x0, ldb, T, c + r0 * ldc + x0, ldc, rows - r0, left);
        else
            for (int64_t r0 = 0; r0 < rows; r0 += 24)
                tile_24x1(a + r0 * ars, ars, ats, b + x0, ldb, T, c + r0 * ldc + x0, ldc, rows - r0, left);
        x0 += 16 * nv;
    }
}

// Phase A for rows [c0, c0+nrows) of one head and the key block at j0:
// P and dS (scaled) into the strips, rows past nrows of the last tile zero.
// Two passes over the row tiles, S -> P with K_j^T, then dP -> dS with V_j^T,
// so one panel serves all the chunk's tiles in turn: at D = 128 the two
// panels (24 KiB each) and the strips overflow L1 (the two-pass order alone:
// about +4% at D = 128, 7 interleaved runs).
static void ab_phase_a(const struct cb_attn_args *a, float scale, const float *q,
                       const float *dout, const float *lse, const float *di, const float *kt,
                       const float *vt, int64_t c0, int64_t nrows, int64_t j0, float *ps,
                       float *dss)
{
    const int64_t D = a->head_dim;
    const __m512 vscale = _mm512_set1_ps(scale);
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t r0 = 0; r0 < nrows; r0 += MA) {
            const int64_t nr = nrows - r0 < MA ? nrows - r0 : MA;
            const float *xr[MA];
            int64_t lim[MA];
            float sh[MA];  // pass 0: -lse (exp's shift); pass 1: Di
#pragma GCC unroll 8
            for (int r = 0; r < MA; r++) {
                const int64_t i = c0 + r0 + (r < nr ? r : 0);
                xr[r] = (pass ? dout : q) + i * D;
                lim[r] = 0;  // pass 1 needs no mask: P is already 0 there
                sh[r] = 0.0f;
                if (r < nr && lse[i] != -INFINITY) {
                    lim[r] = pass ? 0 : cb_attn_visible_keys(a, i) - j0;
                    sh[r] = pass ? di[i] : -lse[i];
                }
            }
            float *pr = ps + r0 * BC, *dsr = dss + r0 * BC;
            TILE_8X48_ACC(s);
            const float *bp = pass ? vt : kt;
            for (int64_t x = 0; x < D; x++, bp += BC)
                TILE_8X48_FMA(s, bp, xr[r][x]);
            if (!pass) {
#pragma GCC unroll 8
                for (int r = 0; r < MA; r++) {
                    const __m512 vl = _mm512_set1_ps(sh[r]);
#pragma GCC unroll 3
                    for (int c = 0; c < 3; c++) {
                        const __mmask16 keep = left_mask(lim[r] - 16 * c);
                        const __m512 p = _mm512_maskz_mov_ps(keep, exp512(_mm512_fmadd_ps(s[r][c], vscale, vl)));
                        _mm512_storeu_ps(pr + r * BC + 16 * c, p);
                    }
                }
            } else {
#pragma GCC unroll 8
                for (int r = 0; r < MA; r++) {
                    const __m512 vd = _mm512_set1_ps(sh[r]);
#pragma GCC unroll 3
                    for (int c = 0; c < 3; c++) {
                        const __m512 p = _mm512_loadu_ps(pr + r * BC + 16 * c);
                        const __m512 ds = _mm512_mul_ps(_mm512_mul_ps(p, vscale), _mm512_sub_ps(s[r][c], vd));
                        _mm512_storeu_ps(dsr + r * BC + 16 * c, ds);
                    }
                }
            }
        }
    }
}

// Di = rowsum(dO * O) for n rows of D.
static void ab_compute_di(const float *dout, const float *o, int64_t n, int64_t D, float *di)
{
    for (int64_t i = 0; i < n; i++) {
        __m512 acc = _mm512_setzero_ps();
        for (int64_t x = 0; x < D; x += 16) {
            const __mmask16 m = left_mask(D - x);
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, dout + i * D + x),
                                  _mm512_maskz_loadu_ps(m, o + i * D + x), acc);
        }
        di[i] = _mm512_reduce_add_ps(acc);
    }
}

// The shared driver: plan, workspaces, key-block sweep, threads, split mode.
#define AB_BC BC
#define AB_RCH RCH
#define AB_KB KB
#include "../common/attn_bwd_driver.h"

const struct cb_kernel cb_attn_bwd_avx512_kernels[] = {
    {
        .name = "attn_bwd_f32_avx512_flash",
        .op = CB_OP_ATTN_BWD,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_AVX512,
        .isa = CB_ISA_GROUP_AVX512,
        .priority = 20,
        .plan = ab_plan_create,
        .run = ab_run,
        .plan_free = ab_plan_free,
        .desc = "flash attention backward: P recomputed from lse per 48-key block, dK/dV per "
                "block, dQ per thread, O(L*D) memory, pinned threads",
    },
    {.name = NULL},
};
