// attn_mma.cl: flash-attention forward in bf16 on NVIDIA's matrix units
// from OpenCL (inline PTX mma.sync.aligned.m16n8k16 .bf16, sm_80 and
// later): O = softmax(scale * Q K^T, causal mask) V with Q, K, V bf16, the
// softmax statistics and O in f32, P rounded to bf16 for P V.
//
// What it is: FlashAttention-2's forward with the work split by warps: a
// work-group of 4 warps owns 64 query rows of one (batch, head), 16 a warp,
// whose Q stays in registers as mma A fragments. Per block of 64 keys the
// group loads K (Ks[key][d]) and V transposed (Vt[d][key]) into local
// memory; each warp forms its 16 x 64 scores S = Q K^T (8 n8 tiles in the
// accumulator layout), runs the online softmax on them in registers (a row
// is spread over the 4 lanes of a quad: max and sum by butterfly shuffles),
// turns them into bf16 A fragments of P in place (two n8 tiles are one k16
// fragment) and accumulates O += P V. O / l and lse = ln2 * m + ln(l) at
// the end; a row that sees no key gets O = 0 and lse = -inf.
// LDM=1 (CHIPBENCH_CL_MMA_ATTN): the K and V fragments by ldmatrix.x4, V
// kept in local memory as rows and read transposed (.trans), instead of
// 32-bit loads from K rows and a V tile transposed element by element.
// CPA=1 (with LDM=1): K and V blocks copied by cp.async, FlashAttention-2's
// overlap on one buffer each: V of this block lands while S = Q K^T runs,
// K of the next block while the softmax and P V run.
// What it is not: measured with CPA=1 on a GPU yet, a backward pass,
// or portable: mma_op and shfl_xor come from mma_common.cl (prepended by the
// host), inline PTX or, with MMA_EMULATE=1, written out so every other line
// runs on any device.
//
// Layouts: Q (B,H,Lq,D), K,V (B,Hkv,Lk,D) bf16 (ushort); O (B,H,Lq,D) and
// LSE (B,H,Lq) f32; query head h reads kv head h / GROUP; causal is
// bottom-right aligned: row i sees keys j < i + (Lk - Lq) + 1.
// D (a define) is a multiple of 16, at most 128.
#ifndef D
#define D 64
#endif

#define BQ 64
#define BK 64
#define NT 128
#define KD (D / 16)     // k16 steps over D (S = Q K^T)
#define NK (BK / 8)     // n8 tiles of S a warp
#define ND (D / 8)      // n8 tiles of O a warp
#define LDK (D + 8)     // ushorts a Ks (and, LDM=1, Vs) row: conflict-free fragment reads
#define LDV (BK + 8)    // ushorts a Vt row
#ifndef LDM             // 1: fragments by ldmatrix (V kept as rows, read .trans)
#define LDM 0
#endif
#ifndef CPA             // 1: K and V blocks by cp.async (needs LDM=1: V as rows)
#define CPA 0
#endif
#if CPA && !LDM
#error "attn_mma: CPA=1 needs LDM=1 (V kept as rows)"
#endif

#if D % 16 || D > 128
#error "attn_mma: D must be a multiple of 16, at most 128"
#endif

// Max and sum over the 4 lanes of a quad (the lanes that share a row).
inline float quad_max(float v, int lane, __local float *scr)
{
    v = fmax(v, shfl_xor(v, 1, lane, scr));
    return fmax(v, shfl_xor(v, 2, lane, scr));
}

inline float quad_sum(float v, int lane, __local float *scr)
{
    v += shfl_xor(v, 1, lane, scr);
    return v + shfl_xor(v, 2, lane, scr);
}

#if CPA
// Keys [k0, k0 + nk) of X (rows of D) into Xs (rows of LDK) by cp.async;
// rows nk to BK zeroed by plain stores (finite V rows where P is 0).
inline void tile_async(__local ushort *Xs, __global const ushort *X, int k0, int nk, int tid)
{
    for (int v = tid; v < BK * (D / 8); v += NT) {
        const int key = v / (D / 8), d = (v % (D / 8)) * 8;
        if (key < nk)
            cp_async16((__local uint4 *)(Xs + key * LDK + d),
                       (__global const uint4 *)(X + (size_t)(k0 + key) * D + d));
        else
            *(__local uint4 *)(Xs + key * LDK + d) = (uint4)(0u);
    }
}
#endif

__kernel __attribute__((reqd_work_group_size(NT, 1, 1)))
void attn_fwd_mma(__global const ushort *restrict Q, __global const ushort *restrict K,
                  __global const ushort *restrict V, __global float *restrict O,
                  __global float *restrict LSE, int BH, int H, int GROUP, int Lq, int Lk,
                  float scale2, int causal)
{
    __local uint4 ks4[BK * LDK / 8];
#if LDM
    __local uint4 vs4[BK * LDK / 8];
    __local ushort *Ks = (__local ushort *)ks4, *Vs = (__local ushort *)vs4;
#else
    __local uint4 vt4[D * LDV / 8];
    __local ushort *Ks = (__local ushort *)ks4, *Vt = (__local ushort *)vt4;
#endif
    const int tid = get_local_id(0), warp = tid / 32, lane = tid % 32;
    MMA_WARP_SCRATCH(scr, NT / 32, warp);
    const int g = lane >> 2, t = lane & 3;

    const struct qblock qbk = query_block(BQ, Lq, BH, H, GROUP);
    const int q0 = qbk.q0, nq = qbk.nq, bh = qbk.bh, kvbh = qbk.kvbh;
    Q += ((size_t)bh * Lq + q0) * D;
    O += ((size_t)bh * Lq + q0) * D;
    LSE += (size_t)bh * Lq + q0;
    K += (size_t)kvbh * Lk * D;
    V += (size_t)kvbh * Lk * D;

    // This lane's two rows of the warp's 16 (g and g + 8) and their limits.
    const int r0 = warp * 16 + g, r1 = r0 + 8;
    const int shift = Lk - Lq + 1;
    const int lim0 = causal ? clamp(q0 + r0 + shift, 0, Lk) : Lk;
    const int lim1 = causal ? clamp(q0 + r1 + shift, 0, Lk) : Lk;
    const int kend = causal ? clamp(q0 + nq - 1 + shift, 0, Lk) : Lk;

    // Q fragments: rows r0 / r1 of each k16 step over D; rows past Lq read as 0.
    uint qf[KD][4];
    #pragma unroll
    for (int st = 0; st < KD; st++)
        frag_a(qf[st], Q, D, st * 16, r0, nq, t);

    float o[ND][4];
    #pragma unroll
    for (int j = 0; j < ND; j++)
        #pragma unroll
        for (int q = 0; q < 4; q++)
            o[j][q] = 0.0f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;  // l: this lane's part

#if CPA
    if (kend > 0) {
        tile_async(Ks, K, 0, min(BK, Lk), tid);
        cp_async_commit();
    }
#endif
    for (int k0 = 0; k0 < kend; k0 += BK) {
        const int nk = min(BK, Lk - k0);
#if CPA
        // Vs is free (every warp passed the last block's final barrier).
        tile_async(Vs, V, k0, nk, tid);
        cp_async_commit();
        CP_ASYNC_WAIT(1);  // this block's K, issued a block earlier
        barrier(CLK_LOCAL_MEM_FENCE);
#else
        barrier(CLK_LOCAL_MEM_FENCE);  // the previous block's readers are done
        // K rows as they are, V transposed; keys past Lk read as 0.
        for (int v = tid; v < BK * (D / 8); v += NT) {
            const int key = v / (D / 8), d = (v % (D / 8)) * 8;
            uint4 kx = (uint4)(0u), vx = (uint4)(0u);
            if (key < nk) {
                kx = *(__global const uint4 *)(K + (size_t)(k0 + key) * D + d);
                vx = *(__global const uint4 *)(V + (size_t)(k0 + key) * D + d);
            }
            *(__local uint4 *)(Ks + key * LDK + d) = kx;
#if LDM
            *(__local uint4 *)(Vs + key * LDK + d) = vx;
#else
            const uint w[4] = {vx.x, vx.y, vx.z, vx.w};
            #pragma unroll
            for (int i = 0; i < 4; i++) {
                Vt[(d + 2 * i) * LDV + key] = (ushort)(w[i] & 0xffffu);
                Vt[(d + 2 * i + 1) * LDV + key] = (ushort)(w[i] >> 16);
            }
#endif
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#endif

        // S = Q K^T: n8 tile j holds keys j*8 .. j*8+7, this lane's 2t, 2t+1.
        float s[NK][4];
#if LDM
        // One ldmatrix.x4 for the B fragments of tiles j and j + 1: lanes
        // 0-15 key rows of tile j (d 0-7, then 8-15), 16-31 those of j + 1.
        #pragma unroll
        for (int j = 0; j < NK; j += 2) {
            #pragma unroll
            for (int q = 0; q < 4; q++)
                s[j][q] = s[j + 1][q] = 0.0f;
            #pragma unroll
            for (int st = 0; st < KD; st++) {
                uint r[4];
                ldsm_x4(r, (__local const uint *)Ks,
                        (((j + (lane >> 4)) * 8 + (lane & 7)) * LDK + st * 16 +
                         ((lane >> 3) & 1) * 8) / 2,
                        lane, scr);
                mma_op(s[j], qf[st], r, s[j], lane, scr);
                mma_op(s[j + 1], qf[st], r + 2, s[j + 1], lane, scr);
            }
        }
#else
        #pragma unroll
        for (int j = 0; j < NK; j++) {
            #pragma unroll
            for (int q = 0; q < 4; q++)
                s[j][q] = 0.0f;
            #pragma unroll
            for (int st = 0; st < KD; st++) {
                uint kb[2];
                frag_b(kb, Ks, LDK, j * 8, st * 16, g, t);
                mma_op(s[j], qf[st], kb, s[j], lane, scr);
            }
        }

#endif
#if CPA
        // Every warp is done with Ks: the next block's K goes in flight.
        barrier(CLK_LOCAL_MEM_FENCE);
        const int more = k0 + BK < kend;
        if (more) {
            tile_async(Ks, K, k0 + BK, min(BK, Lk - k0 - BK), tid);
            cp_async_commit();
        }
#endif

        // Online softmax, base 2, masked keys -inf; rows r0 (q 0, 1), r1 (q 2, 3).
        float mx0 = m0, mx1 = m1;
        #pragma unroll
        for (int j = 0; j < NK; j++)
            #pragma unroll
            for (int q = 0; q < 4; q++) {
                const int key = k0 + j * 8 + 2 * t + (q & 1);
                const float v = key < ((q >> 1) ? lim1 : lim0) ? s[j][q] * scale2 : -INFINITY;
                s[j][q] = v;
                if (q >> 1)
                    mx1 = fmax(mx1, v);
                else
                    mx0 = fmax(mx0, v);
            }
        mx0 = quad_max(mx0, lane, scr);
        mx1 = quad_max(mx1, lane, scr);
        const float ref0 = mx0 == -INFINITY ? 0.0f : mx0, ref1 = mx1 == -INFINITY ? 0.0f : mx1;
        const float al0 = exp2(m0 - ref0), al1 = exp2(m1 - ref1);  // 0 while m is -inf
        m0 = mx0;
        m1 = mx1;
        float ls0 = 0.0f, ls1 = 0.0f;
        #pragma unroll
        for (int j = 0; j < NK; j++)
            #pragma unroll
            for (int q = 0; q < 4; q++) {
                const float p = exp2(s[j][q] - ((q >> 1) ? ref1 : ref0));
                s[j][q] = p;
                if (q >> 1)
                    ls1 += p;
                else
                    ls0 += p;
            }
        l0 = fma(l0, al0, ls0);
        l1 = fma(l1, al1, ls1);
        #pragma unroll
        for (int j = 0; j < ND; j++) {
            o[j][0] *= al0;
            o[j][1] *= al0;
            o[j][2] *= al1;
            o[j][3] *= al1;
        }

#if CPA
        if (more)
            CP_ASYNC_WAIT(1);  // this block's V (the next K may stay in flight)
        else
            CP_ASYNC_WAIT(0);
        barrier(CLK_LOCAL_MEM_FENCE);
#endif
        // O += P V: k16 step st takes S tiles 2st and 2st+1 as one A fragment.
        #pragma unroll
        for (int st = 0; st < BK / 16; st++) {
            const uint pa[4] = {pack2(s[2 * st][0], s[2 * st][1]),
                                pack2(s[2 * st][2], s[2 * st][3]),
                                pack2(s[2 * st + 1][0], s[2 * st + 1][1]),
                                pack2(s[2 * st + 1][2], s[2 * st + 1][3])};
#if LDM
            // V rows transposed on the way (.trans): lanes 0-7 keys 0-7 and
            // 8-15 keys 8-15 of d tile j, 16-31 the same of tile j + 1.
            #pragma unroll
            for (int j = 0; j < ND; j += 2) {
                uint r[4];
                ldsm_x4_trans(r, Vs,
                              (st * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * LDK +
                                  (j + (lane >> 4)) * 8,
                              lane, scr);
                mma_op(o[j], pa, r, o[j], lane, scr);
                mma_op(o[j + 1], pa, r + 2, o[j + 1], lane, scr);
            }
#else
            #pragma unroll
            for (int j = 0; j < ND; j++) {
                uint vb[2];
                frag_b(vb, Vt, LDV, j * 8, st * 16, g, t);
                mma_op(o[j], pa, vb, o[j], lane, scr);
            }
#endif
        }
#if CPA
        barrier(CLK_LOCAL_MEM_FENCE);  // every warp is done with Vs
#endif
    }

    // Row sums over the quad, then O / l and lse (lane t == 0 of the quad).
    const float lt0 = quad_sum(l0, lane, scr), lt1 = quad_sum(l1, lane, scr);
    const float inv0 = lt0 > 0.0f ? 1.0f / lt0 : 0.0f, inv1 = lt1 > 0.0f ? 1.0f / lt1 : 0.0f;
    #pragma unroll
    for (int j = 0; j < ND; j++) {
        const int col = j * 8 + 2 * t;
        if (r0 < nq) {
            O[(size_t)r0 * D + col] = o[j][0] * inv0;
            O[(size_t)r0 * D + col + 1] = o[j][1] * inv0;
        }
        if (r1 < nq) {
            O[(size_t)r1 * D + col] = o[j][2] * inv1;
            O[(size_t)r1 * D + col + 1] = o[j][3] * inv1;
        }
    }
    if (t == 0 && r0 < nq)
        LSE[r0] = lt0 > 0.0f ? fma(m0, M_LN2_F, log(lt0)) : -INFINITY;
    if (t == 0 && r1 < nq)
        LSE[r1] = lt1 > 0.0f ? fma(m1, M_LN2_F, log(lt1)) : -INFINITY;
}
