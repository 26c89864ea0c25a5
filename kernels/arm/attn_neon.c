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
// sees no key gets O = 0 and lse = -inf. exp: 2^n * p(r), n = round(x log2 e)
// (frintn), r = x - n ln2 (two-part ln2), p the Cephes expf polynomial
// (degree 6 on [-ln2/2, ln2/2], about 2 ulp), 2^n built from the exponent bits
// (integer add and shift); x is clamped to [-87.3, 88] and exp is 0 below
// -87.3 (so -inf, a masked key, gives exactly 0).
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

#define BR 8   // query rows per block (2 vectors)
#define KT 12  // keys per S^T register tile (3 vectors)
#define BC 48  // keys per online-softmax block (4 tiles)

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

// Product tiles ---------------------------------------------------------------
// Each tile (and st_tile below) is its own function (noinline): GCC 12
// otherwise inlines them all into flash_thread, where the caller's live
// values compete for the 32 v registers (q spills appeared there); on their
// own the loops compile to loads + fmla only (the 8x3 tile's 24 accumulators
// use v8-v12 too, saved once per call).
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

// S^T tile: st[j*8 + r] = scale * sum_x qt[x*8 + r] kt[x*ldk + j], 12 keys j.
static __attribute__((noinline)) void
st_tile(const float *qt, const float *kt, int64_t ldk, int64_t D, float scale, float *st)
{
    DECL8(x); DECL8(y); DECL8(z);  // x/y/z: key vector 0/1/2; digit: key lane*2 + row half
#define KEYS(c, kv)                                                                \
    do {                                                                           \
        c##0 = vfmaq_laneq_f32(c##0, a0, kv, 0); c##1 = vfmaq_laneq_f32(c##1, a1, kv, 0); \
        c##2 = vfmaq_laneq_f32(c##2, a0, kv, 1); c##3 = vfmaq_laneq_f32(c##3, a1, kv, 1); \
        c##4 = vfmaq_laneq_f32(c##4, a0, kv, 2); c##5 = vfmaq_laneq_f32(c##5, a1, kv, 2); \
        c##6 = vfmaq_laneq_f32(c##6, a0, kv, 3); c##7 = vfmaq_laneq_f32(c##7, a1, kv, 3); \
    } while (0)
    for (int64_t t = 0; t < D; t++, qt += 8, kt += ldk) {
        const float32x4_t a0 = vld1q_f32(qt), a1 = vld1q_f32(qt + 4);
        const float32x4_t k0 = vld1q_f32(kt), k1 = vld1q_f32(kt + 4), k2 = vld1q_f32(kt + 8);
        KEYS(x, k0);
        KEYS(y, k1);
        KEYS(z, k2);
    }
#undef KEYS
    const float32x4_t vs = vdupq_n_f32(scale);
#define ST_KEYS(c, j)                                                              \
    do {                                                                           \
        vst1q_f32(st + ((j) + 0) * 8, vmulq_f32(c##0, vs));                        \
        vst1q_f32(st + ((j) + 0) * 8 + 4, vmulq_f32(c##1, vs));                    \
        vst1q_f32(st + ((j) + 1) * 8, vmulq_f32(c##2, vs));                        \
        vst1q_f32(st + ((j) + 1) * 8 + 4, vmulq_f32(c##3, vs));                    \
        vst1q_f32(st + ((j) + 2) * 8, vmulq_f32(c##4, vs));                        \
        vst1q_f32(st + ((j) + 2) * 8 + 4, vmulq_f32(c##5, vs));                    \
        vst1q_f32(st + ((j) + 3) * 8, vmulq_f32(c##6, vs));                        \
        vst1q_f32(st + ((j) + 3) * 8 + 4, vmulq_f32(c##7, vs));                    \
    } while (0)
    ST_KEYS(x, 0);
    ST_KEYS(y, 4);
    ST_KEYS(z, 8);
#undef ST_KEYS
}

struct flash_ws {    // one thread's buffers
    float *kt;       // K^T of one kv head, D x ldk
    float *qt;       // Q^T of the block, D x 8
    float *pt;       // S^T then P^T of a key block, BC x 8
    float *ob;       // unnormalized O of the block, 8 x D
};

struct flash_plan {
    struct cb_pool *pool;
    int nt;
    struct flash_ws *ws;
    int64_t ldk;     // Lk rounded up to BC
    const struct cb_attn_args *a;
};

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

static inline int all_ones(float32x4_t c0, float32x4_t c1)
{
    const float32x4_t one = vdupq_n_f32(1.0f);
    const uint32x4_t eq = vandq_u32(vceqq_f32(c0, one), vceqq_f32(c1, one));
    return vminvq_u32(eq) != 0;
}

// One block of up to 8 query rows [i0, i0+nr) of one head.
static void flash_block(const struct cb_attn_args *a, const float *q, const float *kt,
                        int64_t ldk, const float *v, float *o, float *lse, int64_t i0,
                        int64_t nr, struct flash_ws *w)
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
            st_tile(qt, kt + j0 + jt, ldk, D, scale, pt + jt * BR);
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

static void flash_thread(void *arg, int tid, int nt)
{
    struct flash_plan *pl = arg;
    const struct cb_attn_args *a = pl->a;
    const int64_t D = a->head_dim, Lq = a->seq_q, Lk = a->seq_kv;
    const int64_t group = a->heads / a->kv_heads, nblk = (Lq + BR - 1) / BR;
    const int64_t nheads = a->batch * a->heads;
    struct flash_ws *w = &pl->ws[tid];
    // With at least as many heads as threads each thread takes whole heads
    // (K^T packed once per head); otherwise the query blocks of every head
    // are dealt round-robin (which also balances a causal triangle).
    const int by_head = nheads >= nt;
    int64_t packed = -1;  // (b * kv_heads + kvh) whose K^T is in kt
    for (int64_t x = by_head ? tid : 0; x < nheads; x += by_head ? nt : 1) {
        const int64_t b = x / a->heads, h = x % a->heads;
        const int64_t kvid = b * a->kv_heads + h / group;
        const float *q = (const float *)a->q + x * Lq * D;
        const float *v = (const float *)a->v + kvid * Lk * D;
        float *o = (float *)a->o + x * Lq * D;
        float *lse = a->lse ? a->lse + x * Lq : NULL;
        for (int64_t blk = by_head ? 0 : tid; blk < nblk; blk += by_head ? 1 : nt) {
            if (packed != kvid) {
                pack_kt((const float *)a->k + kvid * Lk * D, Lk, D, w->kt, pl->ldk);
                packed = kvid;
            }
            const int64_t i0 = blk * BR, nr = Lq - i0 < BR ? Lq - i0 : BR;
            flash_block(a, q + i0 * D, w->kt, pl->ldk, v, o, lse, i0, nr, w);
        }
    }
}

static void flash_plan_free(void *plan)
{
    struct flash_plan *pl = plan;
    if (!pl)
        return;
    for (int i = 0; pl->ws && i < pl->nt; i++) {
        cb_free(pl->ws[i].kt);
        cb_free(pl->ws[i].qt);
        cb_free(pl->ws[i].pt);
        cb_free(pl->ws[i].ob);
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

static enum cb_status flash_plan_create(const struct cb_kernel *k, const struct cb_plan_req *req,
                                        void **plan)
{
    const struct cb_attn_args *a = &req->shape->u.attn;
    enum cb_status s = CB_OK;
    struct flash_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "attention plan");
    pl->nt = req->threads;
    if ((s = cb_pool_create(req->threads, &pl->pool)) != CB_OK)
        goto out;
    pl->ldk = (a->seq_kv + BC - 1) / BC * BC;
    pl->ws = calloc((size_t)pl->nt, sizeof *pl->ws);
    if (!pl->ws) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "attention plan");
        goto out;
    }
    for (int i = 0; i < pl->nt; i++) {
        struct flash_ws *w = &pl->ws[i];
        w->kt = ws_alloc(a->head_dim * pl->ldk);
        w->qt = ws_alloc(a->head_dim * BR);
        w->pt = ws_alloc(BC * BR);
        w->ob = ws_alloc(BR * a->head_dim);
        if (!w->kt || !w->qt || !w->pt || !w->ob) {
            s = cb_set_error(CB_ERR_NO_MEMORY, "attention K^T buffer (%lld x %lld floats)",
                             (long long)a->head_dim, (long long)pl->ldk);
            goto out;
        }
    }
out:
    if (s != CB_OK) {
        flash_plan_free(pl);
        pl = NULL;
    }
    *plan = pl;
    return s;
}

static enum cb_status flash_run(void *plan, const struct cb_call *call)
{
    struct flash_plan *pl = plan;
    pl->a = &call->u.attn;
    cb_pool_run(pl->pool, flash_thread, pl);
    return CB_OK;
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
        .plan = flash_plan_create,
        .run = flash_run,
        .plan_free = flash_plan_free,
        .desc = "flash attention forward: 12-key x 8-row S^T tiles, online softmax over 48 keys, "
                "O(L*D) memory, pinned threads",
    },
    {.name = NULL},
};
