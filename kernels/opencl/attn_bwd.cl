// attn_bwd.cl: flash-attention backward, f32, for any OpenCL device (written
// for GPUs such as NVIDIA's via their OpenCL; also correct on CPU devices
// like PoCL). The gradients of O = softmax(scale * Q K^T, causal mask) V
// given O, the forward's log-sum-exp and dO:
//   P = exp(scale q.k - lse)   Di = sum_d dO_id O_id
//   dV = P^T dO   dP = dO V^T   dS = P * (dP - Di)
//   dQ = scale dS K   dK = scale dS^T Q
//
// What it is: a FlashAttention-2 style backward in two launches and no
// atomics; the (Lq, Lk) matrices P and dS never reach global memory, they
// are recomputed per tile from Q, K and lse.
//   attn_bwd_dq    one work-group per (batch, head, block of QBQ query rows):
//                  Di of its rows (written to a scratch buffer for the next
//                  launch), then the key blocks of QBK keys up to the causal
//                  limit of its last row: S, dP, dS, dQ += dS K. dQ is
//                  written once.
//   attn_bwd_dkdv  one work-group per (batch, kv head, block of BKV keys):
//                  K and V tiles stay in local memory; for every query head
//                  of the GQA group and every block of BQ query rows that
//                  sees any of its keys: S, dP, P, dS, dV += P^T dO,
//                  dK += dS^T Q. dK and dV are summed over the group in
//                  registers and written once.
// What it is not: a forward, a dropout/bias kernel, or fp16/bf16.
//
// Layouts (contiguous, row-major):
//   Q, O, dO, dQ (B,H,Lq,D)  K, V, dK, dV (B,Hkv,Lk,D)  LSE, DI (B,H,Lq)
//   query head h reads kv head h / GROUP (GROUP = H / Hkv).
//   causal (bottom-right aligned): row i sees keys j <= i + (Lk - Lq).
//
// Rows whose lse is -inf (causal rows that see no key, only when Lq > Lk)
// have P = 0: such an lse is replaced by +inf in local memory so that
// exp2(s - lse) is exactly 0 and never inf - inf = NaN. Masked and padded
// (j >= Lk) entries are set to 0 explicitly. P uses exp2 with the scores and
// lse in base-2 units, at full (non-relaxed) precision.
//
// Both kernels share one register-blocked mini-GEMM shape for S and dP
// (fused: one pass over D reads the Q, dO rows and the K, V rows):
// thread (sx, sy), sx < SX, sy < SY, owns rows sy + i*SY (i < RQ) and keys
// sx + r*SX (r < RK), float4 along D (strided ownership: the lanes of a warp
// read different padded rows or the same row, broadcast). The second GEMM
// maps thread (cx, cy) to output rows cy + r*CY and float4 columns
// cx*4 + c*4*CX of D. Threads beyond SX*SY (CX*CY) idle in that phase.
// Local tiles are declared float4 (16-byte aligned for the float4 accesses;
// a __local float array read as float4 faults on NVIDIA).
//
// Defines (host-set, see attn_bwd_opencl.c): D head dim, DP = D padded to a
// multiple of 4*CX and 4*QCX (zero-filled), PAD (floats per local row);
// dK/dV kernel: BKV, BQ, NT, SX, SY, CX, CY; dQ kernel: QBQ, QBK, QNT, QSX,
// QSY, QCX, QCY.
#ifndef D
#define D 64
#endif
#ifndef PAD
#define PAD 4
#endif
#ifndef BKV
#define BKV 32
#endif
#ifndef BQ
#define BQ 16
#endif
#ifndef NT
#define NT 128
#endif
#ifndef SX
#define SX 16
#endif
#ifndef SY
#define SY 8
#endif
#ifndef CX
#define CX 16
#endif
#ifndef CY
#define CY 8
#endif
#ifndef QBQ
#define QBQ 32
#endif
#ifndef QBK
#define QBK 16
#endif
#ifndef QNT
#define QNT 128
#endif
#ifndef QSX
#define QSX 16
#endif
#ifndef QSY
#define QSY 8
#endif
#ifndef QCX
#define QCX 16
#endif
#ifndef QCY
#define QCY 8
#endif
#ifndef DP
#define DP (((D) + 63) / 64 * 64)
#endif

#define LOG2E 1.44269504088896341f
#define LDQ (DP + PAD)  // row stride of the Q, dO, K, V tiles

// dK/dV kernel
#define RQ (BQ / SY)
#define RK (BKV / SX)
#define RKV (BKV / CY)
#define RD4 (DP / (4 * CX))
#define LDT (BQ + PAD)  // row stride of P^T and dS^T (BKV rows)

// dQ kernel
#define QRQ (QBQ / QSY)
#define QRK (QBK / QSX)
#define QRR (QBQ / QCY)
#define QRD4 (DP / (4 * QCX))
#define LDS (QBK + PAD)  // row stride of dS (QBQ rows)

#if BQ % SY || BKV % SX || BKV % CY || DP % (4 * CX) || SX * SY > NT || CX * CY > NT || BQ % 4
#error "attn_bwd: dK/dV tile parameters inconsistent"
#endif
#if QBQ % QSY || QBK % QSX || QBQ % QCY || DP % (4 * QCX) || QSX * QSY > QNT || \
    QCX * QCY > QNT || QBK % 4
#error "attn_bwd: dQ tile parameters inconsistent"
#endif
#if DP < D || PAD % 4
#error "attn_bwd: need DP >= D and PAD % 4 == 0"
#endif

// Copy rows [0, nrows) of a (rows, D) global matrix into a (nrows, DP) local
// tile with stride LDQ; rows >= nvalid and columns >= D become 0.
inline void load_tile(__local float *dst, __global const float *src, int nvalid, int nrows,
                      int tid, int nt)
{
    for (int v = tid; v < nrows * (DP / 4); v += nt) {
        const int r = v / (DP / 4), c = (v % (DP / 4)) * 4;
        float4 x = (float4)(0.0f);
        if (r < nvalid && c < D) {
            __global const float *p = src + (size_t)r * D + c;
#if D % 4 == 0
            x = *(__global const float4 *)p;
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

inline void store_row4(__global float *row, int col, float4 r)
{
#if D % 4 == 0
    if (col < D)
        *(__global float4 *)(row + col) = r;
#else
    if (col < D)
        row[col] = r.x;
    if (col + 1 < D)
        row[col + 1] = r.y;
    if (col + 2 < D)
        row[col + 2] = r.z;
    if (col + 3 < D)
        row[col + 3] = r.w;
#endif
}

// acc += u4 . w4 over a float4
#define DOT4(acc, u4, w4) \
    acc = fma((u4).x, (w4).x, acc); \
    acc = fma((u4).y, (w4).y, acc); \
    acc = fma((u4).z, (w4).z, acc); \
    acc = fma((u4).w, (w4).w, acc)

// dQ (and Di) ----------------------------------------------------------------

__kernel __attribute__((reqd_work_group_size(QNT, 1, 1)))
void attn_bwd_dq(__global const float *restrict Q, __global const float *restrict K,
                 __global const float *restrict V, __global const float *restrict O,
                 __global const float *restrict dO, __global const float *restrict LSE,
                 __global float *restrict DI, __global float *restrict dQ, int BH, int H,
                 int GROUP, int Lq, int Lk, float scale, int causal)
{
    __local float4 Qs4[QBQ * LDQ / 4];
    __local float4 dOs4[QBQ * LDQ / 4];
    __local float4 Ks4[QBK * LDQ / 4];
    __local float4 Vs4[QBK * LDQ / 4];
    __local float4 dSs4[QBQ * LDS / 4];
    __local float lse2[QBQ], dis[QBQ];
    __local float *Qs = (__local float *)Qs4, *dOs = (__local float *)dOs4;
    __local float *Ks = (__local float *)Ks4, *Vs = (__local float *)Vs4;
    __local float *dSs = (__local float *)dSs4;

    const int tid = get_local_id(0);
    const int sx = tid % QSX, sy = tid / QSX, cx = tid % QCX, cy = tid / QCX;
    const bool s_on = tid < QSX * QSY, c_on = tid < QCX * QCY;
    // Heaviest query blocks first (the last ones under a causal mask).
    const int nqb = (Lq + QBQ - 1) / QBQ, g = get_group_id(0);
    const int qb = nqb - 1 - g / BH, bh = g % BH;
    const int q0 = qb * QBQ;
    const int b = bh / H, h = bh % H;
    const int kvbh = b * (H / GROUP) + h / GROUP;
    const int nq = min(QBQ, Lq - q0);
    const int diag = Lk - Lq;  // row i sees keys j <= i + diag
    const float sl2 = scale * LOG2E;

    Q += ((size_t)bh * Lq + q0) * D;
    O += ((size_t)bh * Lq + q0) * D;
    dO += ((size_t)bh * Lq + q0) * D;
    dQ += ((size_t)bh * Lq + q0) * D;
    LSE += (size_t)bh * Lq + q0;
    DI += (size_t)bh * Lq + q0;
    K += (size_t)kvbh * Lk * D;
    V += (size_t)kvbh * Lk * D;

    load_tile(Qs, Q, nq, QBQ, tid, QNT);
    load_tile(dOs, dO, nq, QBQ, tid, QNT);
    barrier(CLK_LOCAL_MEM_FENCE);
    // Di = dO . O per row (dO from local memory), also kept for dK/dV.
    for (int r = tid; r < QBQ; r += QNT) {
        float di = 0.0f, l2 = INFINITY;
        if (r < nq) {
            __global const float *orow = O + (size_t)r * D;
#if D % 4 == 0
            for (int d = 0; d < D; d += 4) {
                const float4 o4 = *(__global const float4 *)(orow + d);
                const float4 g4 = *(__local const float4 *)(dOs + r * LDQ + d);
                DOT4(di, o4, g4);
            }
#else
            for (int d = 0; d < D; d++)
                di = fma(orow[d], dOs[r * LDQ + d], di);
#endif
            DI[r] = di;
            const float l = LSE[r];
            l2 = l == -INFINITY ? INFINITY : l * LOG2E;  // no key seen: P = 0
        }
        dis[r] = di;
        lse2[r] = l2;
    }

    const int kend = causal ? clamp(q0 + nq + diag, 0, Lk) : Lk;

    float4 dq[QRR][QRD4];
    #pragma unroll
    for (int r = 0; r < QRR; r++)
        #pragma unroll
        for (int c = 0; c < QRD4; c++)
            dq[r][c] = (float4)(0.0f);

    for (int k0 = 0; k0 < kend; k0 += QBK) {
        const int nk = min(QBK, Lk - k0);
        barrier(CLK_LOCAL_MEM_FENCE);  // previous dQ GEMM done with Ks, dSs
        load_tile(Ks, K + (size_t)k0 * D, nk, QBK, tid, QNT);
        load_tile(Vs, V + (size_t)k0 * D, nk, QBK, tid, QNT);
        barrier(CLK_LOCAL_MEM_FENCE);

        if (s_on) {
            float s[QRQ][QRK], dp[QRQ][QRK];
            #pragma unroll
            for (int i = 0; i < QRQ; i++)
                #pragma unroll
                for (int r = 0; r < QRK; r++)
                    s[i][r] = dp[i][r] = 0.0f;
#pragma unroll 2
            for (int d = 0; d < DP; d += 4) {
                float4 qv[QRQ], ov[QRQ], kv[QRK], vv[QRK];
                #pragma unroll
                for (int i = 0; i < QRQ; i++) {
                    qv[i] = *(__local const float4 *)(Qs + (sy + i * QSY) * LDQ + d);
                    ov[i] = *(__local const float4 *)(dOs + (sy + i * QSY) * LDQ + d);
                }
                #pragma unroll
                for (int r = 0; r < QRK; r++) {
                    kv[r] = *(__local const float4 *)(Ks + (sx + r * QSX) * LDQ + d);
                    vv[r] = *(__local const float4 *)(Vs + (sx + r * QSX) * LDQ + d);
                }
                #pragma unroll
                for (int i = 0; i < QRQ; i++)
                    #pragma unroll
                    for (int r = 0; r < QRK; r++) {
                        DOT4(s[i][r], qv[i], kv[r]);
                        DOT4(dp[i][r], ov[i], vv[r]);
                    }
            }
            #pragma unroll
            for (int i = 0; i < QRQ; i++) {
                const int row = sy + i * QSY;
                const int lim = causal ? q0 + row + diag : Lk - 1;  // last visible key
                const float l2 = lse2[row], di = dis[row];
                #pragma unroll
                for (int r = 0; r < QRK; r++) {
                    const int j = k0 + sx + r * QSX;
                    const float p = (j < Lk && j <= lim) ? exp2(fma(s[i][r], sl2, -l2)) : 0.0f;
                    dSs[row * LDS + sx + r * QSX] = p * (dp[i][r] - di);
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);

        if (c_on) {
            // dQ (QRR, 4*QRD4) += dS rows x K over the QBK keys, 4 at a time.
#pragma unroll 2
            for (int k = 0; k < QBK; k += 4) {
                float4 sv[QRR];
                #pragma unroll
                for (int r = 0; r < QRR; r++)
                    sv[r] = *(__local const float4 *)(dSs + (cy + r * QCY) * LDS + k);
                #pragma unroll
                for (int c = 0; c < QRD4; c++) {
                    const int col = c * 4 * QCX + cx * 4;
                    const float4 k0v = *(__local const float4 *)(Ks + (k + 0) * LDQ + col);
                    const float4 k1v = *(__local const float4 *)(Ks + (k + 1) * LDQ + col);
                    const float4 k2v = *(__local const float4 *)(Ks + (k + 2) * LDQ + col);
                    const float4 k3v = *(__local const float4 *)(Ks + (k + 3) * LDQ + col);
                    #pragma unroll
                    for (int r = 0; r < QRR; r++) {
                        float4 a = dq[r][c];
                        a = fma((float4)(sv[r].x), k0v, a);
                        a = fma((float4)(sv[r].y), k1v, a);
                        a = fma((float4)(sv[r].z), k2v, a);
                        a = fma((float4)(sv[r].w), k3v, a);
                        dq[r][c] = a;
                    }
                }
            }
        }
    }

    if (c_on) {
        #pragma unroll
        for (int r = 0; r < QRR; r++) {
            const int row = cy + r * QCY;
            if (row >= nq)
                continue;
            #pragma unroll
            for (int c = 0; c < QRD4; c++)
                store_row4(dQ + (size_t)row * D, c * 4 * QCX + cx * 4, dq[r][c] * scale);
        }
    }
}

// dK, dV -----------------------------------------------------------------------

__kernel __attribute__((reqd_work_group_size(NT, 1, 1)))
void attn_bwd_dkdv(__global const float *restrict Q, __global const float *restrict K,
                   __global const float *restrict V, __global const float *restrict dO,
                   __global const float *restrict LSE, __global const float *restrict DI,
                   __global float *restrict dK, __global float *restrict dV, int BHKV, int H,
                   int GROUP, int Lq, int Lk, float scale, int causal)
{
    __local float4 Ks4[BKV * LDQ / 4];
    __local float4 Vs4[BKV * LDQ / 4];
    __local float4 Qs4[BQ * LDQ / 4];
    __local float4 dOs4[BQ * LDQ / 4];
    __local float4 Pt4[BKV * LDT / 4];
    __local float4 dSt4[BKV * LDT / 4];
    __local float lse2[BQ], dis[BQ];
    __local float *Ks = (__local float *)Ks4, *Vs = (__local float *)Vs4;
    __local float *Qs = (__local float *)Qs4, *dOs = (__local float *)dOs4;
    __local float *Pt = (__local float *)Pt4, *dSt = (__local float *)dSt4;

    const int tid = get_local_id(0);
    const int sx = tid % SX, sy = tid / SX, cx = tid % CX, cy = tid / CX;
    const bool s_on = tid < SX * SY, c_on = tid < CX * CY;
    // Key block 0 first: under a causal mask it has the most query rows.
    const int g = get_group_id(0);
    const int kb = g / BHKV, bkv = g % BHKV;
    const int Hkv = H / GROUP, b = bkv / Hkv, hk = bkv % Hkv;
    const int k0 = kb * BKV, nk = min(BKV, Lk - k0);
    const int diag = Lk - Lq;  // row i sees keys j <= i + diag
    const float sl2 = scale * LOG2E;

    K += ((size_t)bkv * Lk + k0) * D;
    V += ((size_t)bkv * Lk + k0) * D;
    dK += ((size_t)bkv * Lk + k0) * D;
    dV += ((size_t)bkv * Lk + k0) * D;

    load_tile(Ks, K, nk, BKV, tid, NT);
    load_tile(Vs, V, nk, BKV, tid, NT);

    float4 dk[RKV][RD4], dv[RKV][RD4];
    #pragma unroll
    for (int r = 0; r < RKV; r++)
        #pragma unroll
        for (int c = 0; c < RD4; c++)
            dk[r][c] = dv[r][c] = (float4)(0.0f);

    // First query row that sees key k0.
    const int qstart = causal ? max(0, k0 - diag) : 0;

    for (int t = 0; t < GROUP; t++) {
        const int bh = b * H + hk * GROUP + t;
        __global const float *Qh = Q + (size_t)bh * Lq * D;
        __global const float *dOh = dO + (size_t)bh * Lq * D;
        __global const float *LSEh = LSE + (size_t)bh * Lq;
        __global const float *DIh = DI + (size_t)bh * Lq;

        for (int q0 = qstart; q0 < Lq; q0 += BQ) {
            const int nq = min(BQ, Lq - q0);
            barrier(CLK_LOCAL_MEM_FENCE);  // previous GEMMs done with Qs, dOs, Pt, dSt
            load_tile(Qs, Qh + (size_t)q0 * D, nq, BQ, tid, NT);
            load_tile(dOs, dOh + (size_t)q0 * D, nq, BQ, tid, NT);
            for (int r = tid; r < BQ; r += NT) {
                float l2 = INFINITY, di = 0.0f;  // padded rows: P = 0
                if (r < nq) {
                    const float l = LSEh[q0 + r];
                    l2 = l == -INFINITY ? INFINITY : l * LOG2E;
                    di = DIh[q0 + r];
                }
                lse2[r] = l2;
                dis[r] = di;
            }
            barrier(CLK_LOCAL_MEM_FENCE);

            if (s_on) {
                float s[RQ][RK], dp[RQ][RK];
                #pragma unroll
                for (int i = 0; i < RQ; i++)
                    #pragma unroll
                    for (int r = 0; r < RK; r++)
                        s[i][r] = dp[i][r] = 0.0f;
#pragma unroll 2
                for (int d = 0; d < DP; d += 4) {
                    float4 qv[RQ], ov[RQ], kv[RK], vv[RK];
                    #pragma unroll
                    for (int i = 0; i < RQ; i++) {
                        qv[i] = *(__local const float4 *)(Qs + (sy + i * SY) * LDQ + d);
                        ov[i] = *(__local const float4 *)(dOs + (sy + i * SY) * LDQ + d);
                    }
                    #pragma unroll
                    for (int r = 0; r < RK; r++) {
                        kv[r] = *(__local const float4 *)(Ks + (sx + r * SX) * LDQ + d);
                        vv[r] = *(__local const float4 *)(Vs + (sx + r * SX) * LDQ + d);
                    }
                    #pragma unroll
                    for (int i = 0; i < RQ; i++)
                        #pragma unroll
                        for (int r = 0; r < RK; r++) {
                            DOT4(s[i][r], qv[i], kv[r]);
                            DOT4(dp[i][r], ov[i], vv[r]);
                        }
                }
                #pragma unroll
                for (int i = 0; i < RQ; i++) {
                    const int row = sy + i * SY;
                    const int lim = causal ? q0 + row + diag : Lk - 1;  // last visible key
                    const float l2 = lse2[row], di = dis[row];
                    #pragma unroll
                    for (int r = 0; r < RK; r++) {
                        const int jl = sx + r * SX, j = k0 + jl;
                        const float p =
                            (j < Lk && j <= lim) ? exp2(fma(s[i][r], sl2, -l2)) : 0.0f;
                        Pt[jl * LDT + row] = p;
                        dSt[jl * LDT + row] = p * (dp[i][r] - di);
                    }
                }
            }
            barrier(CLK_LOCAL_MEM_FENCE);

            if (c_on) {
                // dV += P^T dO, dK += dS^T Q over the BQ rows, 4 at a time.
                for (int i = 0; i < BQ; i += 4) {
                    float4 pv[RKV], sv[RKV];
                    #pragma unroll
                    for (int r = 0; r < RKV; r++) {
                        pv[r] = *(__local const float4 *)(Pt + (cy + r * CY) * LDT + i);
                        sv[r] = *(__local const float4 *)(dSt + (cy + r * CY) * LDT + i);
                    }
                    #pragma unroll
                    for (int c = 0; c < RD4; c++) {
                        const int col = c * 4 * CX + cx * 4;
                        const float4 o0 = *(__local const float4 *)(dOs + (i + 0) * LDQ + col);
                        const float4 o1 = *(__local const float4 *)(dOs + (i + 1) * LDQ + col);
                        const float4 o2 = *(__local const float4 *)(dOs + (i + 2) * LDQ + col);
                        const float4 o3 = *(__local const float4 *)(dOs + (i + 3) * LDQ + col);
                        const float4 x0 = *(__local const float4 *)(Qs + (i + 0) * LDQ + col);
                        const float4 x1 = *(__local const float4 *)(Qs + (i + 1) * LDQ + col);
                        const float4 x2 = *(__local const float4 *)(Qs + (i + 2) * LDQ + col);
                        const float4 x3 = *(__local const float4 *)(Qs + (i + 3) * LDQ + col);
                        #pragma unroll
                        for (int r = 0; r < RKV; r++) {
                            float4 a = dv[r][c];
                            a = fma((float4)(pv[r].x), o0, a);
                            a = fma((float4)(pv[r].y), o1, a);
                            a = fma((float4)(pv[r].z), o2, a);
                            a = fma((float4)(pv[r].w), o3, a);
                            dv[r][c] = a;
                            float4 e = dk[r][c];
                            e = fma((float4)(sv[r].x), x0, e);
                            e = fma((float4)(sv[r].y), x1, e);
                            e = fma((float4)(sv[r].z), x2, e);
                            e = fma((float4)(sv[r].w), x3, e);
                            dk[r][c] = e;
                        }
                    }
                }
            }
        }
    }

    if (c_on) {
        #pragma unroll
        for (int r = 0; r < RKV; r++) {
            const int j = cy + r * CY;
            if (j >= nk)
                continue;
            #pragma unroll
            for (int c = 0; c < RD4; c++) {
                const int col = c * 4 * CX + cx * 4;
                store_row4(dK + (size_t)j * D, col, dk[r][c] * scale);
                store_row4(dV + (size_t)j * D, col, dv[r][c]);
            }
        }
    }
}
