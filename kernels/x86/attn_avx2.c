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
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "chipbench/cb_pool.h"
#include "chipbench/cb_util.h"
#include "../kernel_tables.h"
#include "avx2_math.h"

#define QB 48  // query rows per block: 6 ymm of lanes, 3 groups of 16
#define KT 6   // keys per S^T tile, columns of D per O^T tile
#ifndef AF_NK
#define AF_NK 96  // keys per online-softmax block (a multiple of KT)
#endif
#define NK AF_NK

// The shared driver: plan, workspaces, the threads' split of heads and
// blocks. No af_pack_kt: K is read in place.
#define AF_BR QB
#define AF_KALIGN KT
#define AF_WS_EXTRA                                                  \
    float *qt; /* Q^T of the block, D x QB, times scale log2(e) */    \
    float *pt; /* S^T then P^T of a key block, NK x QB */            \
    float *ot; /* unnormalized O^T of the block, D x QB */
#define af_block flash_block
#include "../common/attn_fwd_driver.h"

static int af_ws_extra_alloc(struct af_ws *w, int64_t D)
{
    w->qt = af_ws_alloc(D * QB);
    w->pt = af_ws_alloc(NK * QB);
    w->ot = af_ws_alloc(D * QB);
    return w->qt && w->pt && w->ot;
}

static void af_ws_extra_free(struct af_ws *w)
{
    cb_free(w->qt);
    cb_free(w->pt);
    cb_free(w->ot);
}

// Lanes [0, n) set, as a maskload/maskstore mask.
static inline __m256i lanes(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// S^T (KT keys x 16 rows of one group) for keys [j, j+KT) into pt (rows of
// QB, at the group's column); keys past Lk read key Lk-1 (their lanes are
// masked: a row never sees past Lk). Keys a lane does not see become -inf
// when `masked`; bmax takes the max.
static inline __attribute__((always_inline)) void
st_tile(const float *qt, const float *k, int64_t D, int64_t lk, int64_t j, int masked,
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
static inline __attribute__((always_inline)) void
pv_tile(const float *pt, const float *vp, int64_t D, int64_t nk, int mr, int first,
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

// One block of up to QB query rows [i0, i0+nr) of one head; k is the kv
// head's K (Lk x D) in place.
static void flash_block(const struct cb_attn_args *a, const float *q, const float *k,
                        int64_t ldk, const float *v, float *o, float *lse, int64_t i0,
                        int64_t nr, struct af_ws *w)
{
    const int64_t D = a->head_dim, Lk = a->seq_kv;
    const float scale = a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)D);
    const float qscale = scale * 1.44269504088896341f;  // log2(e): softmax in base 2
    float *qt = w->qt, *pt = w->pt, *ot = w->ot;
    (void)ldk;
    int32_t vis[QB];
    int64_t vmax = 0, vmin = INT64_MAX;
    for (int r = 0; r < QB; r++) {
        const int64_t n = r < nr ? cb_attn_visible_keys(a, i0 + r) : 0;
        vis[r] = (int32_t)n;
        vmax = n > vmax ? n : vmax;
        vmin = n < vmin ? n : vmin;
    }
    // Q^T, times scale log2(e), lanes past nr zero: 8x8 blocks transposed in
    // registers
    const __m256 vqs = _mm256_set1_ps(qscale);
    for (int r0 = 0; r0 < QB; r0 += 8)
        for (int64_t x0 = 0; x0 < D; x0 += 8) {
            const int w8 = D - x0 < 8 ? (int)(D - x0) : 8;
            const __m256i cm = lanes(w8);
            __m256 t[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                t[i] = r0 + i < nr ? _mm256_mul_ps(vqs, _mm256_maskload_ps(q + (r0 + i) * D + x0, cm))
                                   : _mm256_setzero_ps();
            transpose8_256(t);
#pragma GCC unroll 8
            for (int i = 0; i < w8; i++)
                _mm256_store_ps(qt + (x0 + i) * QB + r0, t[i]);
        }
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256i visv[6];
    __m256 m[6], l[6];
    for (int c = 0; c < 6; c++) {
        visv[c] = _mm256_loadu_si256((const __m256i *)(vis + 8 * c));
        m[c] = ninf;
        l[c] = _mm256_setzero_ps();
    }

    for (int64_t j0 = 0; j0 < vmax; j0 += NK) {
        const int64_t nk = vmax - j0 < NK ? vmax - j0 : NK;
        if (j0 + NK >= vmax) {
            // Last key block: fetch this block's O rows (written next) and
            // the head's next 48 query rows, as attn_avx512.c does.
            const int64_t qend = i0 + nr + QB < a->seq_q ? nr + QB : a->seq_q - i0;
            for (int64_t r = 0; r < nr; r++)
                for (int64_t x = 0; x < D; x += 16)
                    _mm_prefetch((const char *)(o + (i0 + r) * D + x), _MM_HINT_T0);
            for (int64_t e = nr * D; e < qend * D; e += 16)
                _mm_prefetch((const char *)(q + e), _MM_HINT_T1);
        }
        __m256 bmax[6];
        for (int c = 0; c < 6; c++)
            bmax[c] = ninf;
        // the three 16-row groups in turn reuse the K tile from L1
        for (int64_t jt = 0; jt < nk; jt += KT)
            for (int g = 0; g < 3; g++) {
                if (j0 + jt + KT > vmin)
                    st_tile(qt + 16 * g, k, D, Lk, j0 + jt, 1, visv + 2 * g, bmax + 2 * g,
                            pt + jt * QB + 16 * g);
                else
                    st_tile(qt + 16 * g, k, D, Lk, j0 + jt, 0, visv + 2 * g, bmax + 2 * g,
                            pt + jt * QB + 16 * g);
            }
        // Rows that have seen nothing keep m = -inf and subtract 0 (2^-inf = 0).
        __m256 ms[6], corr[6], sum[6];
        for (int c = 0; c < 6; c++) {
            const __m256 mn = _mm256_max_ps(m[c], bmax[c]);
            ms[c] = _mm256_blendv_ps(mn, _mm256_setzero_ps(), _mm256_cmp_ps(mn, ninf, _CMP_EQ_OQ));
            corr[c] = exp2_256(_mm256_sub_ps(m[c], ms[c]));
            sum[c] = _mm256_setzero_ps();
            m[c] = mn;
        }
        for (int64_t j = 0; j < nk; j++)
#pragma GCC unroll 6
            for (int c = 0; c < 6; c++) {
                float *pp = pt + j * QB + 8 * c;
                const __m256 p = exp2_256(_mm256_sub_ps(_mm256_load_ps(pp), ms[c]));
                _mm256_store_ps(pp, p);
                sum[c] = _mm256_add_ps(sum[c], p);
            }
        for (int c = 0; c < 6; c++)
            l[c] = _mm256_fmadd_ps(l[c], corr[c], sum[c]);
        // O^T(D, QB) = corr O^T + V_blk^T P^T, KT columns of D per tile, the
        // three groups in turn reusing the V tile from L1
        const float *vb = v + j0 * D;
        for (int64_t x = 0; x < D; x += KT) {
            const int mr = D - x < KT ? (int)(D - x) : KT;
            for (int g = 0; g < 3; g++) {
                const float *pg = pt + 16 * g;
                float *og = ot + x * QB + 16 * g;
                if (mr < KT)
                    pv_tile(pg, vb + x, D, nk, mr, j0 == 0, corr + 2 * g, og);
                else if (j0 == 0)
                    pv_tile(pg, vb + x, D, nk, KT, 1, corr + 2 * g, og);
                else
                    pv_tile(pg, vb + x, D, nk, KT, 0, corr + 2 * g, og);
            }
        }
    }
    if (vmax == 0)  // no row sees a key: ot was never written
        memset(ot, 0, (size_t)(D * QB) * sizeof *ot);
    // O = O^T / l, transposed back in 8x8 blocks; rows with l = 0 get 0
    for (int c = 0; c < 6 && 8 * c < nr; c++) {
        const __m256 pos = _mm256_cmp_ps(l[c], _mm256_setzero_ps(), _CMP_GT_OQ);
        const __m256 inv = _mm256_and_ps(pos, _mm256_div_ps(_mm256_set1_ps(1.0f), l[c]));
        for (int64_t x0 = 0; x0 < D; x0 += 8) {
            const int w8 = D - x0 < 8 ? (int)(D - x0) : 8;
            const __m256i cm = lanes(w8);
            __m256 t[8];
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                t[i] = i < w8 ? _mm256_mul_ps(inv, _mm256_load_ps(ot + (x0 + i) * QB + 8 * c))
                              : _mm256_setzero_ps();
            transpose8_256(t);
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                if (8 * c + i < nr)
                    _mm256_maskstore_ps(o + (i0 + 8 * c + i) * D + x0, cm, t[i]);
        }
    }
    if (lse) {
        float mr[QB], lr[QB];
        for (int c = 0; c < 6; c++) {
            _mm256_storeu_ps(mr + 8 * c, m[c]);
            _mm256_storeu_ps(lr + 8 * c, l[c]);
        }
        for (int64_t r = 0; r < nr; r++)
            lse[i0 + r] = lr[r] > 0.0f ? mr[r] * 0.693147180559945309f + logf(lr[r]) : -INFINITY;
    }
}

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
