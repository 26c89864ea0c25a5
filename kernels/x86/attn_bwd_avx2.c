// attn_bwd_avx2.c: flash-attention backward, f32, AVX2+FMA; compiled with
// -mavx2 -mfma only and selected at run time when CPUID and XCR0 allow it
// (and on AVX-512 machines when CHIPBENCH_ISA=avx2 caps the dispatcher).
//
// attn_bwd_f32_avx2_flash: the port of attn_bwd_avx512.c (FlashAttention-2
// backward, one pass, no atomics) to 8-wide ymm and 16 registers. The unit of
// work is KB = 4 key blocks of BC = 48 keys of one kv head; its owner thread
// walks every query row that sees them, for every query head of the GQA
// group, in chunks of RCH rows (each chunk of Q, dO, dQ is reused by the KB
// blocks while in L2), recomputing P from lse:
//   A  S = Q_c K_j^T, P = exp(scale S - lse)   6 rows x 16 keys register tile
//      dP = dO_c V_j^T, dS = scale P (dP - Di)  (12 ymm; K_j^T, V_j^T packed
//      D x 48); P and dS of the chunk go to two RCH x 48 strips
//   B  dV_j += P^T dO_c, dK_j += dS^T Q_c      reduction over the chunk's rows
//   C  dQ_c += dS K_j                           reduction over the 48 keys
// dK_j/dV_j are owned by the block's thread; dQ rows are owned by the thread
// that owns the whole group (threads over kv-head groups) or, when there are
// too few groups for the threads, each thread sums into a private dQ partial
// of the group that the threads reduce after a barrier (as attn_bwd_avx512.c).
// B and C run a register tile of 6 rows x 2 ymm (16 columns of D) or 12 rows
// x 1 ymm for the last 8 columns, masked (maskload/maskstore) where D is not
// a multiple of 8; every loop over the register arrays is unrolled in full.
// Causal (bottom-right aligned, cb_attn_visible_keys): a key block starts at
// its first query row that sees it; masked keys get P = dS = 0. Rows with
// lse = -inf (they see no key) get P = 0. exp: 2^(log2(e) (scale S - lse))
// with exp2_256 of attn_avx2.c.
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
#include "avx2_math.h"

// Row pass of the composed backward baseline on AVX2 machines (as
// cb_attn_bwd_row_avx512): s[0,n) = exp(s - lse), dp[0,n) = s (dp - di),
// both zero on [n, ld); a row with lse = -inf saw no key and is all zero.
void cb_attn_bwd_row_avx2(float *s, float *dp, int64_t n, int64_t ld, float lse, float di)
{
    if (lse == -INFINITY)
        n = 0;
    const __m256 vl = _mm256_set1_ps(lse), vd = _mm256_set1_ps(di);
    const __m256 l2e = _mm256_set1_ps(1.44269504088896341f);
    for (int64_t j = 0; j < n; j += 8) {
        const __m256i m = lane_mask(n - j);
        const __m256 x = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(s + j, m), vl), l2e);
        const __m256 p = _mm256_and_ps(exp2_256_sat(x), _mm256_castsi256_ps(m));
        const __m256 d = _mm256_mul_ps(p, _mm256_sub_ps(_mm256_maskload_ps(dp + j, m), vd));
        _mm256_maskstore_ps(s + j, m, p);
        _mm256_maskstore_ps(dp + j, m, d);
    }
    for (int64_t j = n; j < ld; j++)
        s[j] = dp[j] = 0.0f;
}

#define BC 48    // keys per block (3 subtiles of 16)
#define MA 6     // query rows per phase-A tile
#define RCH 96   // query rows per chunk (multiple of 12 and of MA)
#define KB 4     // key blocks per sweep over the query rows

// c(MR rows, ldc; rows < nr, columns < left) += sum_t a[r*ars + t*ats] b[t*ldb + col]
// over t < T and NV vectors of columns (masked by `left` when TAIL).
// a is broadcast, b read as vectors; MR x NV accumulators stay in registers.
#define TILE_FN(MR, NV, TAIL)                                                                \
    static void tile_##MR##x##NV##_##TAIL(const float *a, int64_t ars, int64_t ats,          \
                                          const float *b, int64_t ldb, int64_t T, float *c,  \
                                          int64_t ldc, int64_t nr, int64_t left)             \
    {                                                                                        \
        __m256i mk[NV];                                                                      \
        _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) mk[v] = lane_mask(left - 8 * v); \
        (void)mk;                                                                            \
        __m256 acc[MR][NV];                                                                  \
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++)                                \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)                             \
                acc[r][v] = _mm256_setzero_ps();                                             \
        for (int64_t t = 0; t < T; t++, a += ats, b += ldb) {                                \
            __m256 bv[NV];                                                                   \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)                             \
                bv[v] = TAIL ? _mm256_maskload_ps(b + 8 * v, mk[v]) : _mm256_loadu_ps(b + 8 * v); \
            _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) {                          \
                const __m256 av = _mm256_broadcast_ss(a + r * ars);                          \
                _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++)                         \
                    acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);                       \
            }                                                                                \
        }                                                                                    \
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++)                                \
            if (r < nr)                                                                      \
                _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) {                       \
                    float *cp = c + r * ldc + 8 * v;                                         \
                    if (TAIL)                                                                \
                        _mm256_maskstore_ps(cp, mk[v], _mm256_add_ps(                        \
                            _mm256_maskload_ps(cp, mk[v]), acc[r][v]));                      \
                    else                                                                     \
                        _mm256_storeu_ps(cp, _mm256_add_ps(_mm256_loadu_ps(cp), acc[r][v])); \
                }                                                                            \
    }

TILE_FN(6, 2, 0)
TILE_FN(6, 2, 1)
TILE_FN(12, 1, 0)
TILE_FN(12, 1, 1)

// c(rows, D) += A B as above over all D columns, rows split into tiles:
// 16 columns at a time (6x2), the last 1..8 with 12x1, 9..15 with 6x2 masked.
static void ab_gemm_cols(const float *a, int64_t ars, int64_t ats, const float *b, int64_t ldb,
                         int64_t T, float *c, int64_t ldc, int64_t rows, int64_t D)
{
    int64_t x0 = 0;
    for (; x0 + 16 <= D; x0 += 16)
        for (int64_t r0 = 0; r0 < rows; r0 += 6)
            tile_6x2_0(a + r0 * ars, ars, ats, b + x0, ldb, T, c + r0 * ldc + x0, ldc, rows - r0, 16);
    const int64_t left = D - x0;
    if (left > 8) {
        for (int64_t r0 = 0; r0 < rows; r0 += 6)
            tile_6x2_1(a + r0 * ars, ars, ats, b + x0, ldb, T, c + r0 * ldc + x0, ldc, rows - r0, left);
    } else if (left == 8) {
        for (int64_t r0 = 0; r0 < rows; r0 += 12)
            tile_12x1_0(a + r0 * ars, ars, ats, b + x0, ldb, T, c + r0 * ldc + x0, ldc, rows - r0, 8);
    } else if (left > 0) {
        for (int64_t r0 = 0; r0 < rows; r0 += 12)
            tile_12x1_1(a + r0 * ars, ars, ats, b + x0, ldb, T, c + r0 * ldc + x0, ldc, rows - r0, left);
    }
}

// acc[r][0..1] = sum_x rows[r][x] * pt[x * BC + 0..15] (6 rows x 16 keys).
#define TILE_A(acc, rows, pt)                                                                \
    do {                                                                                     \
        _Pragma("GCC unroll 6") for (int r = 0; r < MA; r++)                                 \
            acc[r][0] = acc[r][1] = _mm256_setzero_ps();                                     \
        const float *kp_ = (pt);                                                             \
        for (int64_t x = 0; x < D; x++, kp_ += BC) {                                         \
            const __m256 k0 = _mm256_loadu_ps(kp_), k1 = _mm256_loadu_ps(kp_ + 8);           \
            _Pragma("GCC unroll 6") for (int r = 0; r < MA; r++) {                           \
                const __m256 qv = _mm256_broadcast_ss(rows[r] + x);                          \
                acc[r][0] = _mm256_fmadd_ps(qv, k0, acc[r][0]);                              \
                acc[r][1] = _mm256_fmadd_ps(qv, k1, acc[r][1]);                              \
            }                                                                                \
        }                                                                                    \
    } while (0)

// Phase A for rows [c0, c0+nrows) of one head and the key block at j0:
// P and dS (scaled) into the strips, rows past nrows of the last tile zero.
static void ab_phase_a(const struct cb_attn_args *a, float scale, const float *q,
                       const float *dout, const float *lse, const float *di, const float *kt,
                       const float *vt, int64_t c0, int64_t nrows, int64_t j0, float *ps,
                       float *dss, int64_t lds)
{
    const int64_t D = a->head_dim;
    const __m256 vscale = _mm256_set1_ps(scale);
    const __m256 vscale2 = _mm256_set1_ps(scale * 1.44269504088896341f);  // log2 units
    const __m256i i0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i i1 = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
    for (int64_t r0 = 0; r0 < nrows; r0 += MA) {
        const int64_t nr = nrows - r0 < MA ? nrows - r0 : MA;
        const float *qr[MA], *dr[MA];
        int64_t lim[MA];
        float nl[MA], dd[MA];
#pragma GCC unroll 6
        for (int r = 0; r < MA; r++) {
            const int64_t i = c0 + r0 + (r < nr ? r : 0);
            qr[r] = q + i * D;
            dr[r] = dout + i * D;
            lim[r] = 0;
            nl[r] = 0.0f;
            dd[r] = 0.0f;
            if (r < nr && lse[i] != -INFINITY) {
                lim[r] = cb_attn_visible_keys(a, i) - j0;
                nl[r] = -lse[i] * 1.44269504088896341f;
                dd[r] = di[i];
            }
        }
        float *pr = ps + r0 * BC, *dsr = dss + r0 * lds;
        for (int c = 0; c < BC / 16; c++) {
            __m256 s[MA][2];
            TILE_A(s, qr, kt + 16 * c);
#pragma GCC unroll 6
            for (int r = 0; r < MA; r++) {
                const __m256 vl = _mm256_set1_ps(nl[r]);
                const int64_t lr = lim[r] - 16 * c;
                const __m256i vlim = _mm256_set1_epi32((int)(lr < 0 ? 0 : lr > 16 ? 16 : lr));
                const __m256 k0 = _mm256_castsi256_ps(_mm256_cmpgt_epi32(vlim, i0));
                const __m256 k1 = _mm256_castsi256_ps(_mm256_cmpgt_epi32(vlim, i1));
                _mm256_storeu_ps(pr + r * BC + 16 * c,
                                 _mm256_and_ps(k0, exp2_256_sat(_mm256_fmadd_ps(s[r][0], vscale2, vl))));
                _mm256_storeu_ps(pr + r * BC + 16 * c + 8,
                                 _mm256_and_ps(k1, exp2_256_sat(_mm256_fmadd_ps(s[r][1], vscale2, vl))));
            }
            TILE_A(s, dr, vt + 16 * c);
#pragma GCC unroll 6
            for (int r = 0; r < MA; r++) {
                const __m256 vd = _mm256_set1_ps(dd[r]);
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    const __m256 p = _mm256_loadu_ps(pr + r * BC + 16 * c + 8 * h);
                    const __m256 ds = _mm256_mul_ps(_mm256_mul_ps(p, vscale), _mm256_sub_ps(s[r][h], vd));
                    _mm256_storeu_ps(dsr + r * lds + 16 * c + 8 * h, ds);
                }
            }
        }
    }
}

// Di = rowsum(dO * O) for n rows of D.
static void ab_compute_di(const float *dout, const float *o, int64_t n, int64_t D, float *di)
{
    for (int64_t i = 0; i < n; i++) {
        __m256 acc = _mm256_setzero_ps();
        int64_t x = 0;
        for (; x + 8 <= D; x += 8)
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(dout + i * D + x), _mm256_loadu_ps(o + i * D + x), acc);
        if (x < D) {
            const __m256i m = lane_mask(D - x);
            acc = _mm256_fmadd_ps(_mm256_maskload_ps(dout + i * D + x, m),
                                  _mm256_maskload_ps(o + i * D + x, m), acc);
        }
        di[i] = hsum256(acc);
    }
}

// The shared driver: plan, workspaces, key-block sweep, threads, split mode.
#define AB_BC BC
#define AB_RCH RCH
#define AB_KB KB
#include "../common/attn_bwd_driver.h"

const struct cb_kernel cb_attn_bwd_avx2_kernels[] = {
    {
        .name = "attn_bwd_f32_avx2_flash",
        .op = CB_OP_ATTN_BWD,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_AVX2,
        .isa = CB_ISA_AVX | CB_ISA_AVX2 | CB_ISA_FMA,
        .priority = 15,
        .plan = ab_plan_create,
        .run = ab_run,
        .plan_free = ab_plan_free,
        .desc = "flash attention backward: 6x16 ymm tiles, P recomputed from lse per 48-key "
                "block, dK/dV per block, dQ per thread, O(L*D) memory, pinned threads",
    },
    {.name = NULL},
};
