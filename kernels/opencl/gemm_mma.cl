// gemm_mma.cl: GEMM on NVIDIA's matrix units from OpenCL, through inline
// PTX (sm_80 and later): C(M,N) = alpha * op(A) op(B) + beta * C with f32
// accumulate and C, and A, B either
//   TF32=0: bf16 bit patterns (ushort), mma.sync.aligned.m16n8k16 .bf16
//   TF32=1: f32, rounded to TF32 (cvt.rna.tf32.f32) as the tiles are stored
//           to local memory, mma.sync.aligned.m16n8k8 .tf32.
//
// What it is: a work-group of 4 warps (2 x 2) owns a BM x BN = 2WM x 2WN
// block of C; per BK = 32 step the next A and B tiles are fetched into
// registers while the current ones (local memory, As[m][k] and Bs[n][k],
// k contiguous, rows padded by 8 bf16 so the fragment reads hit 32 banks)
// are multiplied: each warp a WM x WN tile of 16 x 8 mma tiles.
// Two options (defines, in the autotuner's space):
//   LDM=1  fragments through ldmatrix.x4 (one instruction a 16 x 16 A
//          fragment or two 8 x 16 B ones) instead of 32-bit local loads;
//   NSTG=3 three local stages (k steps of 16) with both tiles copied by
//          cp.async, two steps in flight; 2 (default): double buffering.
//   CPA=1  the next bf16 tiles copied global -> local by cp.async, not
//          staged in registers: the k-contiguous ones (A not transposed, B
//          transposed) always, the others with LDM=1, which keeps them
//          k-major in local memory and reads them by ldmatrix .trans
//          (without it they are scattered on the way; tf32 is rounded on
//          the way: those stay staged).
// What it is not: portable: the
// PTX only builds on NVIDIA's OpenCL. MMA_EMULATE=1 replaces the one PTX
// instruction by the same operation written out per the PTX ISA's fragment
// layout, through local memory, so every other line (tiling, fragment
// loads and stores, layouts, bounds) runs and is checked on any device.
//
// The mma instruction, its fragment layout and its emulation (MMA_EMULATE)
// are in mma_common.cl, which the host prepends to this source.
//
// The host guarantees M % BM, N % BN, K % BK = 0 *for A and B* and rows of
// a multiple of 16 bytes (8 bf16, 4 f32), padding copies otherwise
// (gemm_mma_opencl.c); C is written with bounds checks.
// Layouts: A_T=0: A (M,K), A_T=1: A (K,M); B_T=0: B (K,N), B_T=1: B (N,K).
#ifndef WM
#define WM 64
#endif
#ifndef WN
#define WN 64
#endif
#ifndef A_T
#define A_T 0
#endif
#ifndef LDM
#define LDM 0
#endif
#ifndef CPA
#define CPA 0
#endif
#ifndef NSTG                // local stages: 2, or 3 when cp.async copies both tiles
#define NSTG 2
#endif
// bf16 with ldmatrix: an m- (n-) contiguous operand is kept k-major in local
// memory as it lies in global ([BK][BM + 8]) and read by ldmatrix .trans,
// so no layout is scattered and cp.async can copy every bf16 tile.
#define KMAJ_A (LDM && !TF32 && A_T)
#define KMAJ_B (LDM && !TF32 && !B_T)
#define CPA_A (CPA && !TF32 && (!A_T || KMAJ_A))  // operands cp.async copies as they are
#define CPA_B (CPA && !TF32 && (B_T || KMAJ_B))
#if NSTG != 2 && !(NSTG == 3 && CPA_A && CPA_B)
#error "gemm_mma: NSTG=3 needs cp.async for both tiles (bf16, CPA=1, LDM=1 unless A is (M,K) and B is (N,K))"
#endif
#ifndef B_T
#define B_T 0
#endif
// BK: the k depth of a local tile. tf32 tiles are twice the bytes, so
// they are half as deep: two double-buffered 128-row tiles then take 40 KiB,
// inside the 48 KiB NVIDIA's OpenCL gives a work-group.
#if TF32
#define ELEM float
#define EPV 4               // elements a uint4 holds (16 bytes: an ldmatrix row)
#define EPW 1               // elements a 32-bit word holds
#define BK 16
#define LDS (BK + 4)        // floats a local row: conflict-free fragments
#else
#define ELEM ushort
#define EPV 8
#define EPW 2
#if NSTG > 2
#define BK 16               // three stages of 32 would not fit 48 KiB
#else
#define BK 32
#endif
#define LDS (BK + 8)        // ushorts a local row: 80 (48) bytes, conflict-free fragments
#endif

#define BM (2 * WM)
#define BN (2 * WN)
#define LKA (BM + 8)        // elements a k-major A row (KMAJ_A)
#define LKB (BN + 8)
#define SA (KMAJ_A ? BK * LKA : BM * LDS)  // elements of one A stage
#define SB (KMAJ_B ? BK * LKB : BN * LDS)
#define NT 128
#define MI (WM / 16)        // m16 tiles a warp
#define NI (WN / 8)         // n8 tiles a warp
#define LA (BM * BK / EPV / NT)  // uint4 loads a thread per A tile
#define LB (BN * BK / EPV / NT)

#if WM % 16 || WN % 16 || LA < 1 || LB < 1 || LA * EPV * NT != BM * BK || LB * EPV * NT != BN * BK
#error "gemm_mma: WM % 16, WN % 16 and whole uint4 loads per thread"
#endif

// The k-contiguous tiles by cp.async straight into local memory (CPA_A,
// CPA_B), the same element mapping as fetch_a / fetch_b + store_a / store_b.
inline void copy_a(__global const ELEM *A, int lda, int m0, int k0, int tid, __local ELEM *As)
{
    #pragma unroll
    for (int l = 0; l < LA; l++) {
        const int v = tid + l * NT;
#if KMAJ_A
        const int kk = v / (BM / EPV), mm = (v % (BM / EPV)) * EPV;
        cp_async16((__local uint4 *)(As + kk * LKA + mm),
                   (__global const uint4 *)(A + (size_t)(k0 + kk) * lda + m0 + mm));
#else
        const int mm = v / (BK / EPV), kk = (v % (BK / EPV)) * EPV;
        cp_async16((__local uint4 *)(As + mm * LDS + kk),
                   (__global const uint4 *)(A + (size_t)(m0 + mm) * lda + k0 + kk));
#endif
    }
}

inline void copy_b(__global const ELEM *B, int ldb, int n0, int k0, int tid, __local ELEM *Bs)
{
    #pragma unroll
    for (int l = 0; l < LB; l++) {
        const int v = tid + l * NT;
#if KMAJ_B
        const int kk = v / (BN / EPV), nn = (v % (BN / EPV)) * EPV;
        cp_async16((__local uint4 *)(Bs + kk * LKB + nn),
                   (__global const uint4 *)(B + (size_t)(k0 + kk) * ldb + n0 + nn));
#else
        const int nn = v / (BK / EPV), kk = (v % (BK / EPV)) * EPV;
        cp_async16((__local uint4 *)(Bs + nn * LDS + kk),
                   (__global const uint4 *)(B + (size_t)(n0 + nn) * ldb + k0 + kk));
#endif
    }
}

// The tile of A at depth k0 (rows m0..m0+BM), EPV elements per uint4.
inline void fetch_a(__global const ELEM *A, int lda, int m0, int k0, int tid, uint4 *r)
{
    #pragma unroll
    for (int l = 0; l < LA; l++) {
        const int v = tid + l * NT;
#if A_T
        const int kk = v / (BM / EPV), mm = (v % (BM / EPV)) * EPV;
        r[l] = *(__global const uint4 *)(A + (size_t)(k0 + kk) * lda + m0 + mm);
#else
        const int mm = v / (BK / EPV), kk = (v % (BK / EPV)) * EPV;
        r[l] = *(__global const uint4 *)(A + (size_t)(m0 + mm) * lda + k0 + kk);
#endif
    }
}

inline void fetch_b(__global const ELEM *B, int ldb, int n0, int k0, int tid, uint4 *r)
{
    #pragma unroll
    for (int l = 0; l < LB; l++) {
        const int v = tid + l * NT;
#if B_T
        const int nn = v / (BK / EPV), kk = (v % (BK / EPV)) * EPV;
        r[l] = *(__global const uint4 *)(B + (size_t)(n0 + nn) * ldb + k0 + kk);
#else
        const int kk = v / (BN / EPV), nn = (v % (BN / EPV)) * EPV;
        r[l] = *(__global const uint4 *)(B + (size_t)(k0 + kk) * ldb + n0 + nn);
#endif
    }
}

#if TF32
// f32 bits to TF32 bits, nearest with ties away (the matrix unit's input).
#if MMA_EMULATE
inline uint to_tf32(uint u)
{
    return (u & 0x7f800000u) == 0x7f800000u ? u : (u + 0x1000u) & 0xffffe000u;
}
#else
inline uint to_tf32(uint u)
{
    uint r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(as_float(u)));
    return r;
}
#endif
inline uint4 cvt4(uint4 x)
{
    return (uint4)(to_tf32(x.x), to_tf32(x.y), to_tf32(x.z), to_tf32(x.w));
}
#else
inline uint4 cvt4(uint4 x)
{
    return x;
}
#endif

// EPV elements (a uint4) into consecutive rows r.. of column c.
inline void scatter(__local ELEM *dst, int r, int c, uint4 x)
{
    const uint w[4] = {x.x, x.y, x.z, x.w};
    #pragma unroll
    for (int i = 0; i < 4; i++) {
#if TF32
        dst[(r + i) * LDS + c] = as_float(w[i]);
#else
        dst[(r + 2 * i) * LDS + c] = (ushort)(w[i] & 0xffffu);
        dst[(r + 2 * i + 1) * LDS + c] = (ushort)(w[i] >> 16);
#endif
    }
}

// Into As[m][k] / Bs[n][k]: a k-contiguous source is stored as it is, an
// m- (n-) contiguous one is scattered down the rows.
inline void store_a(__local ELEM *As, int tid, const uint4 *r)
{
    #pragma unroll
    for (int l = 0; l < LA; l++) {
        const int v = tid + l * NT;
#if KMAJ_A
        *(__local uint4 *)(As + (v / (BM / EPV)) * LKA + (v % (BM / EPV)) * EPV) = r[l];
#elif A_T
        scatter(As, (v % (BM / EPV)) * EPV, v / (BM / EPV), cvt4(r[l]));
#else
        *(__local uint4 *)(As + (v / (BK / EPV)) * LDS + (v % (BK / EPV)) * EPV) = cvt4(r[l]);
#endif
    }
}

inline void store_b(__local ELEM *Bs, int tid, const uint4 *r)
{
    #pragma unroll
    for (int l = 0; l < LB; l++) {
        const int v = tid + l * NT;
#if KMAJ_B
        *(__local uint4 *)(Bs + (v / (BN / EPV)) * LKB + (v % (BN / EPV)) * EPV) = r[l];
#elif B_T
        *(__local uint4 *)(Bs + (v / (BK / EPV)) * LDS + (v % (BK / EPV)) * EPV) = cvt4(r[l]);
#else
        scatter(Bs, (v % (BN / EPV)) * EPV, v / (BN / EPV), cvt4(r[l]));
#endif
    }
}


// acc += the A and B tiles of one k step (BK deep) at as, bs (this warp's
// rows and columns of the current stage).
inline __attribute__((always_inline)) void tile_mma(float acc[MI][NI][4], __local const ELEM *as,
                                                    __local const ELEM *bs, int lane,
                                                    __local float *scr)
{
    const int g = lane >> 2, t = lane & 3;
    (void)g;
    (void)t;
    #pragma unroll
    for (int kk = 0; kk < BK; kk += KSTEP) {
        uint af[MI][4], bfr[NI][2];
#if LDM
        // A: lanes 0-7 rows 0-7, 8-15 rows 8-15 (k block 0), 16-31 the
        // same at k block 1 (the fragment's a[0..3]); B: lanes 0-15
        // n tile j (k blocks 0, 1), 16-31 n tile j + 1.
        #pragma unroll
        for (int i = 0; i < MI; i++)
#if KMAJ_A
            // .trans from [k][m]: lanes 0-7 k 0-7 at m 0-7, 8-15 k 0-7
            // at m 8-15, 16-31 the same at k 8-15.
            ldsm_x4_trans(af[i], as,
                          (kk + (lane & 7) + (lane >> 4) * 8) * LKA + i * 16 +
                              ((lane >> 3) & 1) * 8,
                          lane, scr);
#else
            ldsm_x4(af[i], (__local const uint *)as,
                    ((i * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDS + kk +
                     (lane >> 4) * EPV) / EPW,
                    lane, scr);
#endif
        #pragma unroll
        for (int j = 0; j < NI; j += 2) {
            uint r[4];
#if KMAJ_B
            // .trans from [k][n]: lanes 0-7 k 0-7 and 8-15 k 8-15 of n
            // tile j, 16-31 the same of tile j + 1.
            ldsm_x4_trans(r, bs,
                          (kk + (lane & 7) + ((lane >> 3) & 1) * 8) * LKB +
                              (j + (lane >> 4)) * 8,
                          lane, scr);
#else
            ldsm_x4(r, (__local const uint *)bs,
                    ((j * 8 + (lane & 7) + (lane >> 4) * 8) * LDS + kk +
                     ((lane >> 3) & 1) * EPV) / EPW,
                    lane, scr);
#endif
            bfr[j][0] = r[0];
            bfr[j][1] = r[1];
            bfr[j + 1][0] = r[2];
            bfr[j + 1][1] = r[3];
        }
#else
        // A fragment rows g and g+8, k offsets (bf16: pairs) t and t+4
        // (tf32) or 2t and 2t+8 (bf16); B likewise along its column g.
#if TF32
        const int k0f = t, k1f = t + 4;
#else
        const int k0f = 2 * t, k1f = 2 * t + 8;
#endif
        #pragma unroll
        for (int i = 0; i < MI; i++) {
            __local const ELEM *p = as + (i * 16 + g) * LDS + kk;
            af[i][0] = *(__local const uint *)(p + k0f);
            af[i][1] = *(__local const uint *)(p + 8 * LDS + k0f);
            af[i][2] = *(__local const uint *)(p + k1f);
            af[i][3] = *(__local const uint *)(p + 8 * LDS + k1f);
        }
        #pragma unroll
        for (int j = 0; j < NI; j++) {
            __local const ELEM *p = bs + (j * 8 + g) * LDS + kk;
            bfr[j][0] = *(__local const uint *)(p + k0f);
            bfr[j][1] = *(__local const uint *)(p + k1f);
        }
#endif
        #pragma unroll
        for (int i = 0; i < MI; i++)
            #pragma unroll
            for (int j = 0; j < NI; j++)
                mma_op(acc[i][j], af[i], bfr[j], acc[i][j], lane, scr);
    }
}

__kernel __attribute__((reqd_work_group_size(NT, 1, 1)))
void gemm_mma(int M, int N, int K, float alpha, float beta, __global const ELEM *restrict A,
              int lda, __global const ELEM *restrict B, int ldb, __global float *restrict C,
              int ldc)
{
    __local uint4 as4[NSTG * SA / EPV];
    __local uint4 bs4[NSTG * SB / EPV];
    __local ELEM *As = (__local ELEM *)as4, *Bs = (__local ELEM *)bs4;
    const int tid = get_local_id(0), warp = tid / 32, lane = tid % 32;
    MMA_WARP_SCRATCH(scr, NT / 32, warp);
    const int g = lane >> 2, t = lane & 3;
    const int wm0 = (warp / 2) * WM, wn0 = (warp % 2) * WN;  // the warp's tile in the block
    const int m0 = get_group_id(1) * BM, n0 = get_group_id(0) * BN;

    float acc[MI][NI][4];
    #pragma unroll
    for (int i = 0; i < MI; i++)
        #pragma unroll
        for (int j = 0; j < NI; j++)
            #pragma unroll
            for (int q = 0; q < 4; q++)
                acc[i][j][q] = 0.0f;

#if NSTG > 2
    // NSTG stages, all copied by cp.async: the tiles of the next NSTG - 1
    // steps are in flight while one is multiplied. One commit group a step
    // (empty past K), so "all but NSTG - 2 groups done" is always this
    // step's tile; the barrier after it also tells that every warp is done
    // with the stage the next copy overwrites.
    const int nk = K / BK;
    #pragma unroll
    for (int st = 0; st < NSTG - 1; st++) {
        if (st < nk) {
            copy_a(A, lda, m0, st * BK, tid, As + st * SA);
            copy_b(B, ldb, n0, st * BK, tid, Bs + st * SB);
        }
        cp_async_commit();
    }
    for (int kt = 0; kt < nk; kt++) {
        CP_ASYNC_WAIT(NSTG - 2);
        barrier(CLK_LOCAL_MEM_FENCE);
        const int nt = kt + NSTG - 1, sn = nt % NSTG, sc = kt % NSTG;
        if (nt < nk) {
            copy_a(A, lda, m0, nt * BK, tid, As + sn * SA);
            copy_b(B, ldb, n0, nt * BK, tid, Bs + sn * SB);
        }
        cp_async_commit();
        tile_mma(acc, As + sc * SA + (KMAJ_A ? wm0 : wm0 * LDS),
                 Bs + sc * SB + (KMAJ_B ? wn0 : wn0 * LDS), lane, scr);
    }
#else
    uint4 ra[LA], rb[LB];
    fetch_a(A, lda, m0, 0, tid, ra);
    fetch_b(B, ldb, n0, 0, tid, rb);
    store_a(As, tid, ra);
    store_b(Bs, tid, rb);
    barrier(CLK_LOCAL_MEM_FENCE);

    int cur = 0;
    for (int k0 = 0; k0 < K; k0 += BK) {
        const int more = k0 + BK < K;
        if (more) {
#if CPA_A
            copy_a(A, lda, m0, k0 + BK, tid, As + (cur ^ 1) * SA);
#else
            fetch_a(A, lda, m0, k0 + BK, tid, ra);
#endif
#if CPA_B
            copy_b(B, ldb, n0, k0 + BK, tid, Bs + (cur ^ 1) * SB);
#else
            fetch_b(B, ldb, n0, k0 + BK, tid, rb);
#endif
        }
        __local const ELEM *as = As + cur * SA + (KMAJ_A ? wm0 : wm0 * LDS);
        __local const ELEM *bs = Bs + cur * SB + (KMAJ_B ? wn0 : wn0 * LDS);
        tile_mma(acc, as, bs, lane, scr);
        if (more) {
#if CPA_A || CPA_B
            cp_async_wait_all();
#endif
#if !CPA_A
            store_a(As + (cur ^ 1) * SA, tid, ra);
#endif
#if !CPA_B
            store_b(Bs + (cur ^ 1) * SB, tid, rb);
#endif
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        cur ^= 1;
    }
#endif

    // Bounds-checked store; beta == 0 never reads C (NaN there must not leak).
    #pragma unroll
    for (int i = 0; i < MI; i++)
        #pragma unroll
        for (int j = 0; j < NI; j++)
            #pragma unroll
            for (int q = 0; q < 4; q++) {
                const int row = m0 + wm0 + i * 16 + g + (q >> 1) * 8;
                const int col = n0 + wn0 + j * 8 + 2 * t + (q & 1);
                if (row < M && col < N) {
                    __global float *c = C + (size_t)row * ldc + col;
                    const float v = alpha * acc[i][j][q];
                    *c = beta == 0.0f ? v : fma(beta, *c, v);
                }
            }
}
