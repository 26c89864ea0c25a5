// attn_neon_common.h: the NEON pieces shared by the flash-attention forward
// (attn_neon.c) and backward (attn_bwd_neon.c): exp_neon, the 8-row product
// tiles with their column driver gemm_cols, and the transposed 12-key x
// 8-row score tile st_tile. Everything is static (each including file gets
// its own copy, compiled with its flags); the tiles are noinline (see below),
// so they are marked unused rather than inline.
//
// exp: 2^n * p(r), n = round(x log2 e) (frintn), r = x - n ln2 (two-part
// ln2), p the Cephes expf polynomial (degree 6 on [-ln2/2, ln2/2], about
// 2 ulp), 2^n built from the exponent bits (integer add and shift); x is
// clamped to [-87.3, 88] and exp is 0 below -87.3 (so -inf, a masked key,
// gives exactly 0).
#ifndef CHIPBENCH_ATTN_NEON_COMMON_H
#define CHIPBENCH_ATTN_NEON_COMMON_H

#include <arm_neon.h>
#include <stdint.h>

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

static __attribute__((noinline, unused)) void
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

static __attribute__((noinline, unused)) void
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

static __attribute__((noinline, unused)) void
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
static __attribute__((noinline, unused)) void
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
static __attribute__((noinline, unused)) void
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
// S^T tile: st[j*8 + r] = scale * sum_x a[x*lda + r] k[x*ldk + j], 12 keys j,
// 8 rows r (rows along the lanes: the tile is transposed on purpose). The
// backward passes scale = 1 (raw scores; x * 1 is exact).
static __attribute__((noinline, unused)) void
st_tile(const float *a, int64_t lda, const float *k, int64_t ldk, int64_t D, float scale,
        float *st)
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

#endif
