// attn_flash_tiles.cl: flash-attention forward, f32, the "tiles" variant of
// attn_f32_opencl, written for GPUs whose local memory cannot hold a large
// Q block at D=128 (NVIDIA's OpenCL: 48 KiB a work-group).
//
// What it is: the same FlashAttention-2 forward as attn_flash.cl (one
// work-group owns BQ query rows of one (batch, head) and walks the key
// blocks up to its causal limit; O and lse written once), but both products
// are run as the tiled GEMM of gemm_tiled.cl: local tiles k-major, each
// thread an RM x RS score tile and an RM x RO output tile read with float4,
// the next global chunk fetched into registers while the current one is
// multiplied (one barrier per chunk). Q is *not* kept in local memory: its
// TK-deep chunks are streamed again for every key block (they stay in L1/L2),
// which is what lets BQ reach 128 rows and the register tiles reach 8 x 8.
// What it is not: a backward pass, or a kernel for CPU devices (PoCL runs it
// correctly, the "rows" variant in attn_flash.cl is faster there).
//
// Layouts (contiguous, row-major), the same as attn_flash.cl:
//   Q (B,H,Lq,D)  K,V (B,Hkv,Lk,D)  O (B,H,Lq,D)  LSE (B,H,Lq)
//   query head h reads kv head h / GROUP; causal is bottom-right aligned:
//   row i sees keys j < i + (Lk - Lq) + 1.
//
// Per key block k0 .. k0+BK:
//   1. S (BQ, BK) = Q_blk K_blk^T over DP in chunks of TK: Qs[TK][BQ],
//      Ks[TK][BK] double-buffered; S stays in registers.
//   2. Softmax, in registers: each thread scales and masks its RM x RS
//      scores and leaves its per-row maxima in red[NTX][BQ]; one thread a
//      row folds them into m_new and alpha = 2^(m - m_new) (-> mref, al);
//      each thread then forms P = 2^(S - m_new), adds its part of the row
//      sums (l = l*alpha + sum P, reduced over NTX once at the end), rescales
//      its O rows by alpha and writes P to Pt[BK][BQ] (key-major, so step 3
//      reads float4 of rows).
//   3. O += P V_blk over the keys in chunks of TV: Vs[TV][DP]
//      double-buffered. With PS > 1, Pt holds BK/PS keys at a time and P
//      goes through it in PS passes (one more barrier each): the local
//      memory that lets 128 rows x 128 keys fit at D=128.
// At the end O / l and lse = ln2 * m + ln(l); a row that saw no key gets
// O = 0, lse = -inf.
//
// Local memory: the S chunks are dead once S is in registers and Pt/Vs are
// dead once P V is done, so the two share one region: the larger of
// 2*TK*(BQ+BK) and BK*BQ + 2*TV*DP floats (plus padding), not their sum.
//
// Thread mapping: NTX = BK/RS threads along keys in S and along D in O,
// NTY = BQ/RM along rows in both, so a thread's O rows are its S rows. Its
// rows are ty*4 + i%4 + (i/4)*4*NTY (float4 groups strided by 4*NTY), keys
// tx*4 + j%4 + (j/4)*4*NTX, columns likewise: 8 neighbouring threads read
// 128 contiguous bytes of local memory.
//
// Defines (host-set, attn_opencl.c): D, DP (D padded to a multiple of
// 4*NTX and of TK, zero-filled), BQ, BK, TK, TV, RM, RS, PAD, PS.
#ifndef D
#define D 64
#endif
#ifndef BQ
#define BQ 64
#endif
#ifndef BK
#define BK 64
#endif
#ifndef TK
#define TK 8
#endif
#ifndef TV
#define TV TK
#endif
#ifndef RM
#define RM 4
#endif
#ifndef RS
#define RS 4
#endif
#ifndef PAD
#define PAD 4
#endif
#ifndef PS
#define PS 1  // passes P takes through Pt (local memory for BK/PS keys)
#endif

#define NTX (BK / RS)
#define NTY (BQ / RM)
#define NT (NTX * NTY)
#ifndef DP
#define DP (((D) + 4 * NTX - 1) / (4 * NTX) * (4 * NTX))
#endif
#define RO (DP / NTX)      // O columns per thread
#define LDQ (BQ + PAD)     // row stride of Qs, Pt and red
#define LDK (BK + PAD)     // row stride of Ks
#define LDV (DP + PAD)     // row stride of Vs
#define KP (BK / PS)       // keys of P in Pt at a time
#define CPP (KP / TV)      // V chunks a pass
#define JPP (RS / 4 / PS)  // a thread's float4 key groups a pass
#define NDC (DP / TK)      // chunks of the S product
// Float4 loads per thread of one chunk (rounded up; the excess is skipped).
#define LQ ((BQ * TK / 4 + NT - 1) / NT)
#define LK ((BK * TK / 4 + NT - 1) / NT)
#define LV ((TV * DP / 4 + NT - 1) / NT)
#define MAXF(a, b) ((a) > (b) ? (a) : (b))
#define SCR_S (2 * TK * (LDQ + LDK))                 // S chunks
#define SOFT MAXF(2 * TV * LDV, NTX * LDQ)            // V chunks, or red
#define LOCAL MAXF(SCR_S, KP * LDQ + SOFT)

#if RM % 4 || RS % 4 || TK % 4 || TV < 1 || PAD % 4 || BQ % RM || BK % RS || \
    DP % (4 * NTX) || DP % TK || BK % TV || DP < D || NT < BQ || PS < 1 || (RS / 4) % PS || \
    KP % TV
#error "attn_flash_tiles: need RM, RS, TK, PAD multiples of 4, BQ % RM, BK % RS, DP % (4*NTX), DP % TK, BK % TV, (RS/4) % PS, (BK/PS) % TV all 0 and at least BQ threads"
#endif

// Chunk c of rows [0, n) of a (rows, D) matrix, columns c*TK .. c*TK+TK,
// into registers: rows >= nvalid and columns >= D read as 0.
inline void fetch_rows(__global const float *src, int nvalid, int n, int d0, int tid,
                       float4 *r, int cnt)
{
    for (int l = 0; l < cnt; l++) {
        const int v = tid + l * NT;
        const int row = v / (TK / 4), c = d0 + (v % (TK / 4)) * 4;
        float4 x = (float4)(0.0f);
        if (v < n * (TK / 4) && row < nvalid && c < D) {
            __global const float *p = src + (size_t)row * D + c;
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
        r[l] = x;
    }
}

// ... stored k-major: dst[kk][row] (stride ld).
inline void store_rows_t(__local float *dst, int ld, int n, int tid, const float4 *r, int cnt)
{
    for (int l = 0; l < cnt; l++) {
        const int v = tid + l * NT;
        if (v >= n * (TK / 4))
            break;
        const int row = v / (TK / 4), kk = (v % (TK / 4)) * 4;
        dst[(kk + 0) * ld + row] = r[l].x;
        dst[(kk + 1) * ld + row] = r[l].y;
        dst[(kk + 2) * ld + row] = r[l].z;
        dst[(kk + 3) * ld + row] = r[l].w;
    }
}

// V rows k .. k+TV (all DP columns) into registers; rows >= nvalid read 0.
inline void fetch_v(__global const float *src, int k, int nvalid, int tid, float4 *r)
{
    for (int l = 0; l < LV; l++) {
        const int v = tid + l * NT;
        const int kk = v / (DP / 4), c = (v % (DP / 4)) * 4;
        float4 x = (float4)(0.0f);
        if (v < TV * (DP / 4) && k + kk < nvalid && c < D) {
            __global const float *p = src + (size_t)(k + kk) * D + c;
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
        r[l] = x;
    }
}

inline void store_v(__local float *dst, int tid, const float4 *r)
{
    for (int l = 0; l < LV; l++) {
        const int v = tid + l * NT;
        if (v >= TV * (DP / 4))
            break;
        const int kk = v / (DP / 4), c = (v % (DP / 4)) * 4;
        *(__local float4 *)(dst + kk * LDV + c) = r[l];
    }
}

// This thread's P values of pass ps (keys ps*KP .. ps*KP+KP) into Pt,
// key-major. The pass is a run-time value but every register index is a
// compile-time one: the stores of other passes are predicated off.
inline void write_p(__local float *Pt, float s[RM][RS], int ps, int tx, int ty)
{
    #pragma unroll
    for (int j = 0; j < RS; j++) {
        if ((j / 4) / JPP != ps)
            continue;
        const int key = ((j / 4) % JPP) * 4 * NTX + tx * 4 + j % 4;
        #pragma unroll
        for (int i = 0; i < RM / 4; i++)
            *(__local float4 *)(Pt + key * LDQ + i * 4 * NTY + ty * 4) =
                (float4)(s[4 * i][j], s[4 * i + 1][j], s[4 * i + 2][j], s[4 * i + 3][j]);
    }
}

__kernel __attribute__((reqd_work_group_size(NT, 1, 1)))
void attn_fwd_tiles(__global const float *restrict Q, __global const float *restrict K,
                    __global const float *restrict V, __global float *restrict O,
                    __global float *restrict LSE, int BH, int H, int GROUP, int Lq, int Lk,
                    float scale2, int causal)
{
    // float4 declarations keep every tile 16-byte aligned (all strides and
    // offsets are multiples of 4 floats).
    __local float4 loc4[LOCAL / 4];
    __local float4 mref4[BQ / 4];  // this block's reference max of each row; at the end l
    __local float4 al4[BQ / 4];    // alpha of each row for this block
    __local float *scr = (__local float *)loc4;        // S chunks (step 1)
    __local float *Pt = (__local float *)loc4;         // P, key-major (steps 2-3)
    __local float *soft = Pt + KP * LDQ;               // red (step 2), V chunks (step 3)
    __local float *mref = (__local float *)mref4, *al = (__local float *)al4;

    const int tid = get_local_id(0), tx = tid % NTX, ty = tid / NTX;
    // Heaviest query blocks first (the last ones under a causal mask), all
    // heads of one query block next to each other.
    const int nqb = (Lq + BQ - 1) / BQ, g = get_group_id(0);
    const int qb = nqb - 1 - g / BH, bh = g % BH;
    const int q0 = qb * BQ;
    const int b = bh / H, h = bh % H;
    const int kvbh = b * (H / GROUP) + h / GROUP;
    const int nq = min(BQ, Lq - q0);

    Q += ((size_t)bh * Lq + q0) * D;
    O += ((size_t)bh * Lq + q0) * D;
    LSE += (size_t)bh * Lq + q0;
    K += (size_t)kvbh * Lk * D;
    V += (size_t)kvbh * Lk * D;

    const int shift = Lk - Lq + 1;
    const int kend = causal ? clamp(q0 + nq - 1 + shift, 0, Lk) : Lk;
    float m = -INFINITY;  // running max of row tid (threads tid < BQ)

    float o[RM][RO], lp[RM];  // O rows and this thread's part of their sums
    #pragma unroll
    for (int i = 0; i < RM; i++) {
        lp[i] = 0.0f;
        #pragma unroll
        for (int c = 0; c < RO; c++)
            o[i][c] = 0.0f;
    }

    float4 rq[LQ], rk[LK], rv[LV];
    if (kend > 0) {
        fetch_rows(Q, nq, BQ, 0, tid, rq, LQ);
        fetch_rows(K, min(BK, Lk), BK, 0, tid, rk, LK);
    }

    for (int k0 = 0; k0 < kend; k0 += BK) {
        const int nk = min(BK, Lk - k0);
        __global const float *Kb = K + (size_t)k0 * D;

        // 1. S = Q_blk K_blk^T. Every earlier reader of this region passed
        //    a barrier since (the end of the previous P V loop).
        store_rows_t(scr, LDQ, BQ, tid, rq, LQ);
        store_rows_t(scr + TK * LDQ, LDK, BK, tid, rk, LK);
        barrier(CLK_LOCAL_MEM_FENCE);
        float s[RM][RS];
        #pragma unroll
        for (int i = 0; i < RM; i++)
            #pragma unroll
            for (int j = 0; j < RS; j++)
                s[i][j] = 0.0f;
        for (int c = 0; c < NDC; c++) {
            const int more = c + 1 < NDC;
            if (more) {
                fetch_rows(Q, nq, BQ, (c + 1) * TK, tid, rq, LQ);
                fetch_rows(Kb, nk, BK, (c + 1) * TK, tid, rk, LK);
            }
            __local const float *qs = scr + (c & 1) * TK * (LDQ + LDK);
            __local const float *ks = qs + TK * LDQ;
            #pragma unroll
            for (int kk = 0; kk < TK; kk++) {
                float a[RM], bb[RS];
                #pragma unroll
                for (int i = 0; i < RM / 4; i++) {
                    const float4 x = *(__local const float4 *)(qs + kk * LDQ + i * 4 * NTY + ty * 4);
                    a[4 * i + 0] = x.x;
                    a[4 * i + 1] = x.y;
                    a[4 * i + 2] = x.z;
                    a[4 * i + 3] = x.w;
                }
                #pragma unroll
                for (int j = 0; j < RS / 4; j++) {
                    const float4 x = *(__local const float4 *)(ks + kk * LDK + j * 4 * NTX + tx * 4);
                    bb[4 * j + 0] = x.x;
                    bb[4 * j + 1] = x.y;
                    bb[4 * j + 2] = x.z;
                    bb[4 * j + 3] = x.w;
                }
                #pragma unroll
                for (int i = 0; i < RM; i++)
                    #pragma unroll
                    for (int j = 0; j < RS; j++)
                        s[i][j] = fma(a[i], bb[j], s[i][j]);
            }
            if (more) {
                __local float *nx = scr + ((c + 1) & 1) * TK * (LDQ + LDK);
                store_rows_t(nx, LDQ, BQ, tid, rq, LQ);
                store_rows_t(nx + TK * LDQ, LDK, BK, tid, rk, LK);
            }
            barrier(CLK_LOCAL_MEM_FENCE);  // the last one frees the S chunks
        }
        fetch_v(V + (size_t)k0 * D, 0, nk, tid, rv);

        // 2. Scale and mask in registers; per-row maxima of this thread.
        #pragma unroll
        for (int i4 = 0; i4 < RM / 4; i4++) {
            float4 mx4 = (float4)(0.0f);
            #pragma unroll
            for (int u = 0; u < 4; u++) {
                const int i = 4 * i4 + u, row = i4 * 4 * NTY + ty * 4 + u;
                const int lim = causal ? clamp(q0 + row + shift, 0, Lk) : Lk;
                float mx = -INFINITY;
                #pragma unroll
                for (int j = 0; j < RS; j++) {
                    const int key = k0 + (j / 4) * 4 * NTX + tx * 4 + j % 4;
                    const float v = key < lim ? s[i][j] * scale2 : -INFINITY;
                    s[i][j] = v;
                    mx = fmax(mx, v);
                }
                if (u == 0) mx4.x = mx;
                if (u == 1) mx4.y = mx;
                if (u == 2) mx4.z = mx;
                if (u == 3) mx4.w = mx;
            }
            *(__local float4 *)(soft + tx * LDQ + i4 * 4 * NTY + ty * 4) = mx4;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (tid < BQ) {
            float mx = m;
            #pragma unroll
            for (int t = 0; t < NTX; t++)
                mx = fmax(mx, soft[t * LDQ + tid]);
            const float ref = mx == -INFINITY ? 0.0f : mx;  // no key seen yet
            al[tid] = exp2(m - ref);                        // 0 while m is -inf
            mref[tid] = ref;
            m = mx;
        }
        barrier(CLK_LOCAL_MEM_FENCE);  // red is dead from here: soft holds V chunks
        // P = 2^(S - ref) in registers, row sums, O rescaled, P -> Pt.
        #pragma unroll
        for (int i4 = 0; i4 < RM / 4; i4++) {
            const float4 r4 = *(__local const float4 *)(mref + i4 * 4 * NTY + ty * 4);
            const float4 a4 = *(__local const float4 *)(al + i4 * 4 * NTY + ty * 4);
            const float rr[4] = {r4.x, r4.y, r4.z, r4.w}, aa[4] = {a4.x, a4.y, a4.z, a4.w};
            #pragma unroll
            for (int u = 0; u < 4; u++) {
                const int i = 4 * i4 + u;
                float ls = 0.0f;
                #pragma unroll
                for (int j = 0; j < RS; j++) {
                    const float p = exp2(s[i][j] - rr[u]);  // 0 for masked (-inf)
                    s[i][j] = p;
                    ls += p;
                }
                lp[i] = fma(lp[i], aa[u], ls);
                #pragma unroll
                for (int c = 0; c < RO; c++)
                    o[i][c] *= aa[u];
            }
        }
        write_p(Pt, s, 0, tx, ty);
        store_v(soft, tid, rv);
        barrier(CLK_LOCAL_MEM_FENCE);

        // 3. O += P V_blk over the key chunks that hold visible keys.
        const int nvc = (min(nk, kend - k0) + TV - 1) / TV;
        for (int c = 0; c < nvc; c++) {
            const int more = c + 1 < nvc;
            if (more)
                fetch_v(V + (size_t)k0 * D, (c + 1) * TV, nk, tid, rv);
            else if (k0 + BK < kend) {  // the next block's first S chunk
                fetch_rows(Q, nq, BQ, 0, tid, rq, LQ);
                fetch_rows(Kb + (size_t)BK * D, min(BK, Lk - k0 - BK), BK, 0, tid, rk, LK);
            }
            __local const float *vs = soft + (c & 1) * TV * LDV;
            #pragma unroll
            for (int kk = 0; kk < TV; kk++) {
                float p[RM], vv[RO];
                #pragma unroll
                for (int i = 0; i < RM / 4; i++) {
                    const float4 x =
                        *(__local const float4 *)(Pt + ((c % CPP) * TV + kk) * LDQ + i * 4 * NTY +
                                                  ty * 4);
                    p[4 * i + 0] = x.x;
                    p[4 * i + 1] = x.y;
                    p[4 * i + 2] = x.z;
                    p[4 * i + 3] = x.w;
                }
                #pragma unroll
                for (int j = 0; j < RO / 4; j++) {
                    const float4 x = *(__local const float4 *)(vs + kk * LDV + j * 4 * NTX + tx * 4);
                    vv[4 * j + 0] = x.x;
                    vv[4 * j + 1] = x.y;
                    vv[4 * j + 2] = x.z;
                    vv[4 * j + 3] = x.w;
                }
                #pragma unroll
                for (int i = 0; i < RM; i++)
                    #pragma unroll
                    for (int j = 0; j < RO; j++)
                        o[i][j] = fma(p[i], vv[j], o[i][j]);
            }
            if (more)
                store_v(soft + ((c + 1) & 1) * TV * LDV, tid, rv);
            barrier(CLK_LOCAL_MEM_FENCE);
            if (PS > 1 && more && (c + 1) % CPP == 0) {  // the next pass's keys of P
                // The pass as a constant in each call, so that s stays in
                // registers (with the pass as a variable clang's PTX keeps s
                // in a 256-byte stack frame).
                #pragma unroll
                for (int ps = 1; ps < PS; ps++)
                    if ((c + 1) / CPP == ps)
                        write_p(Pt, s, ps, tx, ty);
                barrier(CLK_LOCAL_MEM_FENCE);
            }
        }
    }

    // Row sums: the NTX parts of each row, through red (every reader of the
    // region passed the loop's last barrier), then lse and 1/l per row.
    #pragma unroll
    for (int i4 = 0; i4 < RM / 4; i4++)
        *(__local float4 *)(soft + tx * LDQ + i4 * 4 * NTY + ty * 4) =
            (float4)(lp[4 * i4], lp[4 * i4 + 1], lp[4 * i4 + 2], lp[4 * i4 + 3]);
    barrier(CLK_LOCAL_MEM_FENCE);
    if (tid < BQ) {
        float lt = 0.0f;
        #pragma unroll
        for (int t = 0; t < NTX; t++)
            lt += soft[t * LDQ + tid];
        if (tid < nq)
            LSE[tid] = lt > 0.0f ? fma(m, M_LN2_F, log(lt)) : -INFINITY;
        // lt == 0 only for a row that saw no key: its O is still 0.
        mref[tid] = lt > 0.0f ? 1.0f / lt : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    #pragma unroll
    for (int i = 0; i < RM; i++) {
        const int row = (i / 4) * 4 * NTY + ty * 4 + i % 4;
        if (row >= nq)
            continue;
        const float inv = mref[row];
        __global float *orow = O + (size_t)row * D;
        #pragma unroll
        for (int j = 0; j < RO / 4; j++) {
            const int col = j * 4 * NTX + tx * 4;
            const float4 r = (float4)(o[i][4 * j], o[i][4 * j + 1], o[i][4 * j + 2],
                                      o[i][4 * j + 3]) * inv;
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
    }
}
