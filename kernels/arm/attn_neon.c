// attn_neon.c: flash-attention forward, f32, AArch64 Advanced SIMD (NEON).
// NEON is baseline on AArch64; the Makefile compiles this file (and defines
// CB_HAVE_NEON) only when $(CC) targets aarch64.
//
// attn_f32_neon_flash: tiles over keys with an online softmax, so the
// (Lq, Lk) score matrix is never materialized. Per thread: K^T of one kv
// head (D x ldk, packed once per head), Q^T of an 8-row query block (D x 8),
// the block's P^T (48 keys x 8 rows) and its 8 x D output accumulator.
//   S^T = K_blk Q_blk^T   12 keys x 8 query rows per register tile: 24 q
//                         accumulators (key j, rows 4h..4h+3), per D step
//                         2 vectors of Q^T (the 8 rows) and 3 of K^T (the
//                         12 keys, used by lane: fmla by element), 29 of the
//                         32 v registers, as the 8x12 GEMM tile. The tile is
//                         transposed on purpose: query rows along the lanes
//                         make the online softmax vertical (running max m,
//                         sum l and the rescale factor are 2 vectors each,
//                         no horizontal reductions) and P^T is already the
//                         packed A operand of the next product.
//   online softmax        per 48-key block: masked max, p = exp(s - m_new),
//                         l = l exp(m_old - m_new) + sum p, O rescaled only
//                         when some row's max grew
//   O += P V_blk          8 rows x 12 columns of D per register tile (24
//                         accumulators, P^T lanes by element, V rows as
//                         vectors); 8x2 and 8x1 tiles for the rest of D and a
//                         vector-over-rows tail for D % 4 columns, so any D
//                         works without padding or reads past V.
// Causal (bottom-right aligned, cb_attn_visible_keys): keys past a row's
// visible count get -inf (compare of the key index against the rows' counts,
// 2 int vectors); key blocks no row of the block sees are skipped. A row that
// sees no key gets O = 0 and lse = -inf. exp_neon (0 below -87.3, so -inf, a
// masked key, gives exactly 0), the product tiles and the S^T tile are in
// attn_neon_common.h (shared with the backward).
// Threads (cb_pool): whole heads per thread when there are enough heads, else
// the query blocks of each head round-robin (which balances a causal triangle).
#include <arm_neon.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_kernel.h"
#include "chipbench/cb_pool.h"
#include "chipbench/cb_util.h"
#include "../kernel_tables.h"
#include "attn_neon_common.h"

#define BR 8   // query rows per block (2 vectors)
#define KT 12  // keys per S^T register tile (3 vectors)
#define BC 48  // keys per online-softmax block (4 tiles)

// K (Lk, D) of one kv head -> kt (D, ldk), zero beyond Lk.
static void pack_kt(const float *k, int64_t lk, int64_t d, float *kt, int64_t ldk)
{
    for (int64_t j = 0; j < lk; j++)
        for (int64_t x = 0; x < d; x++)
            kt[x * ldk + j] = k[j * d + x];
    for (int64_t x = 0; x < d; x++)
        for (int64_t j = lk; j < ldk; j++)
            kt[x * ldk + j] = 0.0f;
}

// The shared driver: plan, workspaces, the threads' split of heads and blocks.
#define AF_BR BR
#define AF_KALIGN BC
#define AF_WS_EXTRA                                         \
    float *qt;  /* Q^T of the block, D x 8 */                \
    float *pt;  /* S^T then P^T of a key block, BC x 8 */    \
    float *ob;  /* unnormalized O of the block, 8 x D */
#define af_pack_kt pack_kt
#define af_block flash_block
#include "../common/attn_fwd_driver.h"

static inline int all_ones(float32x4_t c0, float32x4_t c1)
{
    const float32x4_t one = vdupq_n_f32(1.0f);
    const uint32x4_t eq = vandq_u32(vceqq_f32(c0, one), vceqq_f32(c1, one));
    return vminvq_u32(eq) != 0;
}

// One block of up to 8 query rows [i0, i0+nr) of one head.
static void flash_block(const struct cb_attn_args *a, const float *q, const float *kt,
                        int64_t ldk, const float *v, float *o, float *lse, int64_t i0,
                        int64_t nr, struct af_ws *w)
{
    const int64_t D = a->head_dim;
    const float scale = a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)D);
    float *qt = w->qt, *pt = w->pt, *ob = w->ob;
    int32_t vis[BR];
    int64_t vmax = 0, vmin = INT64_MAX;
    for (int r = 0; r < BR; r++) {
        const int64_t n = r < nr ? cb_attn_visible_keys(a, i0 + r) : 0;
        vis[r] = (int32_t)n;
        vmax = n > vmax ? n : vmax;
        vmin = n < vmin ? n : vmin;
    }
    // Q^T of the block, rows past nr zero
    for (int64_t x = 0; x < D; x++)
        for (int r = 0; r < BR; r++)
            qt[x * BR + r] = r < nr ? q[r * D + x] : 0.0f;
    memset(ob, 0, (size_t)(BR * D) * sizeof *ob);
    const int32x4_t vis0 = vld1q_s32(vis), vis1 = vld1q_s32(vis + 4);
    const float32x4_t ninf = vdupq_n_f32(-INFINITY);
    float32x4_t m0 = ninf, m1 = ninf, l0 = Z4, l1 = Z4;

    for (int64_t j0 = 0; j0 < vmax; j0 += BC) {
        const int64_t nk = vmax - j0 < BC ? vmax - j0 : BC;
        for (int64_t jt = 0; jt < nk; jt += KT)
            st_tile(qt, BR, kt + j0 + jt, ldk, D, scale, pt + jt * BR);
        // mask (only when some row of the block does not see all nk keys) and max
        float32x4_t b0 = ninf, b1 = ninf;
        if (j0 + nk > vmin) {
            for (int64_t j = 0; j < nk; j++) {
                const int32x4_t vj = vdupq_n_s32((int32_t)(j0 + j));
                float32x4_t s0 = vld1q_f32(pt + j * BR), s1 = vld1q_f32(pt + j * BR + 4);
                s0 = vbslq_f32(vcgtq_s32(vis0, vj), s0, ninf);
                s1 = vbslq_f32(vcgtq_s32(vis1, vj), s1, ninf);
                vst1q_f32(pt + j * BR, s0);
                vst1q_f32(pt + j * BR + 4, s1);
                b0 = vmaxq_f32(b0, s0);
                b1 = vmaxq_f32(b1, s1);
            }
        } else {
            for (int64_t j = 0; j < nk; j++) {
                b0 = vmaxq_f32(b0, vld1q_f32(pt + j * BR));
                b1 = vmaxq_f32(b1, vld1q_f32(pt + j * BR + 4));
            }
        }
        const float32x4_t mn0 = vmaxq_f32(m0, b0), mn1 = vmaxq_f32(m1, b1);
        // rows that saw nothing yet keep m = -inf: subtract 0 there (exp(-inf) = 0)
        const float32x4_t ms0 = vbslq_f32(vceqq_f32(mn0, ninf), Z4, mn0);
        const float32x4_t ms1 = vbslq_f32(vceqq_f32(mn1, ninf), Z4, mn1);
        const float32x4_t c0 = exp_neon(vsubq_f32(m0, ms0)), c1 = exp_neon(vsubq_f32(m1, ms1));
        float32x4_t s0 = Z4, s1 = Z4;
        for (int64_t j = 0; j < nk; j++) {
            const float32x4_t p0 = exp_neon(vsubq_f32(vld1q_f32(pt + j * BR), ms0));
            const float32x4_t p1 = exp_neon(vsubq_f32(vld1q_f32(pt + j * BR + 4), ms1));
            vst1q_f32(pt + j * BR, p0);
            vst1q_f32(pt + j * BR + 4, p1);
            s0 = vaddq_f32(s0, p0);
            s1 = vaddq_f32(s1, p1);
        }
        l0 = vfmaq_f32(s0, l0, c0);
        l1 = vfmaq_f32(s1, l1, c1);
        m0 = mn0;
        m1 = mn1;
        if (j0 > 0 && !all_ones(c0, c1)) {  // some row's max grew: rescale its O
            float cr[BR];
            vst1q_f32(cr, c0);
            vst1q_f32(cr + 4, c1);
            for (int64_t r = 0; r < nr; r++) {
                if (cr[r] == 1.0f)
                    continue;
                const float32x4_t vc = vdupq_n_f32(cr[r]);
                float *orow = ob + r * D;
                int64_t x = 0;
                for (; x + 4 <= D; x += 4)
                    vst1q_f32(orow + x, vmulq_f32(vc, vld1q_f32(orow + x)));
                for (; x < D; x++)
                    orow[x] *= cr[r];
            }
        }
        // O(8, D) += P(8, nk) V(nk, D): P^T rows are the packed A operand
        gemm_cols(pt, BR, v + j0 * D, D, nk, ob, D, nr, D);
    }
    float mr[BR], lr[BR];
    vst1q_f32(mr, m0);
    vst1q_f32(mr + 4, m1);
    vst1q_f32(lr, l0);
    vst1q_f32(lr + 4, l1);
    for (int64_t r = 0; r < nr; r++) {
        const float inv = lr[r] > 0.0f ? 1.0f / lr[r] : 0.0f;
        for (int64_t x = 0; x < D; x++)
            o[(i0 + r) * D + x] = ob[r * D + x] * inv;
        if (lse)
            lse[i0 + r] = lr[r] > 0.0f ? mr[r] + logf(lr[r]) : -INFINITY;
    }
}

static int af_ws_extra_alloc(struct af_ws *w, int64_t D)
{
    w->qt = af_ws_alloc(D * BR);
    w->pt = af_ws_alloc(BC * BR);
    w->ob = af_ws_alloc(BR * D);
    return w->qt && w->pt && w->ob;
}

static void af_ws_extra_free(struct af_ws *w)
{
    cb_free(w->qt);
    cb_free(w->pt);
    cb_free(w->ob);
}

const struct cb_kernel cb_attn_neon_kernels[] = {
    {
        .name = "attn_f32_neon_flash",
        .op = CB_OP_ATTN,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_NEON,
        .isa = CB_ISA_NEON,
        .priority = 20,
        .mr = BR,
        .nr = KT,
        .plan = af_plan_create,
        .run = af_run,
        .plan_free = af_plan_free,
        .desc = "flash attention forward: 12-key x 8-row S^T tiles, online softmax over 48 keys, "
                "O(L*D) memory, pinned threads",
    },
    {.name = NULL},
};
