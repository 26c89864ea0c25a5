// tile_avx512.h: the accumulators, k loop and store of an 8x48 f32 tile,
// shared by the f32 and bf16 AVX-512 GEMM kernels. Include only from files
// compiled with the AVX-512 flags; static inline and macros only, so nothing
// is shared across ISA objects.
#ifndef CHIPBENCH_TILE_AVX512_H
#define CHIPBENCH_TILE_AVX512_H

#include <immintrin.h>
#include <stdint.h>

// Declares acc[8][3] (zmm0-23 once allocated) and zeroes it. A macro, not an
// inline function taking the array: that variant changed register allocation
// around the kernels, and they are tuned as they stand.
#define TILE_8X48_ACC(acc)                                                     \
    __m512 acc[8][3];                                                          \
    _Pragma("GCC unroll 8") for (int r_ = 0; r_ < 8; r_++)                     \
        _Pragma("GCC unroll 3") for (int v_ = 0; v_ < 3; v_++)                 \
            acc[r_][v_] = _mm512_setzero_ps()

// One k step of an 8 x 16 NV tile (NV = 1 to 3 vectors a row, a constant
// after inlining; 3 is the 8x48 tile): acc[r][v] += A_ELEM * b[16 v, 16 v +
// 16) for the NV aligned vectors at b and each row r's scalar A_ELEM (an
// expression in r), the A value broadcast once into NV FMAs. MID is a
// statement placed between the loads and the FMAs (the GEMM kernels'
// prefetches).
#define TILE_8XV_STEP(acc, b, A_ELEM, NV, MID)                                 \
    do {                                                                       \
        const __m512 b0_ = _mm512_load_ps(b);                                  \
        const __m512 b1_ = (NV) > 1 ? _mm512_load_ps((b) + 16) : b0_;          \
        const __m512 b2_ = (NV) > 2 ? _mm512_load_ps((b) + 32) : b0_;          \
        MID;                                                                   \
        _Pragma("GCC unroll 8") for (int r = 0; r < 8; r++)                    \
        {                                                                      \
            const __m512 av_ = _mm512_set1_ps(A_ELEM);                         \
            acc[r][0] = _mm512_fmadd_ps(av_, b0_, acc[r][0]);                  \
            if ((NV) > 1)                                                      \
                acc[r][1] = _mm512_fmadd_ps(av_, b1_, acc[r][1]);              \
            if ((NV) > 2)                                                      \
                acc[r][2] = _mm512_fmadd_ps(av_, b2_, acc[r][2]);              \
        }                                                                      \
    } while (0)
#define TILE_8XV_FMA(acc, b, A_ELEM, NV) TILE_8XV_STEP(acc, b, A_ELEM, NV, (void)0)
#define TILE_8X48_STEP(acc, b, A_ELEM, MID) TILE_8XV_STEP(acc, b, A_ELEM, 3, MID)
#define TILE_8X48_FMA(acc, b, A_ELEM) TILE_8XV_STEP(acc, b, A_ELEM, 3, (void)0)

// Lead, in k steps, of the last C-tile prefetch before the tile is stored.
#ifndef TILE_CPF_LEAD
#define TILE_CPF_LEAD 64
#endif

// The k loop of an 8x48 tile: runs the statement(s) given as the variadic
// argument (one k step, advancing the caller's A and B pointers) kg times,
// and over the last TILE_CPF_LEAD + 48 steps prefetches the tile's 24 lines
// of C, one every 2 steps. When the k loop has several blocks, every block
// after the first loads C before storing it, and C (8 rows of 192 bytes,
// rows ldc apart) is in DRAM for large GEMMs: waiting for those loads at the
// end of each tile cost 3-4% of 2048x4096x4096 and 1024^3 on 1 thread. All
// 24 prefetches at entry instead made the kernel 15% slower (they take every
// L1 miss buffer the B stream needs, probably).
#define TILE_8X48_KLOOP(kg, c, ldc, ...)                                       \
    do {                                                                       \
        int64_t p_ = 0;                                                        \
        for (; p_ < (kg) - TILE_CPF_LEAD - 48; p_++) {                         \
            __VA_ARGS__;                                                       \
        }                                                                      \
        const float *cp_ = (c);                                                \
        int v_ = 0;                                                            \
        for (int i_ = 0; i_ < 24 && p_ + 2 <= (kg); i_++, p_ += 2) {           \
            {                                                                  \
                __VA_ARGS__;                                                   \
            }                                                                  \
            {                                                                  \
                __VA_ARGS__;                                                   \
            }                                                                  \
            _mm_prefetch((const char *)(cp_ + 16 * v_), _MM_HINT_T0);          \
            if (++v_ == 3) {                                                   \
                v_ = 0;                                                        \
                cp_ += (ldc);                                                  \
            }                                                                  \
        }                                                                      \
        for (; p_ < (kg); p_++) {                                              \
            __VA_ARGS__;                                                       \
        }                                                                      \
    } while (0)

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

// The accumulators of an edge tile (gemm_avx512.c, gemm_bf16_avx512.c):
// 8 rows of up to 2 zmm, in two sets for even and odd k steps, which with
// one zmm a row keep 16 FMA chains in flight instead of 8.
#define TILE_8XV_EDGE_ACC(acc)                                                 \
    __m512 acc[2][8][2];                                                       \
    _Pragma("GCC unroll 2") for (int s_ = 0; s_ < 2; s_++)                     \
        _Pragma("GCC unroll 8") for (int r_ = 0; r_ < 8; r_++)                 \
            _Pragma("GCC unroll 2") for (int v_ = 0; v_ < 2; v_++)             \
                acc[s_][r_][v_] = _mm512_setzero_ps()

// One k step of an edge tile into accumulator set s (nv = 1 or 2 vectors a
// row): acc[s][r][v] = MADD(acc[s][r][v], AV(r), LOAD(v)), T the vector type
// of AV and LOAD (__m512 for f32 FMAs, __m512bh for bf16 pair dot products),
// then the expression ADV (advance the operand pointers and the step count).
#define TILE_8XV_EDGE_STEP(acc, s, nv, T, LOAD, AV, MADD, ADV)                 \
    do {                                                                       \
        const T b0_ = LOAD(0);                                                 \
        const T b1_ = (nv) > 1 ? LOAD(1) : b0_;                                \
        _Pragma("GCC unroll 8") for (int r_ = 0; r_ < 8; r_++)                 \
        {                                                                      \
            const T a_ = AV(r_);                                               \
            acc[s][r_][0] = MADD(acc[s][r_][0], a_, b0_);                      \
            if ((nv) > 1)                                                      \
                acc[s][r_][1] = MADD(acc[s][r_][1], a_, b1_);                  \
        }                                                                      \
        (void)(ADV);                                                           \
    } while (0)

// The k loop of an edge tile: STEP(set) does one k step (and advances p)
// into accumulator set 0 or 1; with ns == 2 the sets alternate.
#define TILE_8XV_EDGE_KLOOP(ns, kg, p, STEP)                                   \
    do {                                                                       \
        if ((ns) == 2)                                                         \
            while ((p) + 2 <= (kg)) {                                          \
                STEP(0);                                                       \
                STEP(1);                                                       \
            }                                                                  \
        while ((p) < (kg))                                                     \
            STEP(0);                                                           \
    } while (0)

// C(8, cols) = alpha * acc + beta * C for an edge tile of cols <= 16 nv
// columns (masked loads and stores), acc[0] plus acc[1] when ns == 2 (two
// accumulator sets, even and odd k steps); beta == 0 must not read C.
static inline __attribute__((always_inline)) void
tile_store_8xv(const int nv, const int ns, __m512 acc[2][8][2], int64_t cols, float *c,
               int64_t ldc, float alpha, float beta)
{
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++)
#pragma GCC unroll 2
        for (int v = 0; v < nv; v++) {
            const int64_t left = cols - 16 * v;
            const __mmask16 m = (__mmask16)((1u << (left < 16 ? (int)left : 16)) - 1);
            float *cr = c + r * ldc + 16 * v;
            __m512 x = acc[0][r][v];
            if (ns == 2)
                x = _mm512_add_ps(x, acc[1][r][v]);
            x = _mm512_mul_ps(va, x);
            if (beta != 0.0f)
                x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, cr), x);
            _mm512_mask_storeu_ps(cr, m, x);
        }
}

#endif
