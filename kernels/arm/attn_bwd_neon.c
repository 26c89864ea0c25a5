// attn_bwd_neon.c: flash-attention backward, f32, AArch64 Advanced SIMD
// (NEON). NEON is baseline on AArch64; the Makefile compiles this file (and
// defines CB_HAVE_NEON) only when $(CC) targets aarch64.
//
// attn_bwd_f32_neon_flash (FlashAttention-2 backward from lse, one pass, no
// atomics), the structure of attn_bwd_avx512.c with NEON tiles: the unit of
// work is KB = 4 key blocks of BC = 48 keys of one kv head; its owner thread
// walks every query row that sees them, for every query head of the GQA
// group, in chunks of RCH = 64 rows. Per chunk Q^T and dO^T are packed once
// (D x RCH, reused by the KB blocks) together with the rows' visible key
// counts, -lse and Di. Per (chunk, key block):
//   A  S^T = K_j Q_c^T, P = exp(scale S - lse); dP^T = V_j dO_c^T,
//      dS = scale P (dP - Di). Register tile 12 keys x 8 rows (24 q
//      accumulators, K^T/V^T panel lanes by element, Q^T/dO^T rows as
//      vectors: the forward's S^T tile). Rows run along the lanes, so -lse,
//      Di and the causal limit are vectors; each 4x4 block of the tile is
//      also stored transposed (trn1/trn2), which gives both layouts the
//      products below need: P, dS as (rows, keys) strips and dS^T as a
//      (keys, rows) strip.
//   B  dV_j += P^T dO_c, dK_j += dS^T Q_c      reduction over the chunk's rows
//   C  dQ_c += dS K_j                           reduction over the 48 keys
//      8 x 12 register tiles (8 output rows by element from the strips, 12
//      columns of D as vectors), 8x2 / 8x1 tiles and a D % 4 tail.
// dK_j/dV_j are owned by the block's thread; dQ rows are owned by the thread
// that owns the whole group (threads over kv-head groups) or, when there are
// too few groups for the threads, each thread sums into a private dQ partial
// of the group that the threads reduce after a barrier (the x86 scheme).
// Causal (bottom-right aligned, cb_attn_visible_keys): a key block starts at
// its first query row that sees it; masked keys get P = dS = 0 (bit select
// on the key index against the rows' counts). Rows with lse = -inf (they see
// no key) get P = 0 and so dQ = 0. exp_neon, the product tiles and the S^T
// tile come from attn_neon_common.h (shared with the forward).
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

#define BC 48         // keys per block (multiple of 12 and 8)
#define KT 12         // keys per phase-A register tile
#define RCH 64        // query rows per chunk (multiple of 8)
#define QW (RCH + 8)  // packed chunk width: a block's rows may start mid-chunk
#define KB 4          // key blocks per sweep over the query rows

// buf (12 keys x 8 rows, buf[j*8 + r]) -> out[r*ldo + j], 4x4 blocks transposed
// in registers.
static void store_transposed(const float *buf, float *out, int64_t ldo)
{
    for (int q = 0; q < KT / 4; q++)
        for (int h = 0; h < 2; h++) {
            const float *b = buf + (4 * q) * 8 + 4 * h;
            const float32x4_t x0 = vld1q_f32(b), x1 = vld1q_f32(b + 8);
            const float32x4_t x2 = vld1q_f32(b + 16), x3 = vld1q_f32(b + 24);
            const float32x4_t t0 = vtrn1q_f32(x0, x1), t1 = vtrn2q_f32(x0, x1);
            const float32x4_t t2 = vtrn1q_f32(x2, x3), t3 = vtrn2q_f32(x2, x3);
            float *o = out + (4 * h) * ldo + 4 * q;
            vst1q_f32(o, vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t0),
                                                          vreinterpretq_f64_f32(t2))));
            vst1q_f32(o + ldo, vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t1),
                                                                vreinterpretq_f64_f32(t3))));
            vst1q_f32(o + 2 * ldo, vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t0),
                                                                    vreinterpretq_f64_f32(t2))));
            vst1q_f32(o + 3 * ldo, vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t1),
                                                                    vreinterpretq_f64_f32(t3))));
        }
}

// Phase A for `nrows` rows of a chunk and the key block at ju (nk keys).
// qt, dot: Q^T and dO^T (D x QW), vis/nl/dd: the rows' visible key counts
// (0 for lse = -inf), -lse and Di, all offset to the first row. kt, vt: the
// block's K^T, V^T panels (D x BC). Out: ps[t*BC + j] = P, dss[t*BC + j] = dS,
// dst[j*RCH + t] = dS (scaled), for rows up to nrows rounded up to 8 and keys
// up to nk rounded up to 12 (the extra ones 0).
static void phase_a(int64_t D, float scale, const float *qt, const float *dot,
                    const int32_t *vis, const float *nl, const float *dd, const float *kt,
                    const float *vt, int64_t ju, int64_t nk, int64_t nrows, float *ps,
                    float *dss, float *dst)
{
    float sbuf[KT * 8], pbuf[KT * 8];
    const float32x4_t vs = vdupq_n_f32(scale);
    const int32x4_t vju = vdupq_n_s32((int32_t)ju);
    for (int64_t tt = 0; tt < nrows; tt += 8) {
        const int32x4_t lim0 = vsubq_s32(vld1q_s32(vis + tt), vju);
        const int32x4_t lim1 = vsubq_s32(vld1q_s32(vis + tt + 4), vju);
        const float32x4_t nl0 = vld1q_f32(nl + tt), nl1 = vld1q_f32(nl + tt + 4);
        const float32x4_t dd0 = vld1q_f32(dd + tt), dd1 = vld1q_f32(dd + tt + 4);
        for (int64_t jt = 0; jt < nk; jt += KT) {
            st_tile(qt + tt, QW, kt + jt, BC, D, 1.0f, sbuf);
            for (int j = 0; j < KT; j++) {
                const int32x4_t vj = vdupq_n_s32((int32_t)(jt + j));
                const uint32x4_t k0 = vcgtq_s32(lim0, vj), k1 = vcgtq_s32(lim1, vj);
                const float32x4_t p0 = exp_neon(vfmaq_f32(nl0, vld1q_f32(sbuf + j * 8), vs));
                const float32x4_t p1 = exp_neon(vfmaq_f32(nl1, vld1q_f32(sbuf + j * 8 + 4), vs));
                vst1q_f32(pbuf + j * 8,
                          vreinterpretq_f32_u32(vandq_u32(k0, vreinterpretq_u32_f32(p0))));
                vst1q_f32(pbuf + j * 8 + 4,
                          vreinterpretq_f32_u32(vandq_u32(k1, vreinterpretq_u32_f32(p1))));
            }
            store_transposed(pbuf, ps + tt * BC + jt, BC);
            st_tile(dot + tt, QW, vt + jt, BC, D, 1.0f, sbuf);
            for (int j = 0; j < KT; j++) {
                const float32x4_t p0 = vmulq_f32(vld1q_f32(pbuf + j * 8), vs);
                const float32x4_t p1 = vmulq_f32(vld1q_f32(pbuf + j * 8 + 4), vs);
                const float32x4_t d0 = vmulq_f32(p0, vsubq_f32(vld1q_f32(sbuf + j * 8), dd0));
                const float32x4_t d1 = vmulq_f32(p1, vsubq_f32(vld1q_f32(sbuf + j * 8 + 4), dd1));
                vst1q_f32(sbuf + j * 8, d0);
                vst1q_f32(sbuf + j * 8 + 4, d1);
                vst1q_f32(dst + (jt + j) * RCH + tt, d0);
                vst1q_f32(dst + (jt + j) * RCH + tt + 4, d1);
            }
            store_transposed(sbuf, dss + tt * BC + jt, BC);
        }
    }
}

// Chunk (n rows of X, D) -> xt (D, QW), zero beyond n.
static void pack_chunk(const float *x, int64_t n, int64_t D, float *xt)
{
    for (int64_t t = 0; t < n; t++)
        for (int64_t d = 0; d < D; d++)
            xt[d * QW + t] = x[t * D + d];
    for (int64_t d = 0; d < D; d++)
        for (int64_t t = n; t < QW; t++)
            xt[d * QW + t] = 0.0f;
}

// Di = rowsum(dO * O) for n rows of D.
static void ab_compute_di(const float *dout, const float *o, int64_t n, int64_t D, float *di)
{
    for (int64_t i = 0; i < n; i++) {
        float32x4_t acc = vdupq_n_f32(0.0f);
        int64_t x = 0;
        for (; x + 4 <= D; x += 4)
            acc = vfmaq_f32(acc, vld1q_f32(dout + i * D + x), vld1q_f32(o + i * D + x));
        float s = vaddvq_f32(acc);
        for (; x < D; x++)
            s += dout[i * D + x] * o[i * D + x];
        di[i] = s;
    }
}

// The shared driver (plan, workspaces, key-block sweep, threads, split mode),
// with the packed chunk as extra per-thread workspace.
#define AB_BC BC
#define AB_RCH RCH
#define AB_KB KB
#define AB_WS_EXTRA                                                                 \
    float *qt, *dot;   /* Q^T, dO^T of a chunk: D x QW */                            \
    int32_t *vis;      /* the chunk's rows: visible keys (0 when lse = -inf), QW */  \
    float *nl, *dd;    /* the chunk's rows: -lse (0 when -inf) and Di, QW */         \
    float *dst;        /* dS^T strip: BC x RCH */
#include "../common/attn_bwd_driver.h"

static int ab_ws_extra_alloc(struct ab_ws *w, int64_t D)
{
    w->qt = ab_ws_alloc(D * QW);
    w->dot = ab_ws_alloc(D * QW);
    w->vis = (int32_t *)ab_ws_alloc(QW);  // int32_t and float are both 4 bytes
    w->nl = ab_ws_alloc(QW);
    w->dd = ab_ws_alloc(QW);
    w->dst = ab_ws_alloc(BC * RCH);
    return w->qt && w->dot && w->vis && w->nl && w->dd && w->dst;
}

static void ab_ws_extra_free(struct ab_ws *w)
{
    cb_free(w->qt);
    cb_free(w->dot);
    cb_free(w->vis);
    cb_free(w->nl);
    cb_free(w->dd);
    cb_free(w->dst);
}

// Pack the chunk's Q^T, dO^T once for its key blocks, with the rows' visible
// key counts, -lse and Di (0 for rows past n and rows with lse = -inf).
static void ab_chunk(const struct cb_attn_args *a, struct ab_ws *w, const float *q,
                     const float *dout, const float *lse, const float *di, int64_t c0, int64_t n)
{
    const int64_t D = a->head_dim;
    pack_chunk(q + c0 * D, n, D, w->qt);
    pack_chunk(dout + c0 * D, n, D, w->dot);
    for (int64_t t = 0; t < QW; t++) {
        const int live = t < n && lse[c0 + t] != -INFINITY;
        w->vis[t] = live ? (int32_t)cb_attn_visible_keys(a, c0 + t) : 0;
        w->nl[t] = live ? -lse[c0 + t] : 0.0f;
        w->dd[t] = live ? di[c0 + t] : 0.0f;
    }
}

static void ab_block(const struct cb_attn_args *a, float scale, struct ab_ws *w, const float *q,
                     const float *dout, const float *lse, const float *di, const float *k,
                     int64_t u, int64_t c0, int64_t r0, int64_t nrows, int64_t ju, int64_t nk,
                     float *dk, float *dv, float *dq)
{
    const int64_t D = a->head_dim, t0 = r0 - c0;
    (void)lse;
    (void)di;
    phase_a(D, scale, w->qt + t0, w->dot + t0, w->vis + t0, w->nl + t0, w->dd + t0,
            w->kt + u * D * BC, w->vt + u * D * BC, ju, nk, nrows, w->ps, w->dss, w->dst);
    // B: dV_j(nk, D) += P^T dO_c, dK_j += dS^T Q_c (tile rows = keys)
    gemm_cols(w->ps, BC, dout + r0 * D, D, nrows, dv + ju * D, D, nk, D);
    gemm_cols(w->dss, BC, q + r0 * D, D, nrows, dk + ju * D, D, nk, D);
    // C: dQ_c(nrows, D) += dS K_j (tile rows = queries)
    gemm_cols(w->dst, RCH, k + ju * D, D, nk, dq + r0 * D, D, nrows, D);
}

const struct cb_kernel cb_attn_bwd_neon_kernels[] = {
    {
        .name = "attn_bwd_f32_neon_flash",
        .op = CB_OP_ATTN_BWD,
        .dtype = CB_DTYPE_F32,
        .backend = CB_BACKEND_NEON,
        .isa = CB_ISA_NEON,
        .priority = 20,
        .mr = 8,
        .nr = KT,
        .plan = ab_plan_create,
        .run = ab_run,
        .plan_free = ab_plan_free,
        .desc = "flash attention backward: P recomputed from lse per 48-key block (12x8 S^T "
                "tiles), dK/dV per block, dQ per thread, O(L*D) memory, pinned threads",
    },
    {.name = NULL},
};
