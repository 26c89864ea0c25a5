// gemm_reg.cl: f32 GEMM for CPU-like OpenCL devices (PoCL and the like),
// C(M,N) = alpha * A B + beta * C on packed, zero-padded operands.
//
// What it is: one work-item per MR x (NV*VW) register tile, written with
// explicit wide vectors (floatVW) so a CPU device compiles it to the same
// broadcast-FMA microkernel a hand-written SIMD GEMM uses: per k, MR
// broadcasts of A times NV vectors of B. No local memory, no barriers: on a
// CPU the caches do the blocking. Work-items of a group run x-fastest on one
// core, so LX neighbouring column tiles reuse the same A panel while their B
// panels stay in L2 across the group's LY row tiles.
// What it is not: a GPU kernel (one work-item per tile wastes a GPU) and not
// bounds-checked on the inputs: the host packs A as AT (K, Mp) and B as
// (K, Np), zero-padded to the tile (pad.cl, inside the timed call). C is
// written with bounds checks.
#ifndef MR
#define MR 8
#endif
#ifndef VW
#define VW 16
#endif
#ifndef NV
#define NV 2
#endif
#define NR (NV * VW)

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define floatV CAT(float, VW)
// IN_F16=1: A and B stored as IEEE half, read with vload_half (core OpenCL,
// no cl_khr_fp16 needed); arithmetic stays f32 (see gemm_tiled.cl).
#ifndef IN_F16
#define IN_F16 0
#endif
#if IN_F16
#define GIN half
#define LOADV(v, p) CAT(vload_half, VW)(v, p)
#define LOAD1(i, p) vload_half(i, p)
#else
#define GIN float
#define LOADV(v, p) CAT(vload, VW)(v, p)
#define LOAD1(i, p) ((p)[i])
#endif

__kernel void gemm_reg(int M, int N, int K, float alpha, float beta,
                       __global const GIN *restrict AT, int lda_t,
                       __global const GIN *restrict B, int ldb,
                       __global float *restrict C, int ldc)
{
    const int j0 = get_global_id(0) * NR, i0 = get_global_id(1) * MR;
    if (i0 >= M || j0 >= N)
        return;
    floatV acc[MR][NV];
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++)
            acc[i][v] = (floatV)(0.0f);

    __global const GIN *a = AT + i0;
    __global const GIN *b = B + j0;
    for (int k = 0; k < K; k++) {
        floatV bv[NV];
#pragma unroll
        for (int v = 0; v < NV; v++)
            bv[v] = LOADV(v, b);
#pragma unroll
        for (int i = 0; i < MR; i++) {
            floatV ai = (floatV)(LOAD1(i, a));
#pragma unroll
            for (int v = 0; v < NV; v++)
                acc[i][v] = fma(ai, bv[v], acc[i][v]);
        }
        a += lda_t;
        b += ldb;
    }

    for (int i = 0; i < MR && i0 + i < M; i++) {
        __global float *c = C + (size_t)(i0 + i) * ldc + j0;
        for (int v = 0; v < NV; v++) {
            float t[VW];
            CAT(vstore, VW)(acc[i][v] * alpha, 0, t);
            for (int e = 0; e < VW; e++) {
                int col = v * VW + e;
                if (j0 + col < N)
                    c[col] = beta == 0.0f ? t[e] : fma(beta, c[col], t[e]);
            }
        }
    }
}
