// avx512_math.h: vector math shared by the AVX-512 attention kernels
// (attn_avx512.c, attn_bwd_avx512.c). Include only from files compiled with
// the AVX-512 flags; static inline so nothing is shared across ISA objects.
#ifndef CHIPBENCH_AVX512_MATH_H
#define CHIPBENCH_AVX512_MATH_H

#include <immintrin.h>
#include <stdint.h>

#include "exp2_poly.h"

// exp(x) = 2^(x log2 e): 2^n (vscalefps) times a degree-6 polynomial on
// [-ln2/2, ln2/2], about 2 ulp; x is clamped at -104 (exp underflows there).
static inline __m512 exp512(__m512 x)
{
    const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
    const __m512 ln2_hi = _mm512_set1_ps(0.693359375f), ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT);
    __m512 r = _mm512_fnmadd_ps(n, ln2_hi, x);
    r = _mm512_fnmadd_ps(n, ln2_lo, r);
    // exp(r) on [-0.35, 0.35]: Taylor-like minimax coefficients (Cephes expf)
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

// 2^x (the attention kernels: scores come pre-multiplied by log2(e), so
// there is no range reduction by ln 2): vreduceps gives r = x - floor(x) in
// [0, 1], and vscalefps multiplies 2^r (EXP2_POLY01, about 1 ulp) by
// 2^floor(x): 8 instructions, where a [-1/2, 1/2] reduction took 3 (clamp,
// round, subtract) for vreduceps's 1. Flash forward, 1 thread, Zen 4, 3
// alternating runs: L = 1024, D = 128 108.5 -> 109.0 GFLOP/s; D = 64,
// H = 4 Hkv 104.3 -> 105.3. -inf, a masked key, reduces to 0 and scales to
// exactly 0, so a row that sees no key sums to 0; NaN stays NaN; x below
// -149 gives 0 and above 128 +inf, as 2^x rounds.
static inline __m512 exp2_512(__m512 x)
{
    const __m512 r = _mm512_reduce_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    return _mm512_scalef_ps(EXP2_POLY01(_mm512_fmadd_ps, _mm512_set1_ps, r), x);
}

// Transposes the 16x16 block of floats held in r[0..15] (row i in r[i]) in
// place: 4 rounds of 16 shuffles (32-bit, 64-bit, 128-bit lane pairs, then
// 256-bit halves) instead of 256 scalar moves.
static inline __attribute__((always_inline)) void transpose16_512(__m512 r[16])
{
    __m512 t[16];
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 16; i += 4)
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m512d a = _mm512_castps_pd(t[i + h]), b = _mm512_castps_pd(t[i + 2 + h]);
            r[i + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
            r[i + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        }
#pragma GCC unroll 2
    for (int i = 0; i < 16; i += 8)
#pragma GCC unroll 4
        for (int h = 0; h < 4; h++) {
            t[i + h] = _mm512_shuffle_f32x4(r[i + h], r[i + 4 + h], 0x88);
            t[i + 4 + h] = _mm512_shuffle_f32x4(r[i + h], r[i + 4 + h], 0xdd);
        }
#pragma GCC unroll 8
    for (int h = 0; h < 8; h++) {
        r[h] = _mm512_shuffle_f32x4(t[h], t[h + 8], 0x88);
        r[h + 8] = _mm512_shuffle_f32x4(t[h], t[h + 8], 0xdd);
    }
}

// Lanes [0, n) of 16 (n in [0, 16]).
static inline __mmask16 cols16(int n)
{
    return (__mmask16)((1u << n) - 1);
}

// One 16x16 block through the registers: rows [0, dn) of dst (row stride
// ldd, the columns in dmask) = f times the transpose of rows [0, sn) of src
// (row stride lds, the columns in smask; rows past sn and masked columns
// read as 0). sn and dn may be <= 0 or > 16.
static inline __attribute__((always_inline)) void
transpose16_512_io(const float *src, int64_t lds, int sn, __mmask16 smask, __m512 f, float *dst,
                   int64_t ldd, int dn, __mmask16 dmask)
{
    __m512 t[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        t[i] = i < sn ? _mm512_mul_ps(f, _mm512_maskz_loadu_ps(smask, src + i * lds))
                      : _mm512_setzero_ps();
    transpose16_512(t);
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        if (i < dn)
            _mm512_mask_storeu_ps(dst + i * ldd, dmask, t[i]);
}

#endif
