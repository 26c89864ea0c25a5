// attn_bwd_avx512.c: flash-attention backward, f32, AVX-512F; compiled with
// the AVX-512 flags only and selected at run time when CPUID and XCR0 allow it.
//
// attn_bwd_f32_avx512_flash (FlashAttention-2 backward, one pass, no atomics):
// the unit of work is KB = 4 key blocks of BC = 48 keys of one kv head (a
// sweep); its owner thread walks every query row that sees them, for every
// query head of the GQA group, in chunks of RCH rows (each chunk of Q, dO, dQ
// is reused by the KB blocks while in L2: one block per sweep made GQA shapes
// stream the group's rows from L3, 131 vs 211 GFLOP/s), recomputing P from lse:
//   A  S = Q_c K_j^T, P = exp(scale S - lse)   8 rows x 48 keys register tile
//      dP = dO_c V_j^T, dS = scale P (dP - Di)  (K_j^T, V_j^T packed D x 48);
//      P goes to an RCH x 48 strip, dS to column j of an RCH x 192 strip
//   B  dV_j^T += dO_c^T P, dK_j^T += Q_c^T dS  8 (of D) x 48 keys tiles into
//                                              D x 48 panels, per block
//   C  dQ_c += dS K_[sweep]                     after the sweep's last block,
//                                              over its 192 keys at once
// so every (query, key) pair costs the five L x L x D products and nothing is
// recomputed. All three run the 8x48 tile of the GEMM (3 loads, 8 broadcasts,
// 24 FMAs a step); C's last D % 48 columns run 12x2 or 24x1 tiles. The
// dK_j/dV_j panels are owned by the block's thread and written out
// transposed after the sweep; dQ rows are owned by the thread that owns the
// whole group (threads over kv-head groups) or, when there are too few groups
// for the threads, each thread sums into a private dQ partial of the group
// (O(group Lq D)) that the threads reduce after a barrier. Memory per
// thread: four D x 192 panels, the two strips, Di. Every loop over the
// register arrays is unrolled in full (GCC spills the accumulators otherwise).
// Measured against the previous scheme (B and C in 12x2 tiles over keys x D
// and queries x D per block, 96-row chunks; two builds alternating in one
// process, L = 1024, D = 128, Hkv = 1 and H = 4, 1 thread, fastest of 40):
// 131.8 -> 155.5 GFLOP/s; the steps, in order: C over the sweep +1%, constant
// strip strides +1.5-2%, B as transposed panels +5-9%, C in 8x48 tiles +1-5%,
// prefetching phase A's next rows +2-5%.
// Causal (bottom-right aligned, cb_attn_visible_keys): a key block starts at
// its first query row that sees it (the dS strip's rows above it are zeroed
// for C); masked keys get P = dS = 0. Rows with lse = -inf (they see no key)
// get P = 0. exp: the forward's exp2_512, on scores scaled by log2(e).
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
#define RCH 128  // query rows per chunk (the strips hold 24 more rows: C's last tile reads them)
#define KB 4     // key blocks per sweep over the query rows
#define LDS (KB * BC)  // row stride of the dS strip: the sweep's KB blocks side by side

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

// Product C's last D % 48 columns (32 at D = 128, 16 at D = 64):
// c(MR rows, ldc; rows < nr, columns < left) += sum_t a[r*LDS + t] b[t*ldb + col]
// over t < T and NV vectors of columns (the last ones masked by `left`);
// a is the dS strip, broadcast (LDS a constant: the 12 or 24 broadcasts of
// a t step take fixed displacements; a run-time stride took 5 offset
// registers and GCC reloaded some from the stack), b is K, read as vectors.
// The accumulators' rows of c are read after the T loop; fetching them first
// hides their latency behind it (dQ_c, 64 KiB at D = 128, is not in L1).
#define AB_PF_C(MR, NV)                                                                      \
    _Pragma("GCC unroll 24") for (int r = 0; r < MR; r++)                                    \
        if (r < nr)                                                                          \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                             \
                cb_prefetch_ahead(c, sizeof(float) * (size_t)(r * ldc + 16 * v));
#define TILE_FN(MR, NV)                                                                      \
    static void tile_##MR##x##NV(const float *a, const float *b, int64_t ldb, int64_t T,    \
                                 float *c, int64_t ldc, int64_t nr, int64_t left)           \
    {                                                                                        \
        __mmask16 mk[NV];                                                                    \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) mk[v] = left_mask(left - 16 * v); \
        __m512 acc[MR][NV];                                                                  \
        AB_PF_C(MR, NV)                                                                      \
        _Pragma("GCC unroll 24") for (int r = 0; r < MR; r++)                                \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                             \
                acc[r][v] = _mm512_setzero_ps();                                             \
        for (int64_t t = 0; t < T; t++, a++, b += ldb) {                                     \
            __m512 bv[NV];                                                                   \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                             \
                bv[v] = _mm512_maskz_loadu_ps(mk[v], b + 16 * v);                            \
            _Pragma("GCC unroll 24") for (int r = 0; r < MR; r++) {                          \
                const __m512 av = _mm512_set1_ps(a[r * LDS]);                                \
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

// c(rows < nr of 8, ldc; 48 columns) += acc
static inline __attribute__((always_inline)) void add_8x48(float *c, int64_t ldc, int64_t nr,
                                                          __m512 acc[MA][3])
{
#pragma GCC unroll 8
    for (int r = 0; r < MA; r++)
        if (r < nr)
#pragma GCC unroll 3
            for (int v = 0; v < 3; v++)
                _mm512_storeu_ps(c + r * ldc + 16 * v,
                                 _mm512_add_ps(_mm512_loadu_ps(c + r * ldc + 16 * v), acc[r][v]));
}

// Product C over the sweep: dQ_c(rows, D) += dS(rows, T keys; the strip) K
// (T rows of D), T = every key of the sweep's blocks that the chunk sees
// (192 at most), not 48 per block: the tile's load and store of dQ, and its
// start-up, are paid once per sweep. 8 x 48 tiles while 48 columns of D
// remain (the GEMM's tile: 8 broadcasts and 3 loads per 24 FMAs); the rest
// (32 columns at D = 128, 16 at D = 64) in 12 x 2 and 24 x 1 tiles.
static void ab_c_sweep(const float *ds, const float *k, int64_t D, int64_t T, float *dq,
                       int64_t rows)
{
    int64_t x0 = 0;
    for (; x0 + 48 <= D; x0 += 48)
        for (int64_t r0 = 0; r0 < rows; r0 += MA) {
            const int64_t nr = rows - r0 < MA ? rows - r0 : MA;
            const float *a = ds + r0 * LDS, *b = k + x0;
            float *c = dq + r0 * D + x0;
            TILE_8X48_ACC(acc);
            for (int64_t t = 0; t < T; t++, a++, b += D) {
                const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16),
                             b2 = _mm512_loadu_ps(b + 32);
#pragma GCC unroll 8
                for (int r = 0; r < MA; r++) {
                    const __m512 av = _mm512_set1_ps(a[r * LDS]);
                    acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
                    acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
                    acc[r][2] = _mm512_fmadd_ps(av, b2, acc[r][2]);
                }
            }
            add_8x48(c, D, nr, acc);
        }
    // 12x2 loads half the bytes of K per FMA that 6x4 does; a last odd
    // vector goes to 24x1 (24 accumulators either way).
    while (x0 < D) {
        const int64_t left = D - x0;
        if (left > 16) {
            for (int64_t r0 = 0; r0 < rows; r0 += 12)
                tile_12x2(ds + r0 * LDS, k + x0, D, T, dq + r0 * D + x0, D, rows - r0, left);
            x0 += 32;
        } else {
            for (int64_t r0 = 0; r0 < rows; r0 += 24)
                tile_24x1(ds + r0 * LDS, k + x0, D, T, dq + r0 * D + x0, D, rows - r0, left);
            x0 += 16;
        }
    }
}

// Product B as D x 48 tiles of the transposed result: panel(D, 48) +=
// x^T strip, x = T rows of D (dO_c or Q_c, row-major), strip = T rows of 48
// (P or dS, rows lds apart, 64-byte aligned), panel = dV_j^T or dK_j^T. A
// tile's 8 rows of x^T are 8 neighbouring elements of one row of x, so only
// the panels are transposed, once per key block and sweep (in the driver),
// and each t step is the 8x48 tile of phase A: 3 loads and 8 broadcasts (one
// cache line of x) per 24 FMAs. The 12x2 tile over keys x D that it replaced
// ran about 7% slower on L1-resident data and read x 32 columns at a time;
// with it, L = 1024, D = 128 ran 5-9% slower.
static void ab_b_tn(const float *x, int64_t D, const float *strip, int64_t lds, int64_t T,
                    float *panel)
{
    for (int64_t d0 = 0; d0 < D; d0 += MA) {
        const int64_t nr = D - d0 < MA ? D - d0 : MA;
        const float *xr[MA];  // rows past D read the last one (their sums are dropped)
#pragma GCC unroll 8
        for (int r = 0; r < MA; r++)
            xr[r] = x + d0 + (r < nr ? r : nr - 1);
        TILE_8X48_ACC(acc);
        const float *bp = strip;
        for (int64_t t = 0, off = 0; t < T; t++, off += D, bp += lds)
            TILE_8X48_FMA(acc, bp, xr[r][off]);
        add_8x48(panel + d0 * BC, BC, nr, acc);
    }
}

// The scores of one phase-A tile over the first NV vectors of the block:
// s[r][c] = sum_x xr[r][x] bp[x * BC + 16 c]. NV = 3 is the full 8x48 tile;
// a last block of 32 or 16 keys (L = 1024: 21 blocks and 16 keys) takes 16
// accumulators instead of 24 (at NV = 1 in two sets, even and odd x, so
// 16 chains cover the FMA latency) rather than FMAs on the panel's zeros.
static inline __attribute__((always_inline)) void pa_scores(int NV, const float *const *xr,
                                                           const float *bp, int64_t D,
                                                           __m512 s[MA][3])
{
    if (NV == 3) {
        TILE_8X48_ACC(acc);
        // The next tile's 8 rows (Q_c or dO_c, from L2), a line per k step:
        // +2-5% at L = 1024, D = 128 (GQA group of 4 the most).
        const float *nx = xr[0] + MA * D;
        for (int64_t x = 0; x < D; x++, bp += BC)
            TILE_8X48_STEP(acc, bp, xr[r][x],
                           _mm_prefetch((const char *)(nx + (x & 7) * D + (x >> 4) * 16), _MM_HINT_T0));
#pragma GCC unroll 8
        for (int r = 0; r < MA; r++)
#pragma GCC unroll 3
            for (int c = 0; c < 3; c++)
                s[r][c] = acc[r][c];
        return;
    }
    __m512 acc[2][MA][2];
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++)
#pragma GCC unroll 8
        for (int r = 0; r < MA; r++)
#pragma GCC unroll 2
            for (int c = 0; c < NV; c++)
                acc[h][r][c] = _mm512_setzero_ps();
#define PA_STEP(h, x)                                                                        \
    do {                                                                                     \
        __m512 bv[2];                                                                        \
        _Pragma("GCC unroll 2") for (int c = 0; c < NV; c++)                                 \
            bv[c] = _mm512_load_ps(bp + (x) * BC + 16 * c);                                  \
        _Pragma("GCC unroll 8") for (int r = 0; r < MA; r++) {                               \
            const __m512 av = _mm512_set1_ps(xr[r][x]);                                      \
            _Pragma("GCC unroll 2") for (int c = 0; c < NV; c++)                             \
                acc[h][r][c] = _mm512_fmadd_ps(av, bv[c], acc[h][r][c]);                     \
        }                                                                                    \
    } while (0)
    int64_t x = 0;
    for (; x + 2 <= D; x += 2) {
        PA_STEP(0, x);
        PA_STEP(NV == 1, x + 1);
    }
    if (x < D)
        PA_STEP(0, x);
#undef PA_STEP
#pragma GCC unroll 8
    for (int r = 0; r < MA; r++)
#pragma GCC unroll 2
        for (int c = 0; c < NV; c++)
            s[r][c] = NV == 1 ? _mm512_add_ps(acc[0][r][c], acc[1][r][c]) : acc[0][r][c];
}

// Phase A of NV vectors of keys (see ab_phase_a).
static inline __attribute__((always_inline)) void pa_block(
    int NV, const struct cb_attn_args *a, float scale, const float *q, const float *dout,
    const float *lse, const float *di, const float *kt, const float *vt, int64_t c0,
    int64_t nrows, int64_t j0, float *ps, float *dss, int64_t lds)
{
    const int64_t D = a->head_dim;
    const float log2e = 1.44269504088896341f;
    const __m512 vscale = _mm512_set1_ps(scale), vscale2 = _mm512_set1_ps(scale * log2e);
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t r0 = 0; r0 < nrows; r0 += MA) {
            const int64_t nr = nrows - r0 < MA ? nrows - r0 : MA;
            const float *xr[MA];
            int64_t lim[MA];
            float sh[MA];  // pass 0: -lse log2(e) (exp2's shift); pass 1: Di
#pragma GCC unroll 8
            for (int r = 0; r < MA; r++) {
                const int64_t i = c0 + r0 + (r < nr ? r : 0);
                xr[r] = (pass ? dout : q) + i * D;
                lim[r] = 0;  // pass 1 needs no mask: P is already 0 there
                sh[r] = 0.0f;
                if (r < nr && lse[i] != -INFINITY) {
                    lim[r] = pass ? 0 : cb_attn_visible_keys(a, i) - j0;
                    sh[r] = pass ? di[i] : -lse[i] * log2e;
                }
            }
            float *pr = ps + r0 * BC, *dsr = dss + r0 * lds;
            __m512 s[MA][3];
            pa_scores(NV, xr, pass ? vt : kt, D, s);
            if (!pass) {
#pragma GCC unroll 8
                for (int r = 0; r < MA; r++) {
                    const __m512 vl = _mm512_set1_ps(sh[r]);
#pragma GCC unroll 3
                    for (int c = 0; c < NV; c++) {
                        const __mmask16 keep = left_mask(lim[r] - 16 * c);
                        const __m512 p = _mm512_maskz_mov_ps(keep, exp2_512(_mm512_fmadd_ps(s[r][c], vscale2, vl)));
                        _mm512_storeu_ps(pr + r * BC + 16 * c, p);
                    }
                }
            } else {
#pragma GCC unroll 8
                for (int r = 0; r < MA; r++) {
                    const __m512 vd = _mm512_set1_ps(sh[r]);
#pragma GCC unroll 3
                    for (int c = 0; c < NV; c++) {
                        const __m512 p = _mm512_loadu_ps(pr + r * BC + 16 * c);
                        const __m512 ds = _mm512_mul_ps(_mm512_mul_ps(p, vscale), _mm512_sub_ps(s[r][c], vd));
                        _mm512_storeu_ps(dsr + r * lds + 16 * c, ds);
                    }
                }
            }
        }
    }
}

// Phase A for rows [c0, c0+nrows) of one head and the key block at j0:
// P and dS (scaled) into the strips (dS rows lds apart), rows past nrows of
// the last tile zero; of a last block of nk < 48 keys, only the vectors
// that hold keys are written (B and C read no further).
// Two passes over the row tiles, S -> P with K_j^T, then dP -> dS with V_j^T,
// so one panel serves all the chunk's tiles in turn: at D = 128 the two
// panels (24 KiB each) and the strips overflow L1 (the two-pass order alone:
// about +4% at D = 128, 7 interleaved runs).
static void ab_phase_a(const struct cb_attn_args *a, float scale, const float *q,
                       const float *dout, const float *lse, const float *di, const float *kt,
                       const float *vt, int64_t c0, int64_t nrows, int64_t j0, float *ps,
                       float *dss, int64_t lds)
{
    const int64_t nk = a->seq_kv - j0 < BC ? a->seq_kv - j0 : BC;
    if (nk > 32)
        pa_block(3, a, scale, q, dout, lse, di, kt, vt, c0, nrows, j0, ps, dss, lds);
    else if (nk > 16)
        pa_block(2, a, scale, q, dout, lse, di, kt, vt, c0, nrows, j0, ps, dss, lds);
    else
        pa_block(1, a, scale, q, dout, lse, di, kt, vt, c0, nrows, j0, ps, dss, lds);
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
#define AB_PANELS 1
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
