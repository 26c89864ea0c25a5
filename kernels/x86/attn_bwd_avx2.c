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

#define BC 48    // keys per block (3 subtiles of 16)
#define MA 6     // query rows per phase-A tile
#define RCH 96   // query rows per chunk (multiple of 12 and of MA)
#define KB 4     // key blocks per sweep over the query rows

// 2^x as in attn_avx2.c (2^n from the exponent field, Cephes exp2f's
// polynomial on [-1/2, 1/2], about 2 ulp; x <= -127 and -inf give exactly 0),
// also clamped at 127 here: x = log2(e) (scale s - lse) may round to just
// above 0.
static inline __m256 exp2_256(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 r = _mm256_sub_ps(x, n);
    __m256 p = _mm256_set1_ps(1.535336188319500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.339887440266574e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(9.618437357674640e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.550332471162809e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(2.402264791363012e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(6.931472028550421e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Lane mask for maskload/maskstore: the first `left` lanes (clamped to 0..8).
static inline __m256i lane_mask(int64_t left)
{
    static const int32_t tbl[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    left = left < 0 ? 0 : left > 8 ? 8 : left;
    return _mm256_loadu_si256((const __m256i *)(tbl + 8 - left));
}

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
static void gemm_cols(const float *a, int64_t ars, int64_t ats, const float *b, int64_t ldb,
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

struct bwd_ws {        // one thread's workspace
    float *kt, *vt;    // K_j^T, V_j^T of KB blocks: KB x D x BC
    float *ps, *dss;   // P and dS strips: RCH x BC
    float *di;         // Di of the group's rows: group * Lq
    float *dqp;        // split mode: dQ partial of the group, group * Lq * D
};

struct bwd_plan {
    struct cb_pool *pool;
    int nt;
    int split;         // 1: key blocks of each group dealt over threads (dQ partials)
    struct bwd_ws *ws;
    const struct cb_attn_bwd_args *a;
};

// Panel (D, BC) <- rows [j0, j0+nk) of X (Lk, D) transposed, zero beyond nk.
static void pack_t(const float *x, int64_t j0, int64_t nk, int64_t D, float *xt)
{
    for (int64_t d = 0; d < D; d++) {
        float *row = xt + d * BC;
        int64_t k = 0;
        for (; k < nk; k++)
            row[k] = x[(j0 + k) * D + d];
        for (; k < BC; k++)
            row[k] = 0.0f;
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
static void phase_a(const struct cb_attn_args *a, float scale, const float *q, const float *dout,
                    const float *lse, const float *di, const float *kt, const float *vt,
                    int64_t c0, int64_t nrows, int64_t j0, float *ps, float *dss)
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
        float *pr = ps + r0 * BC, *dsr = dss + r0 * BC;
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
                                 _mm256_and_ps(k0, exp2_256(_mm256_fmadd_ps(s[r][0], vscale2, vl))));
                _mm256_storeu_ps(pr + r * BC + 16 * c + 8,
                                 _mm256_and_ps(k1, exp2_256(_mm256_fmadd_ps(s[r][1], vscale2, vl))));
            }
            TILE_A(s, dr, vt + 16 * c);
#pragma GCC unroll 6
            for (int r = 0; r < MA; r++) {
                const __m256 vd = _mm256_set1_ps(dd[r]);
#pragma GCC unroll 2
                for (int h = 0; h < 2; h++) {
                    const __m256 p = _mm256_loadu_ps(pr + r * BC + 16 * c + 8 * h);
                    const __m256 ds = _mm256_mul_ps(_mm256_mul_ps(p, vscale), _mm256_sub_ps(s[r][h], vd));
                    _mm256_storeu_ps(dsr + r * BC + 16 * c + 8 * h, ds);
                }
            }
        }
    }
}

// Di = rowsum(dO * O) for n rows of D.
static void compute_di(const float *dout, const float *o, int64_t n, int64_t D, float *di)
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

// Key blocks [kb0, kb0+nb) of group g (batch b, kv head kvh): zero and fill
// their dK, dV rows and add their share of dQ into dq (the group's rows,
// group * Lq x D). The query rows are swept once for all nb blocks, so each
// chunk of Q, dO and dQ is reused nb times while it is in L2.
static void key_blocks(const struct bwd_plan *pl, struct bwd_ws *w, int64_t g, int64_t kb0,
                       int64_t nb, float *dq)
{
    const struct cb_attn_bwd_args *ba = pl->a;
    const struct cb_attn_args *a = &ba->fwd;
    const int64_t D = a->head_dim, Lq = a->seq_q, Lk = a->seq_kv;
    const int64_t group = a->heads / a->kv_heads;
    const int64_t b = g / a->kv_heads, kvh = g % a->kv_heads;
    const int64_t h0 = b * a->heads + kvh * group;  // first query head of the group
    const float scale = a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)D);
    const int64_t j0 = kb0 * BC, jend = (kb0 + nb) * BC < Lk ? (kb0 + nb) * BC : Lk;
    const float *kj = (const float *)a->k + g * Lk * D;
    const float *vj = (const float *)a->v + g * Lk * D;
    float *dk = (float *)ba->dk + g * Lk * D;
    float *dv = (float *)ba->dv + g * Lk * D;
    int64_t first[KB];  // first query row that sees each block

    memset(dk + j0 * D, 0, (size_t)((jend - j0) * D) * sizeof *dk);
    memset(dv + j0 * D, 0, (size_t)((jend - j0) * D) * sizeof *dv);
    for (int64_t u = 0; u < nb; u++) {
        const int64_t ju = j0 + u * BC, nk = jend - ju < BC ? jend - ju : BC;
        pack_t(kj, ju, nk, D, w->kt + u * D * BC);
        pack_t(vj, ju, nk, D, w->vt + u * D * BC);
        // vis(i) > ju <=> i >= ju - (Lk - Lq)
        first[u] = a->causal ? ju - (Lk - Lq) : 0;
        first[u] = first[u] < 0 ? 0 : first[u];
    }
    for (int64_t hh = 0; hh < group; hh++) {
        const float *q = (const float *)a->q + (h0 + hh) * Lq * D;
        const float *dout = (const float *)ba->dout + (h0 + hh) * Lq * D;
        const float *lse = a->lse + (h0 + hh) * Lq;
        const float *di = w->di + hh * Lq;
        float *dqh = dq + hh * Lq * D;
        for (int64_t c0 = first[0]; c0 < Lq; c0 += RCH) {
            const int64_t cend = c0 + RCH < Lq ? c0 + RCH : Lq;
            for (int64_t u = 0; u < nb; u++) {
                const int64_t ju = j0 + u * BC, nk = jend - ju < BC ? jend - ju : BC;
                const int64_t r0 = c0 > first[u] ? c0 : first[u];
                if (r0 >= cend)
                    continue;
                const int64_t nrows = cend - r0;
                phase_a(a, scale, q, dout, lse, di, w->kt + u * D * BC, w->vt + u * D * BC, r0,
                        nrows, ju, w->ps, w->dss);
                // B: dV_j(nk, D) += P^T dO_c, dK_j += dS^T Q_c (tile rows = keys)
                gemm_cols(w->ps, 1, BC, dout + r0 * D, D, nrows, dv + ju * D, D, nk, D);
                gemm_cols(w->dss, 1, BC, q + r0 * D, D, nrows, dk + ju * D, D, nk, D);
                // C: dQ_c(nrows, D) += dS K_j (tile rows = queries)
                gemm_cols(w->dss, BC, 1, kj + ju * D, D, nk, dqh + r0 * D, D, nrows, D);
            }
        }
    }
}

static void bwd_thread(void *arg, int tid, int nt)
{
    struct bwd_plan *pl = arg;
    const struct cb_attn_bwd_args *ba = pl->a;
    const struct cb_attn_args *a = &ba->fwd;
    const int64_t D = a->head_dim, Lq = a->seq_q, Lk = a->seq_kv;
    const int64_t group = a->heads / a->kv_heads, ngroups = a->batch * a->kv_heads;
    const int64_t nkb = (Lk + BC - 1) / BC;
    const int64_t grows = group * Lq;  // query rows of a group (all its heads)
    struct bwd_ws *w = &pl->ws[tid];

    for (int64_t g = pl->split ? 0 : tid; g < ngroups; g += pl->split ? 1 : nt) {
        const int64_t b = g / a->kv_heads, kvh = g % a->kv_heads;
        const int64_t h0 = b * a->heads + kvh * group;
        const float *o = (const float *)a->o + h0 * Lq * D;
        const float *dout = (const float *)ba->dout + h0 * Lq * D;
        float *dq = (float *)ba->dq + h0 * Lq * D;
        compute_di(dout, o, grows, D, w->di);
        if (!pl->split) {
            memset(dq, 0, (size_t)(grows * D) * sizeof *dq);
            for (int64_t kb = 0; kb < nkb; kb += KB)
                key_blocks(pl, w, g, kb, nkb - kb < KB ? nkb - kb : KB, dq);
            continue;
        }
        // Units of sb key blocks (fewer than KB when there are few blocks)
        // dealt zig-zag: 0 1 .. nt-1 nt-1 .. 1 0 0 1 .. (balances a causal ramp).
        memset(w->dqp, 0, (size_t)(grows * D) * sizeof *w->dqp);
        int64_t sb = nkb / (2 * nt);
        sb = sb < 1 ? 1 : sb > KB ? KB : sb;
        for (int64_t un = 0; un * sb < nkb; un++) {
            const int64_t p = un % (2 * nt), owner = p < nt ? p : 2 * nt - 1 - p;
            if (owner == tid)
                key_blocks(pl, w, g, un * sb, nkb - un * sb < sb ? nkb - un * sb : sb, w->dqp);
        }
        cb_pool_barrier(pl->pool);
        // dQ rows of the group split evenly over the threads: sum the partials.
        const int64_t per = (grows + nt - 1) / nt, r0 = tid * per;
        const int64_t r1 = r0 + per < grows ? r0 + per : grows;
        for (int64_t r = r0; r < r1; r++)
            for (int64_t x = 0; x < D; x += 8) {
                const __m256i m = lane_mask(D - x);
                __m256 s = _mm256_setzero_ps();
                for (int t = 0; t < nt; t++)
                    s = _mm256_add_ps(s, _mm256_maskload_ps(pl->ws[t].dqp + r * D + x, m));
                _mm256_maskstore_ps(dq + r * D + x, m, s);
            }
        cb_pool_barrier(pl->pool);  // partials are reused by the next group
    }
}

static void bwd_plan_free(void *plan)
{
    struct bwd_plan *pl = plan;
    if (!pl)
        return;
    for (int i = 0; pl->ws && i < pl->nt; i++) {
        cb_free(pl->ws[i].kt);
        cb_free(pl->ws[i].vt);
        cb_free(pl->ws[i].ps);
        cb_free(pl->ws[i].dss);
        cb_free(pl->ws[i].di);
        cb_free(pl->ws[i].dqp);
    }
    free(pl->ws);
    cb_pool_free(pl->pool);
    free(pl);
}

static float *ws_alloc(int64_t n)
{
    float *p = cb_alloc_array((size_t)(n > 0 ? n : 1), sizeof(float));
    if (p)
        memset(p, 0, (size_t)(n > 0 ? n : 1) * sizeof *p);
    return p;
}

static enum cb_status bwd_plan_create(const struct cb_kernel *k, const struct cb_plan_req *req,
                                      void **plan)
{
    const struct cb_attn_args *a = &req->shape->u.attn_bwd.fwd;
    enum cb_status s = CB_OK;
    (void)k;
    struct bwd_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "attention backward plan");
    pl->nt = req->threads;
    if ((s = cb_pool_create(req->threads, &pl->pool)) != CB_OK)
        goto out;
    const int64_t D = a->head_dim, group = a->heads / a->kv_heads;
    const int64_t ngroups = a->batch * a->kv_heads, grows = group * a->seq_q;
    // Whole groups per thread when they split evenly enough; else the key
    // blocks of each group are dealt over the threads (dQ partials).
    pl->split = pl->nt > 1 && !(ngroups % pl->nt == 0 || ngroups >= 4 * pl->nt);
    pl->ws = calloc((size_t)pl->nt, sizeof *pl->ws);
    if (!pl->ws) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "attention backward plan");
        goto out;
    }
    for (int i = 0; i < pl->nt; i++) {
        struct bwd_ws *w = &pl->ws[i];
        w->kt = ws_alloc(KB * D * BC);
        w->vt = ws_alloc(KB * D * BC);
        w->ps = ws_alloc(RCH * BC);
        w->dss = ws_alloc(RCH * BC);
        w->di = ws_alloc(grows);
        if (pl->split)
            w->dqp = ws_alloc(grows * D);
        if (!w->kt || !w->vt || !w->ps || !w->dss || !w->di || (pl->split && !w->dqp)) {
            s = cb_set_error(CB_ERR_NO_MEMORY, "attention backward workspace (dQ partial %lld x "
                             "%lld floats)", (long long)grows, (long long)D);
            goto out;
        }
    }
out:
    if (s != CB_OK) {
        bwd_plan_free(pl);
        pl = NULL;
    }
    *plan = pl;
    return s;
}

static enum cb_status bwd_run(void *plan, const struct cb_call *call)
{
    struct bwd_plan *pl = plan;
    pl->a = &call->u.attn_bwd;
    if (!pl->a->fwd.lse)
        return cb_set_error(CB_ERR_INVALID_ARG, "attention backward needs the forward's lse");
    cb_pool_run(pl->pool, bwd_thread, pl);
    return CB_OK;
}

const struct cb_kernel cb_attn_bwd_avx2_kernels[] = {
    {
        .name = "attn_bwd_f32_avx2_flash",
        .op = CB_OP_ATTN_BWD,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_AVX2,
        .isa = CB_ISA_AVX | CB_ISA_AVX2 | CB_ISA_FMA,
        .priority = 15,
        .plan = bwd_plan_create,
        .run = bwd_run,
        .plan_free = bwd_plan_free,
        .desc = "flash attention backward: 6x16 ymm tiles, P recomputed from lse per 48-key "
                "block, dK/dV per block, dQ per thread, O(L*D) memory, pinned threads",
    },
    {.name = NULL},
};
