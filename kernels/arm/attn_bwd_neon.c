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
// no key) get P = 0 and so dQ = 0. exp: the forward's exp_neon.
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

#define BC 48         // keys per block (multiple of 12 and 8)
#define KT 12         // keys per phase-A register tile
#define RCH 64        // query rows per chunk (multiple of 8)
#define QW (RCH + 8)  // packed chunk width: a block's rows may start mid-chunk
#define KB 4          // key blocks per sweep over the query rows

// 2^n * p(r) as in attn_neon.c: clamped to [-87.3, 88], 0 below -87.3.
static inline float32x4_t exp_neon(float32x4_t x)
{
    const float32x4_t lo = vdupq_n_f32(-87.3f);
    const uint32x4_t under = vcltq_f32(x, lo);  // also -inf: exp is 0
    x = vminq_f32(vmaxq_f32(x, lo), vdupq_n_f32(88.0f));
    const float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    // n in [-126, 127]: 2^n is a normal float
    const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    p = vmulq_f32(p, vreinterpretq_f32_s32(e));
    return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(p), under));
}

// Product tiles (as in attn_neon.c; noinline keeps their loops spill-free) -----
// c(rows r < nr of 8, columns of the tile) += sum_{t < T} a[t*ats + r] b[t*ldb + col]:
// a holds 8 rows per step (lanes, used by element), b a row of columns
// (vectors). Rows >= nr of a may hold anything (their sums are not stored).

#define Z4 vdupq_n_f32(0.0f)
#define DECL8(c) float32x4_t c##0 = Z4, c##1 = Z4, c##2 = Z4, c##3 = Z4, c##4 = Z4, \
                 c##5 = Z4, c##6 = Z4, c##7 = Z4
#define FMA8(c, b)                                                                 \
    do {                                                                           \
        c##0 = vfmaq_laneq_f32(c##0, b, a0, 0); c##1 = vfmaq_laneq_f32(c##1, b, a0, 1); \
        c##2 = vfmaq_laneq_f32(c##2, b, a0, 2); c##3 = vfmaq_laneq_f32(c##3, b, a0, 3); \
        c##4 = vfmaq_laneq_f32(c##4, b, a1, 0); c##5 = vfmaq_laneq_f32(c##5, b, a1, 1); \
        c##6 = vfmaq_laneq_f32(c##6, b, a1, 2); c##7 = vfmaq_laneq_f32(c##7, b, a1, 3); \
    } while (0)
#define ST1(c, r, col)                                                             \
    do {                                                                           \
        if ((r) < nr) {                                                            \
            float *cp_ = c_out + (r) * ldc + (col);                                \
            vst1q_f32(cp_, vaddq_f32(vld1q_f32(cp_), c##r));                       \
        }                                                                          \
    } while (0)
#define ST8(c, col)                                                                \
    do {                                                                           \
        ST1(c, 0, col); ST1(c, 1, col); ST1(c, 2, col); ST1(c, 3, col);            \
        ST1(c, 4, col); ST1(c, 5, col); ST1(c, 6, col); ST1(c, 7, col);            \
    } while (0)

static __attribute__((noinline)) void
tile_8x3(const float *a, int64_t ats, const float *b, int64_t ldb, int64_t T, float *c_out,
         int64_t ldc, int64_t nr)
{
    DECL8(x); DECL8(y); DECL8(z);
    for (int64_t t = 0; t < T; t++, a += ats, b += ldb) {
        const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
        FMA8(x, b0);
        FMA8(y, b1);
        FMA8(z, b2);
    }
    ST8(x, 0);
    ST8(y, 4);
    ST8(z, 8);
}

static __attribute__((noinline)) void
tile_8x2(const float *a, int64_t ats, const float *b, int64_t ldb, int64_t T, float *c_out,
         int64_t ldc, int64_t nr)
{
    DECL8(x); DECL8(y);
    for (int64_t t = 0; t < T; t++, a += ats, b += ldb) {
        const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);
        FMA8(x, b0);
        FMA8(y, b1);
    }
    ST8(x, 0);
    ST8(y, 4);
}

static __attribute__((noinline)) void
tile_8x1(const float *a, int64_t ats, const float *b, int64_t ldb, int64_t T, float *c_out,
         int64_t ldc, int64_t nr)
{
    DECL8(x);
    for (int64_t t = 0; t < T; t++, a += ats, b += ldb) {
        const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        const float32x4_t b0 = vld1q_f32(b);
        FMA8(x, b0);
    }
    ST8(x, 0);
}

// The last nc < 4 columns: vectors run over the 8 rows, b is read as scalars.
static __attribute__((noinline)) void
tile_8xtail(int nc, const float *a, int64_t ats, const float *b, int64_t ldb, int64_t T,
            float *c_out, int64_t ldc, int64_t nr)
{
    float32x4_t u0 = Z4, u1 = Z4, v0 = Z4, v1 = Z4, w0 = Z4, w1 = Z4;
    for (int64_t t = 0; t < T; t++, a += ats, b += ldb) {
        const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        const float b0 = b[0], b1 = nc > 1 ? b[1] : 0.0f, b2 = nc > 2 ? b[2] : 0.0f;
        u0 = vfmaq_n_f32(u0, a0, b0); u1 = vfmaq_n_f32(u1, a1, b0);
        v0 = vfmaq_n_f32(v0, a0, b1); v1 = vfmaq_n_f32(v1, a1, b1);
        w0 = vfmaq_n_f32(w0, a0, b2); w1 = vfmaq_n_f32(w1, a1, b2);
    }
    float s[3][8];
    vst1q_f32(s[0], u0); vst1q_f32(s[0] + 4, u1);
    vst1q_f32(s[1], v0); vst1q_f32(s[1] + 4, v1);
    vst1q_f32(s[2], w0); vst1q_f32(s[2] + 4, w1);
    for (int64_t r = 0; r < nr && r < 8; r++)
        for (int col = 0; col < nc; col++)
            c_out[r * ldc + col] += s[col][r];
}

// c(rows, D) += A B over all D columns: row tiles of 8 (a + r0 holds the
// lanes of rows r0..r0+7), column chunks of 12, 8 or 4 and a scalar tail.
static __attribute__((noinline)) void
gemm_cols(const float *a, int64_t ats, const float *b, int64_t ldb, int64_t T, float *c,
          int64_t ldc, int64_t rows, int64_t D)
{
    int64_t x0 = 0;
    while (x0 < D) {
        const int64_t vecs = (D - x0) / 4;
        const int nv = vecs == 4 ? 2 : vecs >= 3 ? 3 : (int)vecs;
        for (int64_t r0 = 0; r0 < rows; r0 += 8) {
            const float *ar = a + r0;
            float *cr = c + r0 * ldc + x0;
            switch (nv) {
            case 3: tile_8x3(ar, ats, b + x0, ldb, T, cr, ldc, rows - r0); break;
            case 2: tile_8x2(ar, ats, b + x0, ldb, T, cr, ldc, rows - r0); break;
            case 1: tile_8x1(ar, ats, b + x0, ldb, T, cr, ldc, rows - r0); break;
            default: tile_8xtail((int)(D - x0), ar, ats, b + x0, ldb, T, cr, ldc, rows - r0); break;
            }
        }
        x0 += nv ? 4 * nv : D - x0;
    }
}

// Raw S^T tile: st[j*8 + r] = sum_x a[x*lda + r] k[x*ldk + j], 12 keys j, 8 rows r.
static __attribute__((noinline)) void
st_tile(const float *a, int64_t lda, const float *k, int64_t ldk, int64_t D, float *st)
{
    DECL8(x); DECL8(y); DECL8(z);  // x/y/z: key vector 0/1/2; digit: key lane*2 + row half
#define KEYS(c, kv)                                                                \
    do {                                                                           \
        c##0 = vfmaq_laneq_f32(c##0, a0, kv, 0); c##1 = vfmaq_laneq_f32(c##1, a1, kv, 0); \
        c##2 = vfmaq_laneq_f32(c##2, a0, kv, 1); c##3 = vfmaq_laneq_f32(c##3, a1, kv, 1); \
        c##4 = vfmaq_laneq_f32(c##4, a0, kv, 2); c##5 = vfmaq_laneq_f32(c##5, a1, kv, 2); \
        c##6 = vfmaq_laneq_f32(c##6, a0, kv, 3); c##7 = vfmaq_laneq_f32(c##7, a1, kv, 3); \
    } while (0)
    for (int64_t t = 0; t < D; t++, a += lda, k += ldk) {
        const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
        const float32x4_t k0 = vld1q_f32(k), k1 = vld1q_f32(k + 4), k2 = vld1q_f32(k + 8);
        KEYS(x, k0);
        KEYS(y, k1);
        KEYS(z, k2);
    }
#undef KEYS
#define ST_KEYS(c, j)                                                              \
    do {                                                                           \
        vst1q_f32(st + ((j) + 0) * 8, c##0); vst1q_f32(st + ((j) + 0) * 8 + 4, c##1); \
        vst1q_f32(st + ((j) + 1) * 8, c##2); vst1q_f32(st + ((j) + 1) * 8 + 4, c##3); \
        vst1q_f32(st + ((j) + 2) * 8, c##4); vst1q_f32(st + ((j) + 2) * 8 + 4, c##5); \
        vst1q_f32(st + ((j) + 3) * 8, c##6); vst1q_f32(st + ((j) + 3) * 8 + 4, c##7); \
    } while (0)
    ST_KEYS(x, 0);
    ST_KEYS(y, 4);
    ST_KEYS(z, 8);
#undef ST_KEYS
}

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
            st_tile(qt + tt, QW, kt + jt, BC, D, sbuf);
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
            st_tile(dot + tt, QW, vt + jt, BC, D, sbuf);
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
