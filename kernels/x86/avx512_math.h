// avx512_math.h: vector math shared by the AVX-512 attention kernels
// (attn_avx512.c, attn_bwd_avx512.c). Include only from files compiled with
// the AVX-512 flags; static inline so nothing is shared across ISA objects.
#ifndef CHIPBENCH_AVX512_MATH_H
#define CHIPBENCH_AVX512_MATH_H

#include <immintrin.h>

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

#endif
