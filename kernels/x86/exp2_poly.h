// exp2_poly.h: 2^r for r in [-1/2, 1/2] by Cephes exp2f's degree-6
// polynomial (about 2 ulp), written once for every vector width
// (avx2_math.h, avx512_math.h): FMA and SET1 are that width's fused
// multiply-add and broadcast intrinsics, r a vector.
#ifndef CHIPBENCH_EXP2_POLY_H
#define CHIPBENCH_EXP2_POLY_H

#define EXP2_POLY(FMA, SET1, r)                                                                \
    FMA(FMA(FMA(FMA(FMA(FMA(SET1(1.535336188319500e-4f), r, SET1(1.339887440266574e-3f)), r,   \
                        SET1(9.618437357674640e-3f)),                                          \
                    r, SET1(5.550332471162809e-2f)),                                           \
                r, SET1(2.402264791363012e-1f)),                                               \
            r, SET1(6.931472028550421e-1f)),                                                   \
        r, SET1(1.0f))

// 2^r for r in [0, 1], degree 6, fitted (least squares in relative error on
// Chebyshev nodes, then rounded to float with the constant term 1): at most
// 6.1e-8 relative error in float Horner evaluation (0.5 ulp of 1), as
// EXP2_POLY. For vreduceps, whose fraction x - floor(x) lies in [0, 1].
#define EXP2_POLY01(FMA, SET1, r)                                                              \
    FMA(FMA(FMA(FMA(FMA(FMA(SET1(2.169009531e-4f), r, SET1(1.244323212e-3f)), r,               \
                        SET1(9.678456001e-3f)),                                                \
                    r, SET1(5.548353121e-2f)),                                                 \
                r, SET1(2.402298003e-1f)),                                                     \
            r, SET1(6.931470037e-1f)),                                                         \
        r, SET1(1.0f))

#endif
