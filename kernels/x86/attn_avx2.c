// attn_avx2.c: flash-attention forward, f32, AVX2+FMA; compiled with
// -mavx2 -mfma only and selected at run time when CPUID and XCR0 allow it
// (and on AVX-512 machines when CHIPBENCH_ISA=avx2 caps the dispatcher).
//
// attn_f32_avx2_flash: query rows broadcast and keys along the lanes, the
// layout attn_avx512.c had before it moved the query rows onto the lanes.
// This kernel already runs at 82-86% of the AVX2 FMA peak at L >= 1024, so
// that move would gain little here. Tiles over keys with an online softmax,
// so the (Lq, Lk) score matrix is never materialized: per thread it holds
// K^T of one head (packed once per head as panels of 16 keys x D, so a
// subtile streams contiguous memory) and a 6-row output block.
//   S = Q_blk K_blk^T    6 query rows x 128 keys as up to eight 6x16 register
//                        tiles (the 6x16 tile of gemm_avx2.c: 12 ymm
//                        accumulators, 2 K^T vectors, 1 broadcast of the
//                        block's Q, packed transposed and pre-multiplied by
//                        scale * log2 e), masked and stored to a 6 x 128
//                        strip in L1; each tile's epilogue also keeps the
//                        rows' running maxima
//   online softmax       per row over the strip, in log2 units: P = 2^(S - m)
//                        with running max m and sum l; when m grows, l and O
//                        are rescaled by 2^(m_old - m) (one vector for all
//                        rows)
//   O += P V_blk         6 rows x 16 columns of D per pass (12 ymm), V rows
//                        as vectors, P broadcast; masked passes for D % 16
// Causal (bottom-right aligned, cb_attn_visible_keys) masks keys to -inf and
// skips the 16-key subtiles no row of the query block can see. A row that
// sees no key gets O = 0 and lse = -inf; lse = ln 2 (m + log2 l).
// exp: 2^x = 2^n 2^r, 2^n built by shifting n + 127 into the exponent field
// (AVX2 has no vscalefps), 2^r by Cephes exp2f's degree-6 polynomial on
// [-1/2, 1/2], about 2 ulp; the log2 domain saves exp's range reduction.
// Inputs are <= 0 and clamped at -127, which gives exactly 0 (-inf included).
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

#define BR 6   // query rows per block
#define BC 128 // keys per block (8 subtiles of 16)

// K (Lk, D) of one kv head -> kt: per 16 keys a panel (D, 16), zero beyond
// Lk; a 16-key subtile then streams 64 contiguous bytes per step of D (a
// (D, Lk) layout put the rows 4 KiB apart when Lk = 1024: every row in one
// L1 set).
static void pack_kt(const float *k, int64_t lk, int64_t d, float *kt, int64_t ldk)
{
    for (int64_t j0 = 0; j0 < ldk; j0 += 16) {
        float *panel = kt + j0 * d;
        const int64_t nk = lk - j0 < 16 ? (lk - j0 > 0 ? lk - j0 : 0) : 16;
        for (int64_t x = 0; x < d; x++) {
            int64_t j = 0;
            for (; j < nk; j++)
                panel[x * 16 + j] = k[(j0 + j) * d + x];
            for (; j < 16; j++)
                panel[x * 16 + j] = 0.0f;
        }
    }
}

// S for BR rows x 16 keys: qt (D x BR, scaled) times kp (a D x 16 panel),
// masked (keys >= lim[r] -> -inf when `mask`) and stored to sp (rows of BC);
// rmax (BR x 8) takes the running lane-wise maximum of each row.
static inline __attribute__((always_inline)) void
qk_sub(const float *qt, const float *kp, int64_t D, float *sp, const int64_t *lim, int mask,
       float *rmax)
{
    __m256 s[BR][2];
#pragma GCC unroll 6
    for (int r = 0; r < BR; r++)
        s[r][0] = s[r][1] = _mm256_setzero_ps();
    for (int64_t x = 0; x < D; x++, kp += 16, qt += BR) {
        const __m256 k0 = _mm256_loadu_ps(kp), k1 = _mm256_loadu_ps(kp + 8);
#pragma GCC unroll 6
        for (int r = 0; r < BR; r++) {
            const __m256 qv = _mm256_broadcast_ss(qt + r);
            s[r][0] = _mm256_fmadd_ps(qv, k0, s[r][0]);
            s[r][1] = _mm256_fmadd_ps(qv, k1, s[r][1]);
        }
    }
    if (mask) {
        const __m256i i0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i i1 = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
        const __m256 ninf = _mm256_set1_ps(-INFINITY);
#pragma GCC unroll 6
        for (int r = 0; r < BR; r++) {
            const __m256i vl = _mm256_set1_epi32((int)(lim[r] < 0 ? 0 : lim[r] > 16 ? 16 : lim[r]));
            s[r][0] = _mm256_blendv_ps(ninf, s[r][0], _mm256_castsi256_ps(_mm256_cmpgt_epi32(vl, i0)));
            s[r][1] = _mm256_blendv_ps(ninf, s[r][1], _mm256_castsi256_ps(_mm256_cmpgt_epi32(vl, i1)));
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < BR; r++) {
        _mm256_storeu_ps(sp + r * BC, s[r][0]);
        _mm256_storeu_ps(sp + r * BC + 8, s[r][1]);
        _mm256_store_ps(rmax + 8 * r, _mm256_max_ps(_mm256_load_ps(rmax + 8 * r),
                                                     _mm256_max_ps(s[r][0], s[r][1])));
    }
}

// ob(BR rows, ldo) += P(BR x nk, rows of BC) V(nk rows, ldv) for nv vectors
// (8 columns each) of D; `left` columns remain from vp on (masked when
// `tail`). Inlined with constant nv and tail, so each case gets its own loop.
static inline __attribute__((always_inline)) void
pv_chunk(const int nv, const int tail, const float *pb, const float *vp, int64_t ldv, int64_t nk,
         float *ob, int64_t ldo, int64_t left)
{
    __m256i mk[2];
#pragma GCC unroll 2
    for (int c = 0; c < nv; c++)
        mk[c] = lane_mask(left - 8 * c);
    // Every loop over the register arrays is unrolled in full: a loop left
    // rolled makes GCC keep acc[][] on the stack.
    __m256 acc[BR][2];
#pragma GCC unroll 6
    for (int r = 0; r < BR; r++)
#pragma GCC unroll 2
        for (int c = 0; c < nv; c++)
            acc[r][c] = _mm256_setzero_ps();
    for (int64_t j = 0; j < nk; j++, vp += ldv, pb++) {
        __m256 vv[2];
#pragma GCC unroll 2
        for (int c = 0; c < nv; c++)
            vv[c] = tail ? _mm256_maskload_ps(vp + 8 * c, mk[c]) : _mm256_loadu_ps(vp + 8 * c);
#pragma GCC unroll 6
        for (int r = 0; r < BR; r++) {
            const __m256 pv = _mm256_broadcast_ss(pb + r * BC);
#pragma GCC unroll 2
            for (int c = 0; c < nv; c++)
                acc[r][c] = _mm256_fmadd_ps(pv, vv[c], acc[r][c]);
        }
    }
    // ob has ldo >= D rounded up to 8 columns: the padding takes zeros.
#pragma GCC unroll 6
    for (int r = 0; r < BR; r++)
#pragma GCC unroll 2
        for (int c = 0; c < nv; c++) {
            float *op = ob + r * ldo + 8 * c;
            _mm256_storeu_ps(op, _mm256_add_ps(_mm256_loadu_ps(op), acc[r][c]));
        }
}

// One block of up to BR query rows [i0, i0+nr) of one head.
static void flash_block(const struct cb_attn_args *a, const float *q, const float *kt,
                        int64_t ldk, const float *v, float *o, float *lse, int64_t i0,
                        int64_t nr, float *work)
{
    const int64_t D = a->head_dim;
    const int64_t ldo = (D + 7) / 8 * 8;  // D rounded up to 8
    // O block (BR x ldo), P strip (BR x BC), Q^T (D x BR)
    float *ob = work, *pb = ob + BR * ldo, *qt = pb + BR * BC;
    (void)ldk;  // the panels of kt are 16 keys wide
    // Scores in log2 units: Q pre-multiplied by scale * log2(e), so P = 2^(s - m).
    const float scale = (a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)D)) * 1.44269504088896341f;
    float m[BR], l[BR];
    int64_t vis[BR], vmax = 0, vmin = INT64_MAX;
    for (int r = 0; r < BR; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;
        vis[r] = r < nr ? cb_attn_visible_keys(a, i0 + r) : 0;
        vmax = vis[r] > vmax ? vis[r] : vmax;
        vmin = vis[r] < vmin ? vis[r] : vmin;
    }
    // Q^T of the block, scaled (rows past nr are zero: their keys are masked).
    for (int64_t x = 0; x < D; x++)
        for (int r = 0; r < BR; r++)
            qt[x * BR + r] = r < nr ? scale * q[r * D + x] : 0.0f;
    memset(ob, 0, (size_t)(BR * ldo) * sizeof *ob);

    for (int64_t j0 = 0; j0 < vmax; j0 += BC) {
        const int64_t nk = vmax - j0 < BC ? vmax - j0 : BC;  // keys any row sees
        const int nsub = (int)((nk + 15) / 16);
        const int mask = j0 + BC > vmin;
        int64_t lim[BR];
        _Alignas(32) float rmax[BR * 8];
        for (int r = 0; r < BR; r++) {
            lim[r] = vis[r] - j0;
            _mm256_store_ps(rmax + 8 * r, _mm256_set1_ps(-INFINITY));
        }
        // S = Q K^T, 16 keys at a time
        for (int c = 0; c < nsub; c++) {
            qk_sub(qt, kt + (j0 + 16 * c) * D, D, pb + 16 * c, lim, mask, rmax);
            for (int r = 0; r < BR; r++)
                lim[r] -= 16;
        }
        // Online softmax over the strip, P in place (log2 domain): the new
        // running maxima first, then the corrections 2^(m_old - m_new) of all
        // rows in one vector (0 where m_old = -inf: -inf and NaN give 0).
        const int nvec = 2 * nsub;
        float mnew[8] = {0}, mold[8] = {0}, corr[8];
        for (int r = 0; r < BR; r++) {
            const float bm = hmax256(_mm256_load_ps(rmax + 8 * r));
            mold[r] = m[r];
            mnew[r] = bm > m[r] ? bm : m[r];
        }
        _mm256_storeu_ps(corr, exp2_256(_mm256_sub_ps(_mm256_loadu_ps(mold), _mm256_loadu_ps(mnew))));
        for (int r = 0; r < BR; r++) {
            float *pr = pb + r * BC;
            if (mnew[r] == -INFINITY) {  // nothing visible yet in this row
                for (int c = 0; c < nvec; c++)
                    _mm256_storeu_ps(pr + 8 * c, _mm256_setzero_ps());
                continue;
            }
            const __m256 vm = _mm256_set1_ps(mnew[r]);
            __m256 sum0 = _mm256_setzero_ps(), sum1 = _mm256_setzero_ps();
            for (int c = 0; c < nvec; c += 2) {
                const __m256 p0 = exp2_256(_mm256_sub_ps(_mm256_loadu_ps(pr + 8 * c), vm));
                const __m256 p1 = exp2_256(_mm256_sub_ps(_mm256_loadu_ps(pr + 8 * c + 8), vm));
                _mm256_storeu_ps(pr + 8 * c, p0);
                _mm256_storeu_ps(pr + 8 * c + 8, p1);
                sum0 = _mm256_add_ps(sum0, p0);
                sum1 = _mm256_add_ps(sum1, p1);
            }
            l[r] = l[r] * corr[r] + hsum256(_mm256_add_ps(sum0, sum1));
            m[r] = mnew[r];
            if (corr[r] != 1.0f) {
                const __m256 vc = _mm256_set1_ps(corr[r]);
                float *orow = ob + r * ldo;
                for (int64_t x = 0; x < ldo; x += 8)
                    _mm256_storeu_ps(orow + x, _mm256_mul_ps(vc, _mm256_loadu_ps(orow + x)));
            }
        }
        // O += P V for the keys of this block, 16 columns of D at a time.
        const float *vb = v + j0 * D;
        int64_t x0 = 0;
        for (; x0 + 16 <= D; x0 += 16)
            pv_chunk(2, 0, pb, vb + x0, D, nk, ob + x0, ldo, 16);
        if (D - x0 > 8)
            pv_chunk(2, 1, pb, vb + x0, D, nk, ob + x0, ldo, D - x0);
        else if (D - x0 == 8)
            pv_chunk(1, 0, pb, vb + x0, D, nk, ob + x0, ldo, 8);
        else if (D > x0)
            pv_chunk(1, 1, pb, vb + x0, D, nk, ob + x0, ldo, D - x0);
    }
    for (int64_t r = 0; r < nr; r++) {
        const float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
        for (int64_t x = 0; x < D; x++)
            o[(i0 + r) * D + x] = ob[r * ldo + x] * inv;
        if (lse)
            lse[i0 + r] = l[r] > 0.0f ? (m[r] + log2f(l[r])) * 0.693147180559945309f : -INFINITY;
    }
}

// Per thread: the O block (BR x D rounded up to 8), the P strip (BR x BC)
// and Q^T (D x BR).
static int64_t work_floats(int64_t D)
{
    return BR * ((D + 7) / 8 * 8) + BR * BC + BR * D;
}

// The shared driver: plan, workspaces, the threads' split of heads and blocks.
#define AF_BR BR
#define AF_KALIGN 16
#define af_pack_kt pack_kt
#define af_work_floats work_floats
#define af_block flash_block
#include "../common/attn_fwd_driver.h"

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
        .desc = "flash attention forward: 6x16 ymm tiles over 64-key blocks, online softmax, "
                "O(L*D) memory, pinned threads",
    },
    {.name = NULL},
};
