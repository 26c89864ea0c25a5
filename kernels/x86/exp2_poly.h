// exp2_poly.h: 2^r by degree-6 polynomials, written once for every vector
// width (avx2_math.h, avx512_math.h): FMA and SET1 are that width's fused
// multiply-add and broadcast intrinsics, r a vector.
#ifndef CHIPBENCH_EXP2_POLY_H
#define CHIPBENCH_EXP2_POLY_H

// 1 + c1 r + ... + c6 r^6 by Horner's rule.
#define EXP2_HORNER6(FMA, SET1, r, c6, c5, c4, c3, c2, c1)                                     \
    FMA(FMA(FMA(FMA(FMA(FMA(SET1(c6), r, SET1(c5)), r, SET1(c4)), r, SET1(c3)), r, SET1(c2)),  \
            r, SET1(c1)),                                                                      \
        r, SET1(1.0f))

// r in [-1/2, 1/2]: Cephes exp2f's coefficients (about 2 ulp).
#define EXP2_POLY(FMA, SET1, r)                                                                \
    EXP2_HORNER6(FMA, SET1, r, 1.535336188319500e-4f, 1.339887440266574e-3f,                   \
                 9.618437357674640e-3f, 5.550332471162809e-2f, 2.402264791363012e-1f,          \
                 6.931472028550421e-1f)

// r in [0, 1], for vreduceps's fraction x - floor(x): fitted by least
// squares in relative error on Chebyshev nodes, rounded to float with the
// constant term 1; at most 6.1e-8 relative error in float Horner evaluation
// (0.5 ulp of 1), as EXP2_POLY.
#define EXP2_POLY01(FMA, SET1, r)                                                              \
    EXP2_HORNER6(FMA, SET1, r, 2.169009531e-4f, 1.244323212e-3f, 9.678456001e-3f,              \
                 5.548353121e-2f, 2.402298003e-1f, 6.931470037e-1f)

#endif
