// attn_avx512.c: flash-attention forward, f32, AVX-512F; compiled with the
// AVX-512 flags only and selected at run time when CPUID and XCR0 allow it.
//
// attn_f32_avx512_flash: tiles over keys with an online softmax, so the
// (Lq, Lk) score matrix is never materialized. The query rows of a block lie
// along the lanes of 3 zmm (48 rows), so every softmax step is vertical: the
// running max m, sum l and rescale factor are 3 vectors, with no horizontal
// reductions and no scalar exp (the earlier 8-row x 48-key layout spent a
// quarter of its time there, at 65-72% of FMA peak). Per thread: Q^T of the
// block (D x 48), S^T/P^T of a 96-key block (96 x 48) and O^T (D x 48); K
// and V are read in place.
//   S^T = K_blk (s log2e Q_blk)^T   8 keys x 48 rows per register tile: the
//                                   8x48 GEMM tile (24 zmm accumulators, K
//                                   broadcast by element, Q^T rows as
//                                   vectors); Q comes pre-scaled by
//                                   scale log2(e), so the softmax is base 2
//   online softmax                  per 96-key block: masked max, then
//                                   p = 2^(s - m_new), l = l 2^(m_old -
//                                   m_new) + sum p
//   O^T = 2^(m_old - m_new) O^T + V_blk^T P^T
//                                   8 columns of D x 48 rows per tile, the
//                                   same 8x48 tile (V broadcast by element,
//                                   P^T rows as vectors); the rescale is a
//                                   multiply as the tile is loaded
// Q^T and the final O = O^T / l are transposed 16x16 in registers. Causal
// (bottom-right aligned, cb_attn_visible_keys): keys past a row's visible
// count become -inf (an integer compare against the rows' counts), and key
// blocks no row of the block sees are skipped. A row that sees no key gets
// O = 0 and lse = -inf (2^-inf is exactly 0 in exp2_512). Any D: the S^T
// loop runs over D, the last O^T tile takes D % 8 columns.
// Threads: whole heads per thread when there are enough heads, else the
// query blocks of each head round-robin (balancing a causal triangle).
// A head's last block of at most 16 or 32 rows runs on 1 or 2 of the 3
// vectors (attn_fwd_lanes.h): at L = 1024, D = 128, 1 thread, 104.6 -> 108.5
// GFLOP/s (Zen 4, 3 alternating runs), 93% of the FMA peak.
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "chipbench/cb_pool.h"
#include "chipbench/cb_util.h"
#include "../kernel_tables.h"
#include "avx512_math.h"
#include "tile_avx512.h"

#define QB 48  // query rows per block: the lanes of 3 zmm
#define KT 8   // keys per S^T register tile

// Row softmax for the OpenBLAS-composed baseline (attn_openblas.c calls it
// after checking the CPU): x[0, n) = exp(x - max) / sum, x[n, ld) = 0, returns
// the log-sum-exp (-inf when n == 0). The same base-2 exp as the flash
// kernel (exp(x - max) = 2^(x log2e - max log2e), one FMA in), so the
// baseline's softmax is as fast as a careful user's would be.
float cb_softmax_row_avx512(float *x, int64_t n, int64_t ld)
{
    if (n <= 0) {
        for (int64_t j = 0; j < ld; j++)
            x[j] = 0.0f;
        return -INFINITY;
    }
    __m512 vmax = _mm512_set1_ps(-INFINITY);
    int64_t j = 0;
    for (; j + 16 <= n; j += 16)
        vmax = _mm512_max_ps(vmax, _mm512_loadu_ps(x + j));
    __mmask16 tail = (__mmask16)((1u << (n - j)) - 1);
    vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail, x + j));
    const float mx = _mm512_reduce_max_ps(vmax);
    const __m512 l2e = _mm512_set1_ps(1.44269504088896341f);
    const __m512 vm = _mm512_set1_ps(mx * 1.44269504088896341f);
    __m512 vsum = _mm512_setzero_ps();
    for (j = 0; j + 16 <= n; j += 16) {
        __m512 p = exp2_512(_mm512_fmsub_ps(_mm512_loadu_ps(x + j), l2e, vm));
        _mm512_storeu_ps(x + j, p);
        vsum = _mm512_add_ps(vsum, p);
    }
    if (j < n) {
        __m512 p = exp2_512(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(tail, x + j), l2e, vm));
        p = _mm512_maskz_mov_ps(tail, p);
        _mm512_mask_storeu_ps(x + j, tail, p);
        vsum = _mm512_add_ps(vsum, p);
    }
    const float sum = _mm512_reduce_add_ps(vsum);
    const __m512 inv = _mm512_set1_ps(1.0f / sum);
    for (j = 0; j + 16 <= n; j += 16)
        _mm512_storeu_ps(x + j, _mm512_mul_ps(inv, _mm512_loadu_ps(x + j)));
    if (j < n)
        _mm512_mask_storeu_ps(x + j, tail, _mm512_mul_ps(inv, _mm512_maskz_loadu_ps(tail, x + j)));
    for (j = n; j < ld; j++)
        x[j] = 0.0f;
    return mx + logf(sum);
}

#ifndef AF_NK
#define AF_NK 96  // keys per online-softmax block (a multiple of KT)
#endif
#define NK AF_NK

#define AI static inline __attribute__((always_inline))

// S^T (KT keys x 16 ng rows) for keys [j, j+KT) into pt, rows of QB; keys
// past Lk read key Lk-1 (their lanes are masked: a row never sees past Lk).
// Keys a lane does not see become -inf when `masked`; bmax takes the max.
// ng (1 to 3 groups of 16 rows) is a constant in each inlined copy.
AI void st_tile(const int ng, const float *qt, const float *k, int64_t D, int64_t lk, int64_t j,
                int masked, const __m512i visv[3], __m512 bmax[3], float *pt)
{
    const float *kr[KT];
#pragma GCC unroll 8
    for (int r = 0; r < KT; r++)
        kr[r] = k + (j + r < lk ? j + r : lk - 1) * D;
    TILE_8X48_ACC(s);
    const float *qp = qt;
    // The next tile's 8 K rows are contiguous (8 D floats): one line every
    // 2 steps is fetched ahead (at D = 128, +2% here, Xeon model 207).
    const size_t knext = (size_t)((j + KT) * D) * sizeof(float);
    for (int64_t x = 0; x < D; x++, qp += QB) {
        cb_prefetch_ahead(k, knext + (size_t)(KT * x) * sizeof(float));
        TILE_8XV_FMA(s, qp, kr[r][x], ng);
    }
#pragma GCC unroll 8
    for (int r = 0; r < KT; r++)
#pragma GCC unroll 3
        for (int c = 0; c < ng; c++) {
            if (masked) {
                const __mmask16 see = _mm512_cmpgt_epi32_mask(visv[c], _mm512_set1_epi32((int)(j + r)));
                s[r][c] = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), see, s[r][c]);
            }
            bmax[c] = _mm512_max_ps(bmax[c], s[r][c]);
            _mm512_store_ps(pt + (int64_t)r * QB + 16 * c, s[r][c]);
        }
}

// O^T rows [x, x+mr) (mr <= 8) = corr * O^T (or 0 when `first`) + V^T P^T
// over nk keys: V rows broadcast by element, P^T rows (16 ng lanes) as
// vectors.
AI void pv_tile(const int ng, const float *pt, const float *vp, int64_t D, int64_t nk, int mr,
                int first, const __m512 corr[3], float *op)
{
    __m512 acc[KT][3];
#pragma GCC unroll 8
    for (int r = 0; r < KT; r++)
#pragma GCC unroll 3
        for (int c = 0; c < ng; c++)
            acc[r][c] = first || r >= mr ? _mm512_setzero_ps()
                                         : _mm512_mul_ps(corr[c], _mm512_load_ps(op + r * QB + 16 * c));
    // A tile reads 8 columns of each V row, D floats apart: at D = 128 the
    // key block's V (48 KiB) does not stay in L1 between tiles, and the
    // first use of each line stalled. Fetch the line the tile after next
    // reads (one tile = nk steps of lead): 126 -> 139 GFLOP/s at L = 2048,
    // D = 128 on 1 thread (best of 5 interleaved runs, Xeon model 207).
    for (int64_t j = 0; j < nk; j++, pt += QB, vp += D) {
        cb_prefetch_ahead(vp, 16 * sizeof(float));
        TILE_8XV_FMA(acc, pt, vp[r < mr ? r : mr - 1], ng);
    }
#pragma GCC unroll 8
    for (int r = 0; r < KT; r++)
        if (r < mr)
#pragma GCC unroll 3
            for (int c = 0; c < ng; c++)
                _mm512_store_ps(op + r * QB + 16 * c, acc[r][c]);
}

// The steps of attn_fwd_lanes.h's flash_block for 3 zmm of rows.
struct afl_rows {
    __m512i vis[3];     // keys each row sees
    __m512 m[3], l[3];  // running max (base 2) and sum
    __m512 corr[3];     // the last key block's rescale 2^(m_old - m_new)
};

AI void afl_rows_init(struct afl_rows *s, const int32_t *vis)
{
    for (int c = 0; c < 3; c++) {
        s->vis[c] = _mm512_loadu_si512(vis + 16 * c);
        s->m[c] = _mm512_set1_ps(-INFINITY);
        s->l[c] = _mm512_setzero_ps();
    }
}

AI void afl_rows_ml(const struct afl_rows *s, float *m, float *l)
{
    for (int c = 0; c < 3; c++) {
        _mm512_storeu_ps(m + 16 * c, s->m[c]);
        _mm512_storeu_ps(l + 16 * c, s->l[c]);
    }
}

// Q^T of the first 16 ng lanes, times qscale, lanes past nr zero: 16x16
// blocks transposed in registers (a scalar loop here cost 3% of the kernel
// at L = 1024).
AI void afl_pack_q(const int ng, const float *q, int64_t D, int64_t nr, float qscale, float *qt)
{
    const __m512 vqs = _mm512_set1_ps(qscale);
    for (int r0 = 0; r0 < 16 * ng; r0 += 16)
        for (int64_t x0 = 0; x0 < D; x0 += 16) {
            const int w16 = D - x0 < 16 ? (int)(D - x0) : 16;
            transpose16_512_io(q + r0 * D + x0, D, (int)(nr - r0), cols16(w16), vqs,
                               qt + x0 * QB + r0, QB, w16, 0xffff);
        }
}

// Keys [j0, j0+nk): S^T tiles into pt, then the online-softmax step (P^T in
// pt; m, l and corr updated).
AI void afl_scores(const int ng, const float *qt, const float *k, int64_t D, int64_t lk,
                   int64_t j0, int64_t nk, int64_t vmin, struct afl_rows *s, float *pt)
{
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 bmax[3] = {ninf, ninf, ninf};
    for (int64_t jt = 0; jt < nk; jt += KT) {
        if (j0 + jt + KT > vmin)
            st_tile(ng, qt, k, D, lk, j0 + jt, 1, s->vis, bmax, pt + jt * QB);
        else
            st_tile(ng, qt, k, D, lk, j0 + jt, 0, s->vis, bmax, pt + jt * QB);
    }
    // Rows that have seen nothing keep m = -inf and subtract 0 (2^-inf = 0).
    __m512 ms[3], sum[3];
    for (int c = 0; c < ng; c++) {
        const __m512 mn = _mm512_max_ps(s->m[c], bmax[c]);
        ms[c] = _mm512_mask_mov_ps(mn, _mm512_cmp_ps_mask(mn, ninf, _CMP_EQ_OQ), _mm512_setzero_ps());
        s->corr[c] = exp2_512(_mm512_sub_ps(s->m[c], ms[c]));
        sum[c] = _mm512_setzero_ps();
        s->m[c] = mn;
    }
    for (int64_t j = 0; j < nk; j++)
#pragma GCC unroll 3
        for (int c = 0; c < ng; c++) {
            float *pp = pt + j * QB + 16 * c;
            const __m512 p = exp2_512(_mm512_sub_ps(_mm512_load_ps(pp), ms[c]));
            _mm512_store_ps(pp, p);
            sum[c] = _mm512_add_ps(sum[c], p);
        }
    for (int c = 0; c < ng; c++)
        s->l[c] = _mm512_fmadd_ps(s->l[c], s->corr[c], sum[c]);
}

// O^T(D, QB) = corr O^T + V_blk^T P^T, 8 columns of D per tile.
AI void afl_pv(const int ng, const float *pt, const float *vb, int64_t D, int64_t nk, int first,
               const struct afl_rows *s, float *ot)
{
    int64_t x = 0;
    for (; x + KT <= D; x += KT) {
        if (first)
            pv_tile(ng, pt, vb + x, D, nk, KT, 1, s->corr, ot + x * QB);
        else
            pv_tile(ng, pt, vb + x, D, nk, KT, 0, s->corr, ot + x * QB);
    }
    if (x < D)
        pv_tile(ng, pt, vb + x, D, nk, (int)(D - x), first, s->corr, ot + x * QB);
}

// O (nr rows of D, o at the block's first row) = O^T / l, transposed back in
// 16x16 blocks; rows with l = 0 get 0.
AI void afl_unpack_o(const float *ot, int64_t D, int64_t nr, const struct afl_rows *s, float *o)
{
    for (int c = 0; c < 3 && 16 * c < nr; c++) {
        const __m512 inv = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(s->l[c], _mm512_setzero_ps(), _CMP_GT_OQ),
                                               _mm512_set1_ps(1.0f), s->l[c]);
        for (int64_t x0 = 0; x0 < D; x0 += 16) {
            const int w16 = D - x0 < 16 ? (int)(D - x0) : 16;
            transpose16_512_io(ot + x0 * QB + 16 * c, QB, w16, 0xffff, inv, o + 16 * c * D + x0, D,
                               (int)(nr - 16 * c), cols16(w16));
        }
    }
}

// flash_block, the buffers and the driver (plan, threads' split of heads and
// blocks), shared with attn_avx2.c.
#define AFL_QB QB
#define AFL_NK NK
#include "../common/attn_fwd_lanes.h"

const struct cb_kernel cb_attn_avx512_kernels[] = {
    {
        .name = "attn_f32_avx512_flash",
        .op = CB_OP_ATTN,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_AVX512,
        .isa = CB_ISA_GROUP_AVX512,
        .priority = 30,
        .plan = af_plan_create,
        .run = af_run,
        .plan_free = af_plan_free,
        .desc = "flash attention forward: 8x48 tiles, online softmax, O(L*D) memory, pinned threads",
    },
    {.name = NULL},
};
