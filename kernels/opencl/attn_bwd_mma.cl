// attn_bwd_mma.cl: flash-attention backward in bf16 on NVIDIA's matrix
// units from OpenCL (inline PTX mma.sync.aligned.m16n8k16 .bf16, sm_80 and
// later): dQ, dK, dV from bf16 Q, K, V, dO and the forward's f32 O and lse,
// all arithmetic in f32, P and dS rounded to bf16 where they feed a product.
//
// What it is: FlashAttention-2's backward as two kernels with the work split
// by warps (4 a work-group, 16 rows each, as in attn_mma.cl):
//   attn_bwd_mma_dq    64 query rows of one (batch, head); Q and dO stay in
//                      registers as A fragments. It writes Di = rowsum(dO O)
//                      of its rows first (for the next kernel), then per
//                      block of BS keys: S = Q K^T, dP = dO V^T, P = exp(scale
//                      S - lse) (masked), dS = P (dP - Di), dQ += dS K.
//   attn_bwd_mma_dkdv  64 keys of one (batch, kv head); K stays in
//                      registers, V's fragments are re-read (from cache)
//                      each block. Per query block of BS rows of every head of
//                      the group: S^T = K Q^T, dP^T = V dO^T, P^T, dS^T,
//                      dV += P^T dO, dK += dS^T Q.
// No atomics: each output row has one owner. Every product reads its B
// operand from a local tile stored n-major (frag_b), so K (and Q, dO) are
// kept in local memory both as rows and transposed; with LDM=1
// (CHIPBENCH_CL_MMA_ATTN) the k-major B operands (K for dQ, dO for dV, Q
// for dK) are read from the rows by ldmatrix .trans, and the transposed
// copies are gone.
// What it is not: tuned (no ldmatrix, no cp.async, no double buffering) or
// portable: mma_op comes from mma_common.cl (prepended by the host), inline
// PTX or, with MMA_EMULATE=1, written out so every other line runs on any
// device.
//
// Layouts: Q, dO (B,H,Lq,D), K, V (B,Hkv,Lk,D) bf16 (ushort); O, dQ
// (B,H,Lq,D), dK, dV (B,Hkv,Lk,D), lse, Di (B,H,Lq) f32; query head h uses
// kv head h / GROUP; causal is bottom-right aligned: row i sees keys
// j < i + (Lk - Lq) + 1. A row that sees no key (lse = -inf) adds nothing.
// D (a define) is a multiple of 16, at most 128.
#ifndef D
#define D 64
#endif

#define NT 128
#define BR 64            // query rows of a dQ group, keys of a dK/dV group: 16 a warp
#ifndef BS               // keys a dQ step, query rows a dK/dV step (16, 32 or 64)
#if D > 64
#define BS 32
#else
#define BS 64
#endif
#endif
#define KD (D / 16)      // k16 steps over D
#define ND (D / 8)       // n8 tiles over D (dQ, dK, dV)
#define NS (BS / 8)      // n8 tiles of a warp's 16 x BS scores
#define LDR (D + 8)      // ushorts a row tile's row ([BS][D]): conflict-free fragment reads
#define LDT (BS + 8)     // ushorts a transposed tile's row ([D][BS])
#ifndef LDM              // 1: fragments by ldmatrix, k-major B read .trans: no
#define LDM 0            // transposed copies in local memory
#endif

#if D % 16 || D > 128
#error "attn_bwd_mma: D must be a multiple of 16, at most 128"
#endif

// Helpers that take fragment arrays must be inlined, or the arrays go to
// memory (clang declines to inline the big ones on its own).
#define ALWAYS_INLINE inline __attribute__((always_inline))

inline float bf16_to_f32(ushort x)
{
    return as_float((uint)x << 16);
}

// n rows (of BS; the rest 0) of D bf16 from src into rows[r][LDR] and, when
// trans, into cols[d][LDT] too.
inline void load_tile(__local ushort *rows, __local ushort *cols, int trans,
                      __global const ushort *src, int n, int tid)
{
    for (int v = tid; v < BS * (D / 8); v += NT) {
        const int r = v / (D / 8), d = (v % (D / 8)) * 8;
        const uint4 x = r < n ? *(__global const uint4 *)(src + (size_t)r * D + d) : (uint4)(0u);
        *(__local uint4 *)(rows + r * LDR + d) = x;
        if (trans) {
            const uint w[4] = {x.x, x.y, x.z, x.w};
            #pragma unroll
            for (int i = 0; i < 4; i++) {
                cols[(d + 2 * i) * LDT + r] = (ushort)(w[i] & 0xffffu);
                cols[(d + 2 * i + 1) * LDT + r] = (ushort)(w[i] >> 16);
            }
        }
    }
}

// The B fragments of n8 tiles j and j + 1 (b[0..1], b[2..3]) at k16 step
// st of a local tile stored n-major (T[n][k], ld ushorts a row): 32-bit
// loads (ldmatrix here, four registers at a time, made ptxas spill in the
// dK/dV kernel at D = 128).
ALWAYS_INLINE void frag_b2(uint *b, __local const ushort *T, int ld, int j, int st, int g,
                           int t)
{
    frag_b(b, T, ld, j * 8, st * 16, g, t);
    frag_b(b + 2, T, ld, (j + 1) * 8, st * 16, g, t);
}

// The same from a tile stored k-major: LDM reads the rows tile R[k][LDR]
// transposed (ldmatrix .trans); otherwise T is its transposed copy
// ([n][LDT], n-major), read as above.
ALWAYS_INLINE void frag_b2_kmajor(uint *b, __local const ushort *T, int j, int st, int g,
                                  int t, int lane, __local float *scr)
{
#if LDM
    (void)g;
    (void)t;
    ldsm_x4_trans(b, T, (st * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDR +
                            (j + (lane >> 4)) * 8, lane, scr);
#else
    (void)lane;
    (void)scr;
    frag_b2(b, T, LDT, j, st, g, t);
#endif
}

// acc[j] += A B over D for the NS n8 tiles of a 16 x BS score block: A the
// warp's fragments (a[KD]), B from T ([BS][LDR], n-major over the block).
ALWAYS_INLINE void scores(float acc[][4], uint a[][4], __local const ushort *T, int g, int t,
                   int lane, __local float *scr)
{
    #pragma unroll
    for (int j = 0; j < NS; j += 2) {
        #pragma unroll
        for (int q = 0; q < 4; q++)
            acc[j][q] = acc[j + 1][q] = 0.0f;
        #pragma unroll
        for (int st = 0; st < KD; st++) {
            uint b[4];
            frag_b2(b, T, LDR, j, st, g, t);
            mma_op(acc[j], a[st], b, acc[j], lane, scr);
            mma_op(acc[j + 1], a[st], b + 2, acc[j + 1], lane, scr);
        }
    }
}

// As scores, with the A fragments read from memory (rows r0, r0 + 8 of src,
// D columns, rows >= n as 0) one k16 step at a time instead of kept in
// registers: the dK/dV kernel holds K's fragments and two D-wide
// accumulators already, and V's would make it spill (ptxas, D = 128).
ALWAYS_INLINE void scores_mem(float acc[][4], __global const ushort *src, int r0, int n,
                              __local const ushort *T, int g, int t, int lane,
                              __local float *scr)
{
    #pragma unroll
    for (int j = 0; j < NS; j++)
        #pragma unroll
        for (int q = 0; q < 4; q++)
            acc[j][q] = 0.0f;
    #pragma unroll
    for (int st = 0; st < KD; st++) {
        uint a[4];
        frag_a(a, src, D, st * 16, r0, n, t);
        #pragma unroll
        for (int j = 0; j < NS; j += 2) {
            uint b[4];
            frag_b2(b, T, LDR, j, st, g, t);
            mma_op(acc[j], a, b, acc[j], lane, scr);
            mma_op(acc[j + 1], a, b + 2, acc[j + 1], lane, scr);
        }
    }
}

// acc[j] += X B for the ND n8 tiles over D: X the 16 x BS block x (tiles
// 2st and 2st + 1 make k16 step st, rounded to bf16), B (BS x D, k-major)
// from T: the rows tile with LDM, else its transposed copy ([D][LDT]).
ALWAYS_INLINE void update(float acc[][4], float x[][4], __local const ushort *T, int g, int t,
                   int lane, __local float *scr)
{
    #pragma unroll
    for (int st = 0; st < BS / 16; st++) {
        const uint a[4] = {pack2(x[2 * st][0], x[2 * st][1]), pack2(x[2 * st][2], x[2 * st][3]),
                           pack2(x[2 * st + 1][0], x[2 * st + 1][1]),
                           pack2(x[2 * st + 1][2], x[2 * st + 1][3])};
        #pragma unroll
        for (int j = 0; j < ND; j += 2) {
            uint b[4];
            frag_b2_kmajor(b, T, j, st, g, t, lane, scr);
            mma_op(acc[j], a, b, acc[j], lane, scr);
            mma_op(acc[j + 1], a, b + 2, acc[j + 1], lane, scr);
        }
    }
}

// lse in log2 units for exp2; +inf for a row that sees no key or does not
// exist, so that its P is exp2(-inf) = 0.
inline float lse2_of(float lse, int valid)
{
    return valid && lse != -INFINITY ? lse * M_LOG2E_F : INFINITY;
}

// Rows r (lane rows g, g + 8 of the warp) of a 16 x D accumulator times
// mul, to dst (row stride D), rows < n.
ALWAYS_INLINE void store_rows(__global float *dst, float acc[][4], float mul, int r0, int n, int t)
{
    #pragma unroll
    for (int j = 0; j < ND; j++) {
        const int col = j * 8 + 2 * t;
        if (r0 < n) {
            dst[(size_t)r0 * D + col] = acc[j][0] * mul;
            dst[(size_t)r0 * D + col + 1] = acc[j][1] * mul;
        }
        if (r0 + 8 < n) {
            dst[(size_t)(r0 + 8) * D + col] = acc[j][2] * mul;
            dst[(size_t)(r0 + 8) * D + col + 1] = acc[j][3] * mul;
        }
    }
}

__kernel __attribute__((reqd_work_group_size(NT, 1, 1)))
void attn_bwd_mma_dq(__global const ushort *restrict Q, __global const ushort *restrict K,
                     __global const ushort *restrict V, __global const float *restrict O,
                     __global const ushort *restrict dO, __global const float *restrict LSE,
                     __global float *restrict Di, __global float *restrict dQ, int BH, int H,
                     int GROUP, int Lq, int Lk, float scale, int causal)
{
    __local uint4 ks4[BS * LDR / 8], vs4[BS * LDR / 8];
    __local float dil[BR];
    __local ushort *Ks = (__local ushort *)ks4, *Vs = (__local ushort *)vs4;
#if LDM
    __local ushort *Kt = Ks;  // dQ += dS K reads Ks transposed
#else
    __local uint4 kt4[D * LDT / 8];
    __local ushort *Kt = (__local ushort *)kt4;
#endif
    const int tid = get_local_id(0), warp = tid / 32, lane = tid % 32;
    MMA_WARP_SCRATCH(scr, NT / 32, warp);
    const int g = lane >> 2, t = lane & 3;

    const struct qblock qbk = query_block(BR, Lq, BH, H, GROUP);
    const int q0 = qbk.q0, nq = qbk.nq, bh = qbk.bh, kvbh = qbk.kvbh;
    const size_t qoff = ((size_t)bh * Lq + q0) * D;
    Q += qoff;
    dO += qoff;
    O += qoff;
    dQ += qoff;
    LSE += (size_t)bh * Lq + q0;
    Di += (size_t)bh * Lq + q0;
    K += (size_t)kvbh * Lk * D;
    V += (size_t)kvbh * Lk * D;

    // Di of the block's rows, for this kernel and the dK/dV one.
    if (tid < BR) {
        float acc = 0.0f;
        if (tid < nq) {
            for (int d = 0; d < D; d++)
                acc = fma(bf16_to_f32(dO[(size_t)tid * D + d]), O[(size_t)tid * D + d], acc);
            Di[tid] = acc;
        }
        dil[tid] = acc;
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    const int r0 = warp * 16 + g, r1 = r0 + 8;  // this lane's rows
    const float scale2 = scale * M_LOG2E_F;
    const float di0 = dil[r0], di1 = dil[r1];
    const float l0 = lse2_of(r0 < nq ? LSE[r0] : 0.0f, r0 < nq);
    const float l1 = lse2_of(r1 < nq ? LSE[r1] : 0.0f, r1 < nq);
    const int shift = Lk - Lq + 1;
    const int lim0 = causal ? clamp(q0 + r0 + shift, 0, Lk) : Lk;
    const int lim1 = causal ? clamp(q0 + r1 + shift, 0, Lk) : Lk;
    const int kend = causal ? clamp(q0 + nq - 1 + shift, 0, Lk) : Lk;

    uint qf[KD][4], df[KD][4];
    #pragma unroll
    for (int st = 0; st < KD; st++) {
        frag_a(qf[st], Q, D, st * 16, r0, nq, t);
        frag_a(df[st], dO, D, st * 16, r0, nq, t);
    }
    float dq[ND][4];
    #pragma unroll
    for (int j = 0; j < ND; j++)
        #pragma unroll
        for (int q = 0; q < 4; q++)
            dq[j][q] = 0.0f;

    for (int k0 = 0; k0 < kend; k0 += BS) {
        barrier(CLK_LOCAL_MEM_FENCE);  // the previous block's readers are done
        load_tile(Ks, Kt, !LDM, K + (size_t)k0 * D, min(BS, Lk - k0), tid);
        load_tile(Vs, Vs, 0, V + (size_t)k0 * D, min(BS, Lk - k0), tid);
        barrier(CLK_LOCAL_MEM_FENCE);

        float s[NS][4], dp[NS][4];
        scores(s, qf, Ks, g, t, lane, scr);   // S = Q K^T
        scores(dp, df, Vs, g, t, lane, scr);  // dP = dO V^T
        // dS = P (dP - Di) in s; rows r0 (q 0, 1), r1 (q 2, 3).
        #pragma unroll
        for (int j = 0; j < NS; j++)
            #pragma unroll
            for (int q = 0; q < 4; q++) {
                const int key = k0 + j * 8 + 2 * t + (q & 1), hi = q >> 1;
                const float p = key < (hi ? lim1 : lim0)
                                    ? exp2(fma(s[j][q], scale2, -(hi ? l1 : l0))) : 0.0f;
                s[j][q] = p * (dp[j][q] - (hi ? di1 : di0));
            }
        update(dq, s, Kt, g, t, lane, scr);  // dQ += dS K
    }
    store_rows(dQ, dq, scale, r0, nq, t);
}

__kernel __attribute__((reqd_work_group_size(NT, 1, 1)))
void attn_bwd_mma_dkdv(__global const ushort *restrict Q, __global const ushort *restrict K,
                       __global const ushort *restrict V, __global const ushort *restrict dO,
                       __global const float *restrict LSE, __global const float *restrict Di,
                       __global float *restrict dK, __global float *restrict dV, int BHKV,
                       int H, int GROUP, int Lq, int Lk, float scale, int causal)
{
    __local uint4 qs4[BS * LDR / 8], ds4[BS * LDR / 8];
    __local float ll[BS], dl[BS];
    __local ushort *Qs = (__local ushort *)qs4, *dOs = (__local ushort *)ds4;
#if LDM
    __local ushort *Qt = Qs, *dOt = dOs;  // read transposed where needed
#else
    __local uint4 qt4[D * LDT / 8], dt4[D * LDT / 8];
    __local ushort *Qt = (__local ushort *)qt4, *dOt = (__local ushort *)dt4;
#endif
    const int tid = get_local_id(0), warp = tid / 32, lane = tid % 32;
    MMA_WARP_SCRATCH(scr, NT / 32, warp);
    const int g = lane >> 2, t = lane & 3;

    // Key block 0 first: under a causal mask the first keys see the most rows.
    const int grp = get_group_id(0), kb = grp / BHKV, bkv = grp % BHKV;
    const int hkv = H / GROUP, b = bkv / hkv, kvh = bkv % hkv;
    const int k0 = kb * BR, nk = min(BR, Lk - k0);
    const size_t koff = ((size_t)bkv * Lk + k0) * D;
    K += koff;
    V += koff;
    dK += koff;
    dV += koff;

    const int c0 = warp * 16 + g;  // this lane's keys: c0 and c0 + 8 of the block
    const int key0 = k0 + c0, key1 = key0 + 8;
    const float scale2 = scale * M_LOG2E_F;
    const int shift = Lk - Lq + 1;  // row i sees key j iff j < i + shift
    // The first query block with a row that sees key k0 (and so any key here).
    const int qfirst = causal ? (max(0, k0 - shift + 1) / BS) * BS : 0;

    uint kf[KD][4];
    #pragma unroll
    for (int st = 0; st < KD; st++)
        frag_a(kf[st], K, D, st * 16, c0, nk, t);
    float dk[ND][4], dv[ND][4];
    #pragma unroll
    for (int j = 0; j < ND; j++)
        #pragma unroll
        for (int q = 0; q < 4; q++)
            dk[j][q] = dv[j][q] = 0.0f;

    for (int hh = 0; hh < GROUP; hh++) {
        const int bh = b * H + kvh * GROUP + hh;
        __global const ushort *Qh = Q + (size_t)bh * Lq * D, *dOh = dO + (size_t)bh * Lq * D;
        __global const float *Lh = LSE + (size_t)bh * Lq, *Dh = Di + (size_t)bh * Lq;
        for (int q0 = qfirst; q0 < Lq; q0 += BS) {
            const int nq = min(BS, Lq - q0);
            barrier(CLK_LOCAL_MEM_FENCE);  // the previous block's readers are done
            load_tile(Qs, Qt, !LDM, Qh + (size_t)q0 * D, nq, tid);
            load_tile(dOs, dOt, !LDM, dOh + (size_t)q0 * D, nq, tid);
            if (tid < BS) {
                ll[tid] = lse2_of(tid < nq ? Lh[q0 + tid] : 0.0f, tid < nq);
                dl[tid] = tid < nq ? Dh[q0 + tid] : 0.0f;
            }
            barrier(CLK_LOCAL_MEM_FENCE);

            float s[NS][4], dp[NS][4];
            scores(s, kf, Qs, g, t, lane, scr);    // S^T = K Q^T
            scores_mem(dp, V, c0, nk, dOs, g, t, lane, scr);  // dP^T = V dO^T
            // P^T in s, dS^T in dp; keys key0 (q 0, 1), key1 (q 2, 3).
            #pragma unroll
            for (int j = 0; j < NS; j++)
                #pragma unroll
                for (int q = 0; q < 4; q++) {
                    const int qi = j * 8 + 2 * t + (q & 1), key = (q >> 1) ? key1 : key0;
                    const int vis = key < Lk && (!causal || key < q0 + qi + shift);
                    const float p = vis ? exp2(fma(s[j][q], scale2, -ll[qi])) : 0.0f;
                    s[j][q] = p;
                    dp[j][q] = p * (dp[j][q] - dl[qi]);
                }
            update(dv, s, dOt, g, t, lane, scr);  // dV += P^T dO
            update(dk, dp, Qt, g, t, lane, scr);  // dK += dS^T Q
        }
    }
    store_rows(dK, dk, scale, c0, nk, t);
    store_rows(dV, dv, 1.0f, c0, nk, t);
}
