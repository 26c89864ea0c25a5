// tile_avx512.h: the store of an 8x48 f32 accumulator tile, shared by the
// f32 and bf16 AVX-512 GEMM kernels. Include only from files compiled with
// the AVX-512 flags; static inline so nothing is shared across ISA objects.
#ifndef CHIPBENCH_TILE_AVX512_H
#define CHIPBENCH_TILE_AVX512_H

#include <immintrin.h>
#include <stdint.h>

// C(8,48) = alpha * acc + beta * C; beta == 0 must not read C (it may be NaN).
static inline void tile_store_8x48(float *c, int64_t ldc, __m512 acc[8][3], float alpha,
                                   float beta)
{
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++)
#pragma GCC unroll 3
        for (int v = 0; v < 3; v++) {
            float *cr = c + r * ldc + 16 * v;
            __m512 x = _mm512_mul_ps(va, acc[r][v]);
            if (beta != 0.0f)
                x = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr), x);
            _mm512_storeu_ps(cr, x);
        }
}

#endif
