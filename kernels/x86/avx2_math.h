// avx2_math.h: vector math shared by the AVX2 attention kernels (attn_avx2.c,
// attn_bwd_avx2.c). Include only from files compiled with -mavx2 -mfma;
// static inline so nothing is shared across ISA objects.
#ifndef CHIPBENCH_AVX2_MATH_H
#define CHIPBENCH_AVX2_MATH_H

#include <immintrin.h>
#include <stdint.h>

#include "exp2_poly.h"

// 2^x for x in [-127, 127]: 2^n (n = round(x), built by shifting n + 127 into
// the exponent field: AVX2 has no vscalefps) times 2^r, r in [-1/2, 1/2], by
// EXP2_POLY (about 2 ulp). At x = -127 the exponent field becomes 0 and the
// result exactly 0 (the true value is a denormal).
// 7 multiplies/FMAs per vector: the callers' scores come pre-multiplied by
// log2(e), so there is no range reduction by ln 2.
static inline __m256 exp2_256_core(__m256 x)
{
    const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 r = _mm256_sub_ps(x, n);
    const __m256 p = EXP2_POLY(_mm256_fmadd_ps, _mm256_set1_ps, r);
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// 2^x for x <= 0 (the forward), clamped at -127: -inf from the mask, and
// anything below about -126.5, gives exactly 0.
static inline __m256 exp2_256(__m256 x)
{
    return exp2_256_core(_mm256_max_ps(x, _mm256_set1_ps(-127.0f)));
}

// 2^x clamped to [-127, 127] (the backward: x = log2(e) (scale s - lse) may
// round to just above 0).
static inline __m256 exp2_256_sat(__m256 x)
{
    return exp2_256_core(_mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f)));
}

static inline float hmax256(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
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

// Transposes the 8x8 block of floats held in r[0..7] (row i in r[i]) in
// place: 32-bit interleaves, 64-bit shuffles, then 128-bit lane swaps.
static inline __attribute__((always_inline)) void transpose8_256(__m256 r[8])
{
    __m256 t[8], u[8];
#pragma GCC unroll 4
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 2
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

// Lanes [0, n) of 8 set, as a maskload/maskstore mask (n in [0, 8]).
static inline __m256i cols8(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// One 8x8 block through the registers: rows [0, dn) of dst (row stride ldd,
// the columns in dmask) = f times the transpose of rows [0, sn) of src (row
// stride lds, the columns in smask; rows past sn and masked columns read as
// 0). sn and dn may be <= 0 or > 8.
static inline __attribute__((always_inline)) void
transpose8_256_io(const float *src, int64_t lds, int sn, __m256i smask, __m256 f, float *dst,
                  int64_t ldd, int dn, __m256i dmask)
{
    __m256 t[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        t[i] = i < sn ? _mm256_mul_ps(f, _mm256_maskload_ps(src + i * lds, smask))
                      : _mm256_setzero_ps();
    transpose8_256(t);
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        if (i < dn)
            _mm256_maskstore_ps(dst + i * ldd, dmask, t[i]);
}

#endif
