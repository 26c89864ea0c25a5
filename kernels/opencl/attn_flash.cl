// attn_flash.cl: flash-attention forward, f32, for any OpenCL device
// (written for GPUs such as NVIDIA's via their OpenCL; also correct on CPU
// devices like PoCL), O = softmax(scale * Q K^T, causal mask) V.
//
// What it is: a FlashAttention-2 style forward. One work-group owns BQ query
// rows of one (batch, head); it walks the key blocks of BK keys up to the
// causal limit of its last row, keeps the (BQ, Lk) scores out of global
// memory, and writes O and the log-sum-exp once at the end.
// What it is not: a backward pass, a dropout/bias/alibi kernel, or a
// fp16/bf16 kernel (NVIDIA's OpenCL has no fp16 arithmetic).
//
// Layouts (contiguous, row-major):
//   Q (B,H,Lq,D)  K,V (B,Hkv,Lk,D)  O (B,H,Lq,D)  LSE (B,H,Lq)
//   query head h reads kv head h / GROUP (GROUP = H / Hkv).
//   causal (bottom-right aligned): row i sees keys j < i + (Lk - Lq) + 1.
//
// Per key block (k0 .. k0+BK):
//   1. K tile -> KVs                     (BK, DP) local, zero beyond Lk and D
//   2. S = Q_blk K_blk^T                 each thread an RQ x RK register tile
//      scaled by scale*log2(e), masked to -inf; partial row max -> red
//   3. V tile -> KVs (K is done)         overlaps the softmax of slower warps
//      online softmax: m_new = max(m, rowmax), alpha = 2^(m - m_new),
//      P = 2^(S - m_new) -> Ps, l = l*alpha + rowsum, O *= alpha
//   4. O += P V_blk                      each thread an RQ x (4*RD4) tile
// At the end O / l and lse = ln2 * m + ln(l); a row that saw no key (only
// when causal and Lq > Lk) gets O = 0, lse = -inf, as the reference does.
//
// Thread mapping (NT = TX * TY threads, TY = BQ / RQ): thread (tx, ty) owns
// query rows ty + i*TY (i < RQ) in *both* GEMMs, so each thread keeps the
// running max and its own partial of the row sum in registers and only the
// block row-max needs a local-memory reduction over the TX threads of a row
// (the sum is reduced once, at the end). In S it owns keys tx + r*TX
// (r < RK = BK/TX); in P V it owns the float4 columns of D at tx*4 + c*4*TX
// (c < RD4). Strided ownership makes the lanes of a warp read different rows
// (rows padded by PAD floats, so 8 float4 reads hit 8 different bank groups)
// or neighbouring float4s, and same-row reads broadcast.
//
// Scores are in base-2 units (scaled by scale*log2 e) so the softmax uses
// exp2, the hardware's native exponential, at full (non-relaxed) precision.
// Masked scores are -inf; a row whose maximum is still -inf uses 0 as its
// reference so that 2^(-inf - ref) = 0 instead of NaN.
//
// Defines (host-set, see attn_opencl.c): D head dim, DP = D padded to a
// multiple of 4*TX (zero-filled), BQ, BK, TX, RQ, PAD.
#ifndef D
#define D 64
#endif
#ifndef TX
#define TX 8
#endif
#ifndef DP
#define DP (((D) + 4 * (TX) - 1) / (4 * (TX)) * (4 * (TX)))
#endif
#ifndef BQ
#define BQ 32
#endif
#ifndef BK
#define BK 32
#endif
#ifndef RQ
#define RQ 4
#endif
#ifndef PAD
#define PAD 4
#endif

#define TY (BQ / RQ)
#define NT (TX * TY)
#define RK (BK / TX)
#define RD4 (DP / (4 * TX))  // float4 columns of O per thread and row
#define LDQ (DP + PAD)       // row stride of Qs and KVs
#define LDP (BK + PAD)       // row stride of Ps

#if BQ % RQ || BK % TX || BK % 4 || DP % (4 * TX) || DP < D || PAD % 4
#error "attn_flash: need BQ % RQ == 0, BK % TX == 0, BK % 4 == 0, DP % (4*TX) == 0, PAD % 4 == 0"
#endif

// Copy rows [0, nrows) of a (rows, D) global matrix into a (nrows, DP) local
// tile with stride LDQ; rows >= nvalid and columns >= D become 0, so padded
// keys contribute 0 * 0 and never NaN.
inline void load_tile(__local float *dst, __global const float *src, int nvalid, int nrows,
                      int tid)
{
    for (int v = tid; v < nrows * (DP / 4); v += NT) {
        const int r = v / (DP / 4), c = (v % (DP / 4)) * 4;
        float4 x = (float4)(0.0f);
        if (r < nvalid && c < D) {
            __global const float *p = src + (size_t)r * D + c;
#if D % 4 == 0
            x = *(__global const float4 *)p;  // 16-byte aligned: D % 4 == 0
#else
            x.x = p[0];
            if (c + 1 < D)
                x.y = p[1];
            if (c + 2 < D)
                x.z = p[2];
            if (c + 3 < D)
                x.w = p[3];
#endif
        }
        *(__local float4 *)(dst + r * LDQ + c) = x;
    }
}

__kernel __attribute__((reqd_work_group_size(NT, 1, 1)))
void attn_fwd(__global const float *restrict Q, __global const float *restrict K,
              __global const float *restrict V, __global float *restrict O,
              __global float *restrict LSE, int BH, int H, int GROUP, int Lq, int Lk,
              float scale2, int causal)
{
    // Declared as float4 so every tile is 16-byte aligned for the float4
    // accesses (a float array is only guaranteed 4); all sizes are multiples
    // of 4 floats because LDQ and LDP are.
    __local float4 Qs4[BQ * LDQ / 4];
    __local float4 KVs4[BK * LDQ / 4];  // the K tile, then the V tile of the same block
    __local float4 Ps4[BQ * LDP / 4];
    __local float red[BQ * TX];         // per-row partials of the TX threads of a row
    __local float *Qs = (__local float *)Qs4, *KVs = (__local float *)KVs4;
    __local float *Ps = (__local float *)Ps4;

    const int tid = get_local_id(0), tx = tid % TX, ty = tid / TX;
    // Heaviest query blocks first (the last ones under a causal mask), all
    // heads of one query block next to each other.
    const int nqb = (Lq + BQ - 1) / BQ, g = get_group_id(0);
    const int qb = nqb - 1 - g / BH, bh = g % BH;
    const int q0 = qb * BQ;
    const int b = bh / H, h = bh % H;
    const int kvbh = b * (H / GROUP) + h / GROUP;
    const int nq = min(BQ, Lq - q0);  // valid rows in this block

    Q += ((size_t)bh * Lq + q0) * D;
    O += ((size_t)bh * Lq + q0) * D;
    LSE += (size_t)bh * Lq + q0;
    K += (size_t)kvbh * Lk * D;
    V += (size_t)kvbh * Lk * D;

    // Keys visible to each owned row, and to the block's last row (the loop
    // bound: later key blocks are masked for every row).
    const int shift = Lk - Lq + 1;
    int lim[RQ];
    #pragma unroll
    for (int i = 0; i < RQ; i++)
        lim[i] = causal ? clamp(q0 + ty + i * TY + shift, 0, Lk) : Lk;
    const int kend = causal ? clamp(q0 + nq - 1 + shift, 0, Lk) : Lk;

    float m[RQ], l[RQ];
    float4 o[RQ][RD4];
    #pragma unroll
    for (int i = 0; i < RQ; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
        #pragma unroll
        for (int c = 0; c < RD4; c++)
            o[i][c] = (float4)(0.0f);
    }

    load_tile(Qs, Q, nq, BQ, tid);

    for (int k0 = 0; k0 < kend; k0 += BK) {
        const int nk = min(BK, Lk - k0);
        barrier(CLK_LOCAL_MEM_FENCE);  // previous block's P V is done with KVs, Ps
        load_tile(KVs, K + (size_t)k0 * D, nk, BK, tid);
        barrier(CLK_LOCAL_MEM_FENCE);

        // S (RQ, RK) = Q rows x K rows over DP, float4 at a time.
        float s[RQ][RK];
        #pragma unroll
        for (int i = 0; i < RQ; i++)
            #pragma unroll
            for (int r = 0; r < RK; r++)
                s[i][r] = 0.0f;
#pragma unroll 4
        for (int d = 0; d < DP; d += 4) {
            float4 qv[RQ], kv[RK];
            #pragma unroll
            for (int i = 0; i < RQ; i++)
                qv[i] = *(__local const float4 *)(Qs + (ty + i * TY) * LDQ + d);
            #pragma unroll
            for (int r = 0; r < RK; r++)
                kv[r] = *(__local const float4 *)(KVs + (tx + r * TX) * LDQ + d);
            #pragma unroll
            for (int i = 0; i < RQ; i++)
                #pragma unroll
                for (int r = 0; r < RK; r++) {
                    float a = s[i][r];
                    a = fma(qv[i].x, kv[r].x, a);
                    a = fma(qv[i].y, kv[r].y, a);
                    a = fma(qv[i].z, kv[r].z, a);
                    a = fma(qv[i].w, kv[r].w, a);
                    s[i][r] = a;
                }
        }

        // Scale, mask, and this thread's share of each row's maximum.
        #pragma unroll
        for (int i = 0; i < RQ; i++) {
            float mx = -INFINITY;
            #pragma unroll
            for (int r = 0; r < RK; r++) {
                const int j = k0 + tx + r * TX;
                const float v = j < lim[i] ? s[i][r] * scale2 : -INFINITY;
                s[i][r] = v;
                mx = fmax(mx, v);
            }
            red[(ty + i * TY) * TX + tx] = mx;
        }
        barrier(CLK_LOCAL_MEM_FENCE);  // S no longer reads KVs; red complete

        load_tile(KVs, V + (size_t)k0 * D, nk, BK, tid);

        #pragma unroll
        for (int i = 0; i < RQ; i++) {
            const int row = ty + i * TY;
            float mx = m[i];
            #pragma unroll
            for (int t = 0; t < TX; t++)
                mx = fmax(mx, red[row * TX + t]);
            const float ref = mx == -INFINITY ? 0.0f : mx;  // no key seen yet
            const float alpha = exp2(m[i] - ref);           // 0 when m was -inf
            m[i] = mx;
            float ls = 0.0f;
            #pragma unroll
            for (int r = 0; r < RK; r++) {
                const float p = exp2(s[i][r] - ref);
                Ps[row * LDP + tx + r * TX] = p;
                ls += p;
            }
            l[i] = fma(l[i], alpha, ls);
            #pragma unroll
            for (int c = 0; c < RD4; c++)
                o[i][c] *= alpha;
        }
        barrier(CLK_LOCAL_MEM_FENCE);  // V tile and P complete

        // O (RQ, 4*RD4) += P rows x V over the BK keys, 4 keys at a time.
#pragma unroll 2
        for (int k = 0; k < BK; k += 4) {
            float4 pv[RQ];
            #pragma unroll
            for (int i = 0; i < RQ; i++)
                pv[i] = *(__local const float4 *)(Ps + (ty + i * TY) * LDP + k);
            #pragma unroll
            for (int c = 0; c < RD4; c++) {
                const int col = c * 4 * TX + tx * 4;
                const float4 v0 = *(__local const float4 *)(KVs + (k + 0) * LDQ + col);
                const float4 v1 = *(__local const float4 *)(KVs + (k + 1) * LDQ + col);
                const float4 v2 = *(__local const float4 *)(KVs + (k + 2) * LDQ + col);
                const float4 v3 = *(__local const float4 *)(KVs + (k + 3) * LDQ + col);
                #pragma unroll
                for (int i = 0; i < RQ; i++) {
                    float4 a = o[i][c];
                    a = fma((float4)(pv[i].x), v0, a);
                    a = fma((float4)(pv[i].y), v1, a);
                    a = fma((float4)(pv[i].z), v2, a);
                    a = fma((float4)(pv[i].w), v3, a);
                    o[i][c] = a;
                }
            }
        }
    }

    // Row sums: add the TX partials. Every read of red in the loop happened
    // before the loop's last barrier, so red can be rewritten now.
    #pragma unroll
    for (int i = 0; i < RQ; i++)
        red[(ty + i * TY) * TX + tx] = l[i];
    barrier(CLK_LOCAL_MEM_FENCE);

    #pragma unroll
    for (int i = 0; i < RQ; i++) {
        const int row = ty + i * TY;
        float lt = 0.0f;
        #pragma unroll
        for (int t = 0; t < TX; t++)
            lt += red[row * TX + t];
        if (row >= nq)
            continue;
        // lt == 0 only for a row that saw no key: its O is still 0.
        const float inv = lt > 0.0f ? 1.0f / lt : 0.0f;
        __global float *orow = O + (size_t)row * D;
        #pragma unroll
        for (int c = 0; c < RD4; c++) {
            const int col = c * 4 * TX + tx * 4;
            const float4 r = o[i][c] * inv;
#if D % 4 == 0
            if (col < D)
                *(__global float4 *)(orow + col) = r;
#else
            if (col < D)
                orow[col] = r.x;
            if (col + 1 < D)
                orow[col + 1] = r.y;
            if (col + 2 < D)
                orow[col + 2] = r.z;
            if (col + 3 < D)
                orow[col + 3] = r.w;
#endif
        }
        if (tx == 0)
            LSE[row] = lt > 0.0f ? fma(m[i], M_LN2_F, log(lt)) : -INFINITY;
    }
}
