// mma_common.cl: what the matrix-unit kernels (gemm_mma.cl, attn_mma.cl)
// share, prepended to their source by the host (gemm_mma_opencl.c,
// cb_cl_mma_program): the one mma instruction a kernel uses (TF32=0:
// m16n8k16 bf16; TF32=1: m16n8k8 tf32; f32 accumulate) and a butterfly
// shuffle within the warp, each either as inline PTX (NVIDIA, sm_80+) or,
// with MMA_EMULATE=1, written out through local memory exactly as the PTX
// ISA defines it, so the rest of a kernel runs and is checked anywhere.
//
// Fragments (PTX ISA, lane = 4 * g + t), C and D (16 x 8 f32) alike:
//   d[0] = C[g][2t]  d[1] = C[g][2t+1]  d[2] = C[g+8][2t]  d[3] = C[g+8][2t+1]
// m16n8k16 .bf16 (each 32-bit register two bf16, the lower column/row first):
//   A (16 x 16, row): a[0] = A[g][2t..2t+1]   a[1] = A[g+8][2t..2t+1]
//                     a[2] = A[g][2t+8..+9]   a[3] = A[g+8][2t+8..+9]
//   B (16 x 8, col):  b[0] = B[2t..2t+1][g]   b[1] = B[2t+8..+9][g]
// m16n8k8 .tf32 (each register one tf32):
//   A (16 x 8, row):  a[0] = A[g][t]  a[1] = A[g+8][t]  a[2] = A[g][t+4]
//                     a[3] = A[g+8][t+4]
//   B (8 x 8, col):   b[0] = B[t][g]  b[1] = B[t+4][g]
// In the emulation each warp needs 512 floats of local scratch (`scr`) and
// every call (mma_op, shfl_xor, ldsm_x4) is a work-group barrier: all warps
// must make the same calls. ldsm_x4 and ldsm_x4_trans (ldmatrix) and
// cp_async16 (cp.async) are here too, each emulated the same way.
#ifndef MMA_EMULATE
#define MMA_EMULATE 0
#endif
#ifndef TF32
#define TF32 0
#endif
#if TF32
#define KSTEP 8   // k of one mma
#else
#define KSTEP 16
#endif

// In a kernel's outermost scope: `scr`, this warp's scratch for the
// emulation (512 floats of local memory per warp of the NWARPS), NULL when
// the real instructions run.
#if MMA_EMULATE
#define MMA_WARP_SCRATCH(scr, NWARPS, warp)                                                 \
    __local float mma_scratch_[(NWARPS) * 512];                                             \
    __local float *scr = mma_scratch_ + (warp) * 512
#else
#define MMA_WARP_SCRATCH(scr, NWARPS, warp) __local float *scr = 0
#endif

#if MMA_EMULATE
// Element h (0 low, 1 high) of a fragment register: a bf16 half, or the
// whole register as one tf32.
inline float frag(uint r, int h)
{
#if TF32
    (void)h;
    return as_float(r);
#else
    return as_float((h ? r >> 16 : r & 0xffffu) << 16);
#endif
}

// d = A B + c for one 16 x 8 x KSTEP tile, every lane of the warp at once,
// as the PTX instruction defines it: the fragments go to the warp's
// scratch (A 16 x KSTEP, B KSTEP x 8, C 16 x 8 floats) in the documented
// positions (above), each lane then forms its four outputs.
inline void mma_op(float *d, const uint *a, const uint *b, const float *c, int lane,
                   __local float *scr)
{
    __local float *sa = scr, *sb = scr + 256, *sc = scr + 384;
    const int g = lane >> 2, t = lane & 3;
#if TF32
    const int per = 1, k0 = t, k1 = t + 4;          // one tf32 a register
#else
    const int per = 2, k0 = 2 * t, k1 = 2 * t + 8;  // two bf16 a register
#endif
    for (int h = 0; h < per; h++) {
        sa[g * KSTEP + k0 + h] = frag(a[0], h);
        sa[(g + 8) * KSTEP + k0 + h] = frag(a[1], h);
        sa[g * KSTEP + k1 + h] = frag(a[2], h);
        sa[(g + 8) * KSTEP + k1 + h] = frag(a[3], h);
        sb[(k0 + h) * 8 + g] = frag(b[0], h);
        sb[(k1 + h) * 8 + g] = frag(b[1], h);
    }
    sc[g * 8 + 2 * t] = c[0];
    sc[g * 8 + 2 * t + 1] = c[1];
    sc[(g + 8) * 8 + 2 * t] = c[2];
    sc[(g + 8) * 8 + 2 * t + 1] = c[3];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int q = 0; q < 4; q++) {
        const int row = g + (q >> 1) * 8, col = 2 * t + (q & 1);
        float acc = sc[row * 8 + col];
        for (int k = 0; k < KSTEP; k++)
            acc = fma(sa[row * KSTEP + k], sb[k * 8 + col], acc);
        d[q] = acc;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

// The value lane ^ mask holds (a butterfly shuffle within the warp).
inline float shfl_xor(float v, int mask, int lane, __local float *scr)
{
    scr[lane] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    const float r = scr[lane ^ mask];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}
// ldmatrix .x4: four 8 x 8 matrices of 16-bit elements (16 bytes a row, so
// also 8 x 4 of 32-bit ones) from local memory, lane l giving the address of
// row l % 8 of matrix l / 8; lane 4g + t receives in r[i] the 32 bits at
// column t (of 4) of row g of matrix i: exactly the mma fragment register.
// The address is off 32-bit words from base (a 16-byte aligned row).
inline void ldsm_x4(uint *r, __local const uint *base, int off, int lane, __local float *scr)
{
    __local int *addr = (__local int *)scr;
    addr[lane] = off;
    barrier(CLK_LOCAL_MEM_FENCE);
    const int g = lane >> 2, t = lane & 3;
    for (int i = 0; i < 4; i++)
        r[i] = base[addr[8 * i + g] + t];
    barrier(CLK_LOCAL_MEM_FENCE);
}

// ldmatrix .x4 .trans: the same four 8 x 8 matrices of 16-bit elements
// (lane l gives row l % 8 of matrix l / 8, off ushorts from base), each
// transposed: lane 4g + t receives in r[i] rows 2t and 2t + 1 of column g
// of matrix i (the lower half from row 2t), which is the B fragment of a
// matrix stored k-major (rows = k).
inline void ldsm_x4_trans(uint *r, __local const ushort *base, int off, int lane,
                          __local float *scr)
{
    __local int *addr = (__local int *)scr;
    addr[lane] = off;
    barrier(CLK_LOCAL_MEM_FENCE);
    const int g = lane >> 2, t = lane & 3;
    for (int i = 0; i < 4; i++)
        r[i] = (uint)base[addr[8 * i + 2 * t] + g] |
               ((uint)base[addr[8 * i + 2 * t + 1] + g] << 16);
    barrier(CLK_LOCAL_MEM_FENCE);
}

// cp.async of 16 bytes global -> local, and the wait for all of them: here a
// plain copy at issue time (the kernels only read the destination after the
// wait and a barrier).
inline void cp_async16(__local uint4 *dst, __global const uint4 *src)
{
    *dst = *src;
}

inline void cp_async_wait_all(void)
{
}

inline void cp_async_commit(void)
{
}

// Wait until at most n (a constant) committed groups are still in flight.
#define CP_ASYNC_WAIT(n) ((void)0)
#else
// The local address as a 32-bit shared-window address, formed where it is
// used: an address operand must be one register, and left to itself the
// compiler computes every unrolled call's address once, before the loop,
// and keeps them all live (ptxas: spills). The volatile copy of the base
// cannot be hoisted, so each address is an add right before its load.
inline uint smem_addr(__local const void *base, int bytes)
{
    uint b;
    asm volatile("mov.b32 %0, %1;" : "=r"(b) : "r"((uint)(ulong)base));
    return b + (uint)bytes;
}

inline void ldsm_x4(uint *r, __local const uint *base, int off, int lane, __local float *scr)
{
    (void)lane;
    (void)scr;
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(base, off * 4)));
}

inline void ldsm_x4_trans(uint *r, __local const ushort *base, int off, int lane,
                          __local float *scr)
{
    (void)lane;
    (void)scr;
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr(base, off * 2)));
}

// .cg: cached in L2 only, the way a tile that is read once per block wants.
inline void cp_async16(__local uint4 *dst, __global const uint4 *src)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;"
                 :: "r"((uint)(ulong)dst), "l"((ulong)src) : "memory");
}

inline void cp_async_wait_all(void)
{
    asm volatile("cp.async.commit_group;\n\tcp.async.wait_group 0;" ::: "memory");
}

inline void cp_async_commit(void)
{
    asm volatile("cp.async.commit_group;" ::: "memory");
}

#define CP_ASYNC_WAIT(n) asm volatile("cp.async.wait_group %0;" ::"n"(n) : "memory")

#if TF32
#define MMA_PTX "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
#else
#define MMA_PTX "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
#endif
inline void mma_op(float *d, const uint *a, const uint *b, const float *c, int lane,
                   __local float *scr)
{
    (void)lane;
    (void)scr;
    asm volatile(MMA_PTX "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]),
                   "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}

inline float shfl_xor(float v, int mask, int lane, __local float *scr)
{
    (void)lane;
    (void)scr;
    uint r;
    asm volatile("shfl.sync.bfly.b32 %0, %1, %2, 0x1f, 0xffffffff;"
                 : "=r"(r) : "r"(as_uint(v)), "r"(mask));
    return as_float(r);
}
#endif

#if !TF32
// bf16 fragments from f32 values (the attention kernels' P and dS) and from
// memory.

// f32 -> bf16 bits, round to nearest even (finite x).
inline uint to_bf16(float x)
{
    const uint u = as_uint(x);
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

inline uint pack2(float lo, float hi)
{
    return to_bf16(lo) | (to_bf16(hi) << 16);
}

// The A fragment of rows r0 and r0 + 8 (this lane's g rows), columns
// c0 .. c0 + 15 (one k16 step), of a row-major bf16 matrix of ld columns;
// rows >= n read as 0.
inline void frag_a(uint *a, __global const ushort *src, int ld, int c0, int r0, int n, int t)
{
    __global const ushort *p0 = src + (size_t)r0 * ld + c0 + 2 * t;
    __global const ushort *p1 = p0 + 8 * (size_t)ld;
    a[0] = r0 < n ? *(__global const uint *)p0 : 0u;
    a[1] = r0 + 8 < n ? *(__global const uint *)p1 : 0u;
    a[2] = r0 < n ? *(__global const uint *)(p0 + 8) : 0u;
    a[3] = r0 + 8 < n ? *(__global const uint *)(p1 + 8) : 0u;
}

// The query block of an attention work-group (attn_mma.cl, the dQ pass of
// attn_bwd_mma.cl): heaviest blocks first (the last ones under a causal
// mask), then (batch, head) bh; its rows q0 .. q0 + nq - 1 (of `rows`) read
// kv head kvbh (GROUP query heads a kv head).
struct qblock {
    int q0, nq, bh, kvbh;
};

inline struct qblock query_block(int rows, int Lq, int BH, int H, int GROUP)
{
    const int nqb = (Lq + rows - 1) / rows, grp = get_group_id(0);
    struct qblock r;
    r.bh = grp % BH;
    r.q0 = (nqb - 1 - grp / BH) * rows;
    r.nq = min(rows, Lq - r.q0);
    r.kvbh = r.bh / H * (H / GROUP) + r.bh % H / GROUP;
    return r;
}

// The B fragment of columns n0 .. n0 + 7, k rows k0 .. k0 + 15, from a
// local tile stored n-major (T[n][k], ld ushorts a row): the pairs a lane
// needs are adjacent there.
inline void frag_b(uint *b, __local const ushort *T, int ld, int n0, int k0, int g, int t)
{
    __local const ushort *p = T + (n0 + g) * ld + k0 + 2 * t;
    b[0] = *(__local const uint *)p;
    b[1] = *(__local const uint *)(p + 8);
}
#endif
