// gemm_tiled.cl: f32 GEMM for GPUs, C(M,N) = alpha * op(A) op(B) + beta * C.
//
// What it is: the classic local-memory GEMM. A work-group owns a TM x TN
// block of C; per TK-deep step its threads copy the A and B tiles into local
// memory (double-buffered: the next tile is fetched into registers while the
// current one is multiplied, one barrier per step), then each thread
// multiplies an RM x RN register tile out of local memory with float4 reads.
// What it is not: a bounds-checked kernel. The host guarantees M % TM,
// N % TN and K % TK are 0 *for A and B* (it zero-pads copies when they are
// not, see gemm_opencl.c) and 16-byte aligned rows; C is written with bounds
// checks, so a padded A/B still stores exactly the M x N user elements.
//
// Layouts (row-major, defines):
//   A_T=0: A stored (M,K), lda >= K     A_T=1: A stored (K,M), lda >= M
//   B_T=0: B stored (K,N), ldb >= N     B_T=1: B stored (N,K), ldb >= K
// Local tiles are always As[TK][TM] and Bs[TK][TN] (k-major), so the inner
// product reads contiguous float4 along M and N whatever the layout.
//
// Thread mapping: NTX = TN/RN threads along N, NTY = TM/RM along M. A thread
// owns RM/4 x RN/4 float4 sub-blocks strided by 4*NTY rows and 4*NTX
// columns, so 8 neighbouring threads read 128 contiguous bytes of local
// memory (no bank conflicts on 32-bank devices).
#ifndef TM
#define TM 64
#endif
#ifndef TN
#define TN 64
#endif
#ifndef TK
#define TK 16
#endif
#ifndef RM
#define RM 4
#endif
#ifndef RN
#define RN 4
#endif
#ifndef A_T
#define A_T 0
#endif
#ifndef B_T
#define B_T 0
#endif
#ifndef LPAD
#define LPAD 4
#endif
// WX > 0: arrange each 32-thread warp as WX threads along N by 32/WX along
// M (fewer distinct local-memory rows per warp read); 0: plain row-major.
#ifndef WX
#define WX 0
#endif
// IN_F16=1: A and B are stored as IEEE half and read through vload_half4,
// which OpenCL has had since 1.0 without cl_khr_fp16 (that extension is for
// half arithmetic); all arithmetic stays f32. Halves the input traffic.
#ifndef IN_F16
#define IN_F16 0
#endif
#if IN_F16
#define GIN half
#define LOAD4(p) vload_half4(0, (p))
#else
#define GIN float
#define LOAD4(p) (*(__global const float4 *)(p))
#endif

#define NTX (TN / RN)
#define NTY (TM / RM)
#define NT (NTX * NTY)
#define LDA_L (TM + LPAD)
#define LDB_L (TN + LPAD)
#define LA (TM * TK / 4 / NT)   // float4 loads per thread per A tile
#define LB (TN * TK / 4 / NT)

#if RM % 4 || RN % 4 || TM % RM || TN % RN || TK % 4 || LPAD % 4
#error "tile parameters must be multiples of 4 that divide each other"
#endif
#if WX && (NT % 32 || NTX % WX || NTY % (32 / WX))
#error "WX needs whole warps: NT % 32 == 0, NTX % WX == 0, NTY % (32/WX) == 0"
#endif
#if LA * 4 * NT != TM * TK || LB * 4 * NT != TN * TK || LA < 1 || LB < 1
#error "TM*TK and TN*TK must be multiples of 4 * threads per group"
#endif

// Fetch this thread's share of the A tile at depth k0 into registers.
// A_T=1 rows are along M (contiguous TM floats per k); A_T=0 rows are along
// K (TK floats per m), transposed when stored to local memory.
void fetch_a(__global const GIN *A, int lda, int m0, int k0, int tid, float4 *r)
{
    for (int l = 0; l < LA; l++) {
        int v = tid + l * NT;
#if A_T
        int kk = v / (TM / 4), mm = (v % (TM / 4)) * 4;
        r[l] = LOAD4(A + (size_t)(k0 + kk) * lda + m0 + mm);
#else
        int mm = v / (TK / 4), kk = (v % (TK / 4)) * 4;
        r[l] = LOAD4(A + (size_t)(m0 + mm) * lda + k0 + kk);
#endif
    }
}

void store_a(__local float *As, int tid, const float4 *r)
{
    for (int l = 0; l < LA; l++) {
        int v = tid + l * NT;
#if A_T
        int kk = v / (TM / 4), mm = (v % (TM / 4)) * 4;
        *(__local float4 *)(As + kk * LDA_L + mm) = r[l];
#else
        int mm = v / (TK / 4), kk = (v % (TK / 4)) * 4;
        As[(kk + 0) * LDA_L + mm] = r[l].x;
        As[(kk + 1) * LDA_L + mm] = r[l].y;
        As[(kk + 2) * LDA_L + mm] = r[l].z;
        As[(kk + 3) * LDA_L + mm] = r[l].w;
#endif
    }
}

void fetch_b(__global const GIN *B, int ldb, int n0, int k0, int tid, float4 *r)
{
    for (int l = 0; l < LB; l++) {
        int v = tid + l * NT;
#if B_T
        int nn = v / (TK / 4), kk = (v % (TK / 4)) * 4;
        r[l] = LOAD4(B + (size_t)(n0 + nn) * ldb + k0 + kk);
#else
        int kk = v / (TN / 4), nn = (v % (TN / 4)) * 4;
        r[l] = LOAD4(B + (size_t)(k0 + kk) * ldb + n0 + nn);
#endif
    }
}

void store_b(__local float *Bs, int tid, const float4 *r)
{
    for (int l = 0; l < LB; l++) {
        int v = tid + l * NT;
#if B_T
        int nn = v / (TK / 4), kk = (v % (TK / 4)) * 4;
        Bs[(kk + 0) * LDB_L + nn] = r[l].x;
        Bs[(kk + 1) * LDB_L + nn] = r[l].y;
        Bs[(kk + 2) * LDB_L + nn] = r[l].z;
        Bs[(kk + 3) * LDB_L + nn] = r[l].w;
#else
        int kk = v / (TN / 4), nn = (v % (TN / 4)) * 4;
        *(__local float4 *)(Bs + kk * LDB_L + nn) = r[l];
#endif
    }
}

__kernel __attribute__((reqd_work_group_size(NTX, NTY, 1)))
void gemm_tiled(int M, int N, int K, float alpha, float beta,
                __global const GIN *restrict A, int lda,
                __global const GIN *restrict B, int ldb,
                __global float *restrict C, int ldc)
{
    // Declared as float4 so the float4 reads below are aligned: a float
    // array only promises 4 bytes (NVIDIA faults on the misaligned case).
    __local float4 As4[2 * TK * LDA_L / 4];
    __local float4 Bs4[2 * TK * LDB_L / 4];
    __local float *As = (__local float *)As4;
    __local float *Bs = (__local float *)Bs4;
    const int tid = get_local_id(1) * NTX + get_local_id(0);
#if WX
    // Warps are consecutive tids; lay each out as a WX x (32/WX) patch.
    const int wid = tid / 32, lane = tid % 32;
    const int tx = (wid % (NTX / WX)) * WX + lane % WX;
    const int ty = (wid / (NTX / WX)) * (32 / WX) + lane / WX;
#else
    const int tx = get_local_id(0), ty = get_local_id(1);
#endif
    const int m0 = get_group_id(1) * TM, n0 = get_group_id(0) * TN;

    float acc[RM][RN];
    for (int i = 0; i < RM; i++)
        for (int j = 0; j < RN; j++)
            acc[i][j] = 0.0f;

    float4 ra[LA], rb[LB];
    fetch_a(A, lda, m0, 0, tid, ra);
    fetch_b(B, ldb, n0, 0, tid, rb);
    store_a(As, tid, ra);
    store_b(Bs, tid, rb);
    barrier(CLK_LOCAL_MEM_FENCE);

    int cur = 0;
    for (int k0 = 0; k0 < K; k0 += TK) {
        const int more = k0 + TK < K;
        if (more) {
            fetch_a(A, lda, m0, k0 + TK, tid, ra);
            fetch_b(B, ldb, n0, k0 + TK, tid, rb);
        }
        __local const float *as = As + cur * TK * LDA_L;
        __local const float *bs = Bs + cur * TK * LDB_L;
#pragma unroll
        for (int kk = 0; kk < TK; kk++) {
            float a[RM], b[RN];
#pragma unroll
            for (int i = 0; i < RM / 4; i++) {
                float4 v = *(__local const float4 *)(as + kk * LDA_L + i * 4 * NTY + ty * 4);
                a[4 * i + 0] = v.x;
                a[4 * i + 1] = v.y;
                a[4 * i + 2] = v.z;
                a[4 * i + 3] = v.w;
            }
#pragma unroll
            for (int j = 0; j < RN / 4; j++) {
                float4 v = *(__local const float4 *)(bs + kk * LDB_L + j * 4 * NTX + tx * 4);
                b[4 * j + 0] = v.x;
                b[4 * j + 1] = v.y;
                b[4 * j + 2] = v.z;
                b[4 * j + 3] = v.w;
            }
#pragma unroll
            for (int i = 0; i < RM; i++)
#pragma unroll
                for (int j = 0; j < RN; j++)
                    acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
        if (more) {
            store_a(As + (cur ^ 1) * TK * LDA_L, tid, ra);
            store_b(Bs + (cur ^ 1) * TK * LDB_L, tid, rb);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        cur ^= 1;
    }

    // Bounds-checked store; beta == 0 never reads C (NaN there must not leak).
#pragma unroll
    for (int i = 0; i < RM; i++) {
        int row = m0 + (i / 4) * 4 * NTY + ty * 4 + (i % 4);
        if (row >= M)
            continue;
        __global float *c = C + (size_t)row * ldc;
#pragma unroll
        for (int j = 0; j < RN; j++) {
            int col = n0 + (j / 4) * 4 * NTX + tx * 4 + (j % 4);
            if (col < N)
                c[col] = beta == 0.0f ? alpha * acc[i][j] : fma(beta, c[col], alpha * acc[i][j]);
        }
    }
}
