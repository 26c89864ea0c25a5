// attn_avx2.c: flash-attention forward, f32, AVX2+FMA; compiled with
// -mavx2 -mfma only and selected at run time when CPUID and XCR0 allow it
// (and on AVX-512 machines when CHIPBENCH_ISA=avx2 caps the dispatcher).
//
// attn_f32_avx2_flash: the layout of attn_avx512.c (see there) on 8-wide
// ymm and 16 registers. Tiles over keys with an online softmax, so the
// (Lq, Lk) score matrix is never materialized; the 48 query rows of a block
// lie along the lanes of 6 ymm, so the softmax is vertical (running max m,
// sum l and rescale factor per lane, no horizontal reductions). Per thread:
// Q^T of the block (D x 48), S^T/P^T of a 96-key block (96 x 48) and O^T
// (D x 48); K and V are read in place. The register tile is the 6x16 tile of
// gemm_avx2.c (12 ymm accumulators, 2 vectors, 1 broadcast), applied to each
// 16-row group of the block in turn, so a K or V tile is reused from L1 by
// all 48 rows (an earlier 6-row block streamed a head's K and V from L3 or
// DRAM once per 6 rows: 106 GFLOP/s at L = 16384 against the composed
// baseline's 217).
//   S^T = K_blk (s log2e Q_blk)^T   6 keys x 16 rows per tile, K broadcast
//                                   by element, Q^T rows as vectors; Q is
//                                   pre-scaled by scale log2(e) (base 2)
//   online softmax                  per 96-key block: masked max, then
//                                   p = 2^(s - m_new), l = l 2^(m_old -
//                                   m_new) + sum p
//   O^T = 2^(m_old - m_new) O^T + V_blk^T P^T
//                                   6 columns of D x 16 rows per tile, V
//                                   broadcast by element, P^T rows as
//                                   vectors; the last tile takes D % 6
// Q^T and the final O = O^T / l are transposed 8x8 in registers. Causal
// (bottom-right aligned, cb_attn_visible_keys): keys past a row's visible
// count become -inf, and key blocks no row of the block sees are skipped. A
// row that sees no key gets O = 0 and lse = -inf; lse = ln 2 (m + log2 l).
// exp: exp2_256 (avx2_math.h): 2^n built in the exponent field (AVX2 has no
// vscalefps) times Cephes exp2f's degree-6 polynomial, about 2 ulp; inputs
// are <= 0 and clamped at -127, which gives exactly 0 (-inf included).
// Threads: as attn_avx512.c, whole heads per thread when there are enough
// heads, else the query blocks of each head round-robin.
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "chipbench/cb_pool.h"
#include "chipbench/cb_util.h"
#include "../kernel_tables.h"
#include "avx2_math.h"

// Row softmax for the OpenBLAS-composed baseline on AVX2 machines (as
// cb_softmax_row_avx512; attn_openblas.c calls it after checking the CPU):
// x[0, n) = exp(x - max) / sum, x[n, ld) = 0, returns the log-sum-exp (-inf
// when n == 0). Without it the baseline fell back to a scalar expf loop,
// 1.7x slower at L = 1024, D = 128 (Zen 4 capped to AVX2), which flattered
// the flash kernels.
float cb_softmax_row_avx2(float *x, int64_t n, int64_t ld)
{
    if (n <= 0) {
        for (int64_t j = 0; j < ld; j++)
            x[j] = 0.0f;
        return -INFINITY;
    }
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    const __m256i tail = lane_mask(n % 8);
    const int64_t nv = n / 8 * 8;
    __m256 vmax = ninf;
    for (int64_t j = 0; j < nv; j += 8)
        vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + j));
    if (nv < n)
        vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + nv, tail),
                                                     _mm256_castsi256_ps(tail)));
    const float mx = hmax256(vmax);
    const __m256 l2e = _mm256_set1_ps(1.44269504088896341f);
    const __m256 vm = _mm256_set1_ps(mx * 1.44269504088896341f);
    __m256 vsum = _mm256_setzero_ps();
    for (int64_t j = 0; j < nv; j += 8) {
        const __m256 p = exp2_256(_mm256_fmsub_ps(_mm256_loadu_ps(x + j), l2e, vm));
        _mm256_storeu_ps(x + j, p);
        vsum = _mm256_add_ps(vsum, p);
    }
    if (nv < n) {
        __m256 p = exp2_256(_mm256_fmsub_ps(_mm256_maskload_ps(x + nv, tail), l2e, vm));
        p = _mm256_and_ps(p, _mm256_castsi256_ps(tail));
        _mm256_maskstore_ps(x + nv, tail, p);
        vsum = _mm256_add_ps(vsum, p);
    }
    const float sum = hsum256(vsum);
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (int64_t j = 0; j < nv; j += 8)
        _mm256_storeu_ps(x + j, _mm256_mul_ps(inv, _mm256_loadu_ps(x + j)));
    if (nv < n)
        _mm256_maskstore_ps(x + nv, tail, _mm256_mul_ps(inv, _mm256_maskload_ps(x + nv, tail)));
    for (int64_t j = n; j < ld; j++)
        x[j] = 0.0f;
    return mx + logf(sum);
}

#define QB 48  // query rows per block: 6 ymm of lanes, 3 groups of 16
#define KT 6   // keys per S^T tile, columns of D per O^T tile
#ifndef AF_NK
#define AF_NK 96  // keys per online-softmax block (a multiple of KT)
#endif
#define NK AF_NK

#define AI static inline __attribute__((always_inline))

// S^T (KT keys x 16 rows of one group) for keys [j, j+KT) into pt (rows of
// QB, at the group's column); keys past Lk read key Lk-1 (their lanes are
// masked: a row never sees past Lk). Keys a lane does not see become -inf
// when `masked`; bmax takes the max.
AI void st_tile(const float *qt, const float *k, int64_t D, int64_t lk, int64_t j, int masked,
                const __m256i vis[2], __m256 bmax[2], float *pt)
{
    const float *kr[KT];
#pragma GCC unroll 6
    for (int r = 0; r < KT; r++)
        kr[r] = k + (j + r < lk ? j + r : lk - 1) * D;
    __m256 s[KT][2];
#pragma GCC unroll 6
    for (int r = 0; r < KT; r++)
        s[r][0] = s[r][1] = _mm256_setzero_ps();
    const float *qp = qt;
    for (int64_t x = 0; x < D; x++, qp += QB) {
        const __m256 q0 = _mm256_load_ps(qp), q1 = _mm256_load_ps(qp + 8);
#pragma GCC unroll 6
        for (int r = 0; r < KT; r++) {
            const __m256 kv = _mm256_broadcast_ss(kr[r] + x);
            s[r][0] = _mm256_fmadd_ps(kv, q0, s[r][0]);
            s[r][1] = _mm256_fmadd_ps(kv, q1, s[r][1]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < KT; r++)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            if (masked) {
                const __m256i see = _mm256_cmpgt_epi32(vis[h], _mm256_set1_epi32((int)(j + r)));
                s[r][h] = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), s[r][h], _mm256_castsi256_ps(see));
            }
            bmax[h] = _mm256_max_ps(bmax[h], s[r][h]);
            _mm256_store_ps(pt + (int64_t)r * QB + 8 * h, s[r][h]);
        }
}

// O^T rows [x, x+mr) (mr <= KT) of one group's 16 columns = corr * O^T (or
// 0 when `first`) + V^T P^T over nk keys: V broadcast by element, P^T rows
// as vectors.
AI void pv_tile(const float *pt, const float *vp, int64_t D, int64_t nk, int mr, int first,
                const __m256 corr[2], float *op)
{
    __m256 acc[KT][2];
#pragma GCC unroll 6
    for (int r = 0; r < KT; r++)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++)
            acc[r][h] = first || r >= mr ? _mm256_setzero_ps()
                                         : _mm256_mul_ps(corr[h], _mm256_load_ps(op + r * QB + 8 * h));
    for (int64_t j = 0; j < nk; j++, pt += QB, vp += D) {
        // V's next line, as in attn_avx512.c's pv_tile (+1% here).
        cb_prefetch_ahead(vp, 16 * sizeof(float));
        const __m256 p0 = _mm256_load_ps(pt), p1 = _mm256_load_ps(pt + 8);
#pragma GCC unroll 6
        for (int r = 0; r < KT; r++) {
            const __m256 vv = _mm256_broadcast_ss(vp + (r < mr ? r : mr - 1));
            acc[r][0] = _mm256_fmadd_ps(vv, p0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(vv, p1, acc[r][1]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < KT; r++)
        if (r < mr)
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++)
                _mm256_store_ps(op + r * QB + 8 * h, acc[r][h]);
}

// The steps of attn_fwd_lanes.h's flash_block for 6 ymm of rows.
struct afl_rows {
    __m256i vis[6];     // keys each row sees
    __m256 m[6], l[6];  // running max (base 2) and sum
    __m256 corr[6];     // the last key block's rescale 2^(m_old - m_new)
};

AI void afl_rows_init(struct afl_rows *s, const int32_t *vis)
{
    for (int c = 0; c < 6; c++) {
        s->vis[c] = _mm256_loadu_si256((const __m256i *)(vis + 8 * c));
        s->m[c] = _mm256_set1_ps(-INFINITY);
        s->l[c] = _mm256_setzero_ps();
    }
}

AI void afl_rows_ml(const struct afl_rows *s, float *m, float *l)
{
    for (int c = 0; c < 6; c++) {
        _mm256_storeu_ps(m + 8 * c, s->m[c]);
        _mm256_storeu_ps(l + 8 * c, s->l[c]);
    }
}

// Q^T of the first 16 ng lanes, times qscale, lanes past nr zero: 8x8
// blocks transposed in registers.
AI void afl_pack_q(const int ng, const float *q, int64_t D, int64_t nr, float qscale, float *qt)
{
    const __m256 vqs = _mm256_set1_ps(qscale);
    for (int r0 = 0; r0 < 16 * ng; r0 += 8)
        for (int64_t x0 = 0; x0 < D; x0 += 8) {
            const int w8 = D - x0 < 8 ? (int)(D - x0) : 8;
            transpose8_256_io(q + r0 * D + x0, D, (int)(nr - r0), cols8(w8), vqs,
                              qt + x0 * QB + r0, QB, w8, cols8(8));
        }
}

// Keys [j0, j0+nk): S^T tiles into pt (the ng 16-row groups in turn
// reuse each K tile from L1), then the online-softmax step (P^T in pt; m, l
// and corr updated).
AI void afl_scores(const int ng, const float *qt, const float *k, int64_t D, int64_t lk,
                   int64_t j0, int64_t nk, int64_t vmin, struct afl_rows *s, float *pt)
{
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 bmax[6];
    for (int c = 0; c < 6; c++)
        bmax[c] = ninf;
    for (int64_t jt = 0; jt < nk; jt += KT)
        for (int g = 0; g < ng; g++) {
            if (j0 + jt + KT > vmin)
                st_tile(qt + 16 * g, k, D, lk, j0 + jt, 1, s->vis + 2 * g, bmax + 2 * g,
                        pt + jt * QB + 16 * g);
            else
                st_tile(qt + 16 * g, k, D, lk, j0 + jt, 0, s->vis + 2 * g, bmax + 2 * g,
                        pt + jt * QB + 16 * g);
        }
    // Rows that have seen nothing keep m = -inf and subtract 0 (2^-inf = 0).
    __m256 ms[6], sum[6];
    for (int c = 0; c < 2 * ng; c++) {
        const __m256 mn = _mm256_max_ps(s->m[c], bmax[c]);
        ms[c] = _mm256_blendv_ps(mn, _mm256_setzero_ps(), _mm256_cmp_ps(mn, ninf, _CMP_EQ_OQ));
        s->corr[c] = exp2_256(_mm256_sub_ps(s->m[c], ms[c]));
        sum[c] = _mm256_setzero_ps();
        s->m[c] = mn;
    }
    for (int64_t j = 0; j < nk; j++)
#pragma GCC unroll 6
        for (int c = 0; c < 2 * ng; c++) {
            float *pp = pt + j * QB + 8 * c;
            const __m256 p = exp2_256(_mm256_sub_ps(_mm256_load_ps(pp), ms[c]));
            _mm256_store_ps(pp, p);
            sum[c] = _mm256_add_ps(sum[c], p);
        }
    for (int c = 0; c < 2 * ng; c++)
        s->l[c] = _mm256_fmadd_ps(s->l[c], s->corr[c], sum[c]);
}

// O^T(D, QB) = corr O^T + V_blk^T P^T, KT columns of D per tile, the ng
// groups in turn reusing the V tile from L1.
AI void afl_pv(const int ng, const float *pt, const float *vb, int64_t D, int64_t nk, int first,
               const struct afl_rows *s, float *ot)
{
    for (int64_t x = 0; x < D; x += KT) {
        const int mr = D - x < KT ? (int)(D - x) : KT;
        for (int g = 0; g < ng; g++) {
            const float *pg = pt + 16 * g;
            float *og = ot + x * QB + 16 * g;
            if (mr < KT)
                pv_tile(pg, vb + x, D, nk, mr, first, s->corr + 2 * g, og);
            else if (first)
                pv_tile(pg, vb + x, D, nk, KT, 1, s->corr + 2 * g, og);
            else
                pv_tile(pg, vb + x, D, nk, KT, 0, s->corr + 2 * g, og);
        }
    }
}

// O (nr rows of D, o at the block's first row) = O^T / l, transposed back in
// 8x8 blocks; rows with l = 0 get 0.
AI void afl_unpack_o(const float *ot, int64_t D, int64_t nr, const struct afl_rows *s, float *o)
{
    for (int c = 0; c < 6 && 8 * c < nr; c++) {
        const __m256 pos = _mm256_cmp_ps(s->l[c], _mm256_setzero_ps(), _CMP_GT_OQ);
        const __m256 inv = _mm256_and_ps(pos, _mm256_div_ps(_mm256_set1_ps(1.0f), s->l[c]));
        for (int64_t x0 = 0; x0 < D; x0 += 8) {
            const int w8 = D - x0 < 8 ? (int)(D - x0) : 8;
            transpose8_256_io(ot + x0 * QB + 8 * c, QB, w8, cols8(8), inv, o + 8 * c * D + x0, D,
                              (int)(nr - 8 * c), cols8(w8));
        }
    }
}

// flash_block, the buffers and the driver (plan, threads' split of heads and
// blocks), shared with attn_avx512.c.
#define AFL_QB QB
#define AFL_NK NK
#include "../common/attn_fwd_lanes.h"

const struct cb_kernel cb_attn_avx2_kernels[] = {
    {
        .name = "attn_f32_avx2_flash",
        .op = CB_OP_ATTN,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_AVX2,
        .isa = CB_ISA_AVX | CB_ISA_AVX2 | CB_ISA_FMA,
        .priority = 15,
        .plan = af_plan_create,
        .run = af_run,
        .plan_free = af_plan_free,
        .desc = "flash attention forward: 48 query rows on the lanes, 6x16 ymm tiles, online "
                "softmax, O(L*D) memory, pinned threads",
    },
    {.name = NULL},
};
