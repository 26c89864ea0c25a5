// attn_bwd_driver.h: the ISA-independent driver of the CPU flash-attention
// backward kernels (attn_bwd_avx512.c, attn_bwd_avx2.c, attn_bwd_neon.c; the
// scheme is described at the top of attn_bwd_avx512.c). Included by each
// kernel file after it defines its tiles, so the driver is compiled with that
// file's ISA flags (everything here is static, as in gemm_driver.h).
//
// The unit of work is up to AB_KB key blocks of AB_BC keys of one kv head:
// ab_key_blocks packs their K^T, V^T panels and sweeps the query rows that see
// them, for every query head of the GQA group, in chunks of AB_RCH rows,
// calling ab_block (phase A, then products B and C) per (chunk, key block);
// with AB_PANELS, ab_block runs A and B, and C runs once per chunk over all
// the blocks it sees (ab_c_sweep).
// ab_thread owns whole groups, or (split mode, too few groups for the
// threads) deals units of key blocks zig-zag over the threads, each summing
// into a private dQ partial that the threads reduce after a barrier.
//
// Before including, define:
//   AB_BC, AB_RCH, AB_KB   keys per block, query rows per chunk, key blocks
//                          per sweep over the query rows
//   ab_compute_di          static void f(const float *dout, const float *o,
//                            int64_t n, int64_t D, float *di)
//                          di[i] = rowsum(dO * O) for n rows of D
// and either (row-major P, dS strips; attn_bwd_avx512.c, attn_bwd_avx2.c)
//   ab_phase_a             static void f(const struct cb_attn_args *a,
//                            float scale, const float *q, const float *dout,
//                            const float *lse, const float *di,
//                            const float *kt, const float *vt, int64_t c0,
//                            int64_t nrows, int64_t j0, float *ps, float *dss,
//                            int64_t lds)
//                          P and dS (scaled) of rows [c0, c0+nrows) of one
//                          head against the block at j0 into the strips
//                          (P rows AB_BC apart, dS rows lds apart)
//   and then either (attn_bwd_avx2.c: B and C per block, over keys x D)
//   ab_gemm_cols           static void f(const float *a, int64_t ars,
//                            int64_t ats, const float *b, int64_t ldb,
//                            int64_t T, float *c, int64_t ldc, int64_t rows,
//                            int64_t D)
//                          c(rows, D) += sum_t a[r*ars + t*ats] b[t*ldb + :]
//   or AB_PANELS (attn_bwd_avx512.c: B into transposed panels of dK_j,
//   dV_j, written out after the sweep; the dS strip holds the sweep's AB_KB
//   blocks side by side, rows AB_KB*AB_BC apart, and C runs once per chunk
//   over all of them)
//   ab_b_tn                static void f(const float *x, int64_t D,
//                            const float *strip, int64_t lds, int64_t T,
//                            float *panel)
//                          panel(D, AB_BC) += x(T, D)^T strip(T, AB_BC)
//   ab_c_sweep             static void f(const float *ds, const float *k,
//                            int64_t D, int64_t T, float *dq, int64_t rows)
//                          dq(rows, D) += ds(rows, T; the dS strip) k(T, D)
// or (attn_bwd_neon.c: a per-chunk packed state)
//   AB_WS_EXTRA            extra members of struct ab_ws, and then, after
//                          the include, ab_ws_extra_alloc / ab_ws_extra_free
//                          (the extra members), ab_chunk (prepare a chunk)
//                          and ab_block (phase A, B, C) as declared below.
#ifndef CHIPBENCH_ATTN_BWD_DRIVER_H
#define CHIPBENCH_ATTN_BWD_DRIVER_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_kernel.h"
#include "chipbench/cb_pool.h"
#include "chipbench/cb_util.h"

#ifdef AB_PROFILE
// Build with -DAB_PROFILE (x86 only) to see where ab_block's cycles go:
// TSC cycles per phase over every call of the process, printed at exit as
// GFLOP/s per product at AB_PROFILE_GHZ (the TSC rate, 2.1 by default).
#include <stdio.h>
#include <x86intrin.h>
#ifndef AB_PROFILE_GHZ
#define AB_PROFILE_GHZ 2.1
#endif
static uint64_t ab_prof[6];  // A, B (dV), B (dK), C, all of ab_key_blocks, MACs per product
#define AB_TSC(v) const uint64_t v = __rdtsc()
#define AB_PROF(i, t0) (ab_prof[i] += __rdtsc() - (t0))
__attribute__((destructor)) static void ab_prof_print(void)
{
    const double w = 2.0 * (double)ab_prof[5] * AB_PROFILE_GHZ;  // flops x cycles per ns
    if (ab_prof[5])
        fprintf(stderr, "attn_bwd profile, GFLOP/s per product: A (two) %.1f, B dV %.1f, "
                "B dK %.1f, C %.1f; all five %.1f\n", 2 * w / (double)ab_prof[0],
                w / (double)ab_prof[1], w / (double)ab_prof[2], w / (double)ab_prof[3],
                5 * w / (double)ab_prof[4]);
}
#else
#define AB_TSC(v) (void)0
#define AB_PROF(i, t0) (void)0
#endif

struct ab_ws {         // one thread's workspace
    float *kt, *vt;    // K_j^T, V_j^T of AB_KB blocks: AB_KB x D x AB_BC
    float *ps, *dss;   // P and dS strips: AB_RCH x AB_BC (AB_PANELS: dS (AB_RCH + 24) x AB_KB AB_BC)
    float *di;         // Di of the group's rows: group * Lq
    float *dqp;        // split mode: dQ partial of the group, group * Lq * D
#ifdef AB_PANELS
    float *dkt, *dvt;  // dK_j^T, dV_j^T of AB_KB blocks: AB_KB x D x AB_BC
#endif
#ifdef AB_WS_EXTRA
    AB_WS_EXTRA
#endif
};

struct ab_plan {
    struct cb_pool *pool;
    int nt;
    int split;         // 1: key blocks of each group dealt over threads (dQ partials)
    struct ab_ws *ws;
    const struct cb_attn_bwd_args *a;
};

// Chunk at c0 (n rows of one head) before its key blocks; di: the head's Di.
// Block: rows [r0, r0+nrows) of that chunk against key block u of the sweep
// (keys [ju, ju+nk)): phase A, then dV(nk, D) += P^T dO, dK += dS^T Q and
// dQ(nrows, D) += dS K (AB_PANELS: dV^T and dK^T into the sweep's panels, no
// dQ), with q, dout, dq at the head's row 0, k, dk, dv at the group's key 0.
#ifdef AB_WS_EXTRA
static int ab_ws_extra_alloc(struct ab_ws *w, int64_t D);  // 0: out of memory
static void ab_ws_extra_free(struct ab_ws *w);
static void ab_chunk(const struct cb_attn_args *a, struct ab_ws *w, const float *q,
                     const float *dout, const float *lse, const float *di, int64_t c0, int64_t n);
static void ab_block(const struct cb_attn_args *a, float scale, struct ab_ws *w, const float *q,
                     const float *dout, const float *lse, const float *di, const float *k,
                     int64_t u, int64_t c0, int64_t r0, int64_t nrows, int64_t ju, int64_t nk,
                     float *dk, float *dv, float *dq);
#else
static void ab_block(const struct cb_attn_args *a, float scale, struct ab_ws *w, const float *q,
                     const float *dout, const float *lse, const float *di, const float *k,
                     int64_t u, int64_t c0, int64_t r0, int64_t nrows, int64_t ju, int64_t nk,
                     float *dk, float *dv, float *dq)
{
    const int64_t D = a->head_dim;
#ifdef AB_PANELS
    // The dS strip holds the sweep's blocks side by side for C (after the
    // last block); rows of the chunk that do not see this block read zeros.
    const int64_t lds = AB_KB * AB_BC;
    float *dsu = w->dss + u * AB_BC;
    for (int64_t r = c0; r < r0; r++)
        memset(dsu + (r - c0) * lds, 0, AB_BC * sizeof *dsu);
    dsu += (r0 - c0) * lds;
    (void)k, (void)dk, (void)dv, (void)dq;
#else
    const int64_t lds = AB_BC;
    float *dsu = w->dss;
    (void)c0;
#endif
    AB_TSC(t0);
    ab_phase_a(a, scale, q, dout, lse, di, w->kt + u * D * AB_BC, w->vt + u * D * AB_BC, r0, nrows,
               ju, w->ps, dsu, lds);
    AB_PROF(0, t0);
    AB_TSC(t1);
#ifdef AB_PANELS
    // B: dV_j^T(D, AB_BC) += dO_c^T P, dK_j^T += Q_c^T dS (tile rows = D)
    ab_b_tn(dout + r0 * D, D, w->ps, AB_BC, nrows, w->dvt + u * D * AB_BC);
    AB_PROF(1, t1);
    AB_TSC(t2);
    ab_b_tn(q + r0 * D, D, dsu, lds, nrows, w->dkt + u * D * AB_BC);
    AB_PROF(2, t2);
#else
    // B: dV_j(nk, D) += P^T dO_c, dK_j += dS^T Q_c (tile rows = keys)
    ab_gemm_cols(w->ps, 1, AB_BC, dout + r0 * D, D, nrows, dv + ju * D, D, nk, D);
    AB_PROF(1, t1);
    AB_TSC(t2);
    ab_gemm_cols(dsu, 1, lds, q + r0 * D, D, nrows, dk + ju * D, D, nk, D);
    AB_PROF(2, t2);
    AB_TSC(t3);
    // C: dQ_c(nrows, D) += dS K_j (tile rows = queries)
    ab_gemm_cols(w->dss, AB_BC, 1, k + ju * D, D, nk, dq + r0 * D, D, nrows, D);
    AB_PROF(3, t3);
#endif
#ifdef AB_PROFILE
    ab_prof[5] += (uint64_t)(nrows * nk * D);
#endif
}
#endif

// Panel (D, AB_BC) <- rows [j0, j0+nk) of X (Lk, D) transposed, zero beyond nk.
static void ab_pack_t(const float *x, int64_t j0, int64_t nk, int64_t D, float *xt)
{
    for (int64_t d = 0; d < D; d++) {
        float *row = xt + d * AB_BC;
        int64_t k = 0;
        for (; k < nk; k++)
            row[k] = x[(j0 + k) * D + d];
        for (; k < AB_BC; k++)
            row[k] = 0.0f;
    }
}

// Key blocks [kb0, kb0+nb) of group g (batch b, kv head kvh): zero and fill
// their dK, dV rows and add their share of dQ into dq (the group's rows,
// group * Lq x D). The query rows are swept once for all nb blocks, so each
// chunk of Q, dO and dQ (or its packed form) is reused nb times while in L2.
static void ab_key_blocks(const struct ab_plan *pl, struct ab_ws *w, int64_t g, int64_t kb0,
                          int64_t nb, float *dq)
{
    const struct cb_attn_bwd_args *ba = pl->a;
    const struct cb_attn_args *a = &ba->fwd;
    const int64_t D = a->head_dim, Lq = a->seq_q, Lk = a->seq_kv;
    const int64_t group = a->heads / a->kv_heads;
    const int64_t b = g / a->kv_heads, kvh = g % a->kv_heads;
    const int64_t h0 = b * a->heads + kvh * group;  // first query head of the group
    const float scale = a->scale != 0.0f ? a->scale : 1.0f / sqrtf((float)D);
    const int64_t j0 = kb0 * AB_BC, jend = (kb0 + nb) * AB_BC < Lk ? (kb0 + nb) * AB_BC : Lk;
    const float *kj = (const float *)a->k + g * Lk * D;
    const float *vj = (const float *)a->v + g * Lk * D;
    float *dk = (float *)ba->dk + g * Lk * D;
    float *dv = (float *)ba->dv + g * Lk * D;
    int64_t first[AB_KB];  // first query row that sees each block

    AB_TSC(t0);
#ifdef AB_PANELS
    memset(w->dkt, 0, (size_t)(nb * D * AB_BC) * sizeof *w->dkt);
    memset(w->dvt, 0, (size_t)(nb * D * AB_BC) * sizeof *w->dvt);
#else
    memset(dk + j0 * D, 0, (size_t)((jend - j0) * D) * sizeof *dk);
    memset(dv + j0 * D, 0, (size_t)((jend - j0) * D) * sizeof *dv);
#endif
    for (int64_t u = 0; u < nb; u++) {
        const int64_t ju = j0 + u * AB_BC, nk = jend - ju < AB_BC ? jend - ju : AB_BC;
        ab_pack_t(kj, ju, nk, D, w->kt + u * D * AB_BC);
        ab_pack_t(vj, ju, nk, D, w->vt + u * D * AB_BC);
        // vis(i) > ju <=> i >= ju - (Lk - Lq)
        first[u] = a->causal ? ju - (Lk - Lq) : 0;
        first[u] = first[u] < 0 ? 0 : first[u];
    }
    for (int64_t hh = 0; hh < group; hh++) {
        const float *q = (const float *)a->q + (h0 + hh) * Lq * D;
        const float *dout = (const float *)ba->dout + (h0 + hh) * Lq * D;
        const float *lse = a->lse + (h0 + hh) * Lq;
        const float *di = w->di + hh * Lq;
        float *dqh = dq + hh * Lq * D;
        for (int64_t c0 = first[0]; c0 < Lq; c0 += AB_RCH) {
            const int64_t cend = c0 + AB_RCH < Lq ? c0 + AB_RCH : Lq;
#ifdef AB_WS_EXTRA
            ab_chunk(a, w, q, dout, lse, di, c0, cend - c0);
#endif
            int64_t kend = j0;  // keys [j0, kend) of the blocks the chunk sees
            for (int64_t u = 0; u < nb; u++) {
                const int64_t ju = j0 + u * AB_BC, nk = jend - ju < AB_BC ? jend - ju : AB_BC;
                const int64_t r0 = c0 > first[u] ? c0 : first[u];
                if (r0 >= cend)
                    continue;
                ab_block(a, scale, w, q, dout, lse, di, kj, u, c0, r0, cend - r0, ju, nk, dk, dv,
                         dqh);
                kend = ju + nk;
            }
#ifdef AB_PANELS
            // C: dQ_c(rows, D) += dS(rows, keys) K(keys, D) over those blocks
            AB_TSC(t3);
            ab_c_sweep(w->dss, kj + j0 * D, D, kend - j0, dqh + c0 * D, cend - c0);
            AB_PROF(3, t3);
#else
            (void)kend;
#endif
        }
    }
#ifdef AB_PANELS
    // dK_j, dV_j (nk, D) = the panels transposed
    for (int64_t u = 0; u < nb; u++) {
        const int64_t ju = j0 + u * AB_BC, nk = jend - ju < AB_BC ? jend - ju : AB_BC;
        const float *kp = w->dkt + u * D * AB_BC, *vp = w->dvt + u * D * AB_BC;
        for (int64_t key = 0; key < nk; key++)
            for (int64_t d = 0; d < D; d++) {
                dk[(ju + key) * D + d] = kp[d * AB_BC + key];
                dv[(ju + key) * D + d] = vp[d * AB_BC + key];
            }
    }
#endif
    AB_PROF(4, t0);
}

// dq[e0, e1) = sum over the nt threads' dQ partials, in blocks of a fixed
// length so that the ISA flags of the including file vectorize them at -O2.
static void ab_sum_partials(const struct ab_ws *ws, int nt, int64_t e0, int64_t e1, float *dq)
{
    enum { SB = 64 };
    int64_t e = e0;
    for (; e + SB <= e1; e += SB) {
        float s[SB];
        memcpy(s, ws[0].dqp + e, sizeof s);
        for (int t = 1; t < nt; t++) {
            const float *p = ws[t].dqp + e;
            for (int i = 0; i < SB; i++)
                s[i] += p[i];
        }
        memcpy(dq + e, s, sizeof s);
    }
    for (; e < e1; e++) {
        float s = ws[0].dqp[e];
        for (int t = 1; t < nt; t++)
            s += ws[t].dqp[e];
        dq[e] = s;
    }
}

static void ab_thread(void *arg, int tid, int nt)
{
    struct ab_plan *pl = arg;
    const struct cb_attn_bwd_args *ba = pl->a;
    const struct cb_attn_args *a = &ba->fwd;
    const int64_t D = a->head_dim, Lq = a->seq_q, Lk = a->seq_kv;
    const int64_t group = a->heads / a->kv_heads, ngroups = a->batch * a->kv_heads;
    const int64_t nkb = (Lk + AB_BC - 1) / AB_BC;
    const int64_t grows = group * Lq;  // query rows of a group (all its heads)
    struct ab_ws *w = &pl->ws[tid];

    for (int64_t g = pl->split ? 0 : tid; g < ngroups; g += pl->split ? 1 : nt) {
        const int64_t b = g / a->kv_heads, kvh = g % a->kv_heads;
        const int64_t h0 = b * a->heads + kvh * group;
        const float *o = (const float *)a->o + h0 * Lq * D;
        const float *dout = (const float *)ba->dout + h0 * Lq * D;
        float *dq = (float *)ba->dq + h0 * Lq * D;
        ab_compute_di(dout, o, grows, D, w->di);
        if (!pl->split) {
            memset(dq, 0, (size_t)(grows * D) * sizeof *dq);
            for (int64_t kb = 0; kb < nkb; kb += AB_KB)
                ab_key_blocks(pl, w, g, kb, nkb - kb < AB_KB ? nkb - kb : AB_KB, dq);
            continue;
        }
        // Units of sb key blocks (fewer than AB_KB when there are few blocks)
        // dealt zig-zag: 0 1 .. nt-1 nt-1 .. 1 0 0 1 .. (balances a causal ramp).
        memset(w->dqp, 0, (size_t)(grows * D) * sizeof *w->dqp);
        int64_t sb = nkb / (2 * nt);
        sb = sb < 1 ? 1 : sb > AB_KB ? AB_KB : sb;
        for (int64_t un = 0; un * sb < nkb; un++) {
            const int64_t p = un % (2 * nt), owner = p < nt ? p : 2 * nt - 1 - p;
            if (owner == tid)
                ab_key_blocks(pl, w, g, un * sb, nkb - un * sb < sb ? nkb - un * sb : sb, w->dqp);
        }
        cb_pool_barrier(pl->pool);
        // dQ rows of the group split evenly over the threads: sum the partials.
        const int64_t per = (grows + nt - 1) / nt, r0 = tid * per;
        const int64_t r1 = r0 + per < grows ? r0 + per : grows;
        if (r0 < r1)
            ab_sum_partials(pl->ws, nt, r0 * D, r1 * D, dq);
        cb_pool_barrier(pl->pool);  // partials are reused by the next group
    }
}

static void ab_plan_free(void *plan)
{
    struct ab_plan *pl = plan;
    if (!pl)
        return;
    for (int i = 0; pl->ws && i < pl->nt; i++) {
        struct ab_ws *w = &pl->ws[i];
        cb_free(w->kt);
        cb_free(w->vt);
        cb_free(w->ps);
        cb_free(w->dss);
        cb_free(w->di);
        cb_free(w->dqp);
#ifdef AB_PANELS
        cb_free(w->dkt);
        cb_free(w->dvt);
#endif
#ifdef AB_WS_EXTRA
        ab_ws_extra_free(w);
#endif
    }
    free(pl->ws);
    cb_pool_free(pl->pool);
    free(pl);
}

// n floats (at least 1), zeroed.
static float *ab_ws_alloc(int64_t n)
{
    float *p = cb_alloc_array((size_t)(n > 0 ? n : 1), sizeof(float));
    if (p)
        memset(p, 0, (size_t)(n > 0 ? n : 1) * sizeof *p);
    return p;
}

static enum cb_status ab_plan_create(const struct cb_kernel *k, const struct cb_plan_req *req,
                                     void **plan)
{
    const struct cb_attn_args *a = &req->shape->u.attn_bwd.fwd;
    enum cb_status s = CB_OK;
    (void)k;
    struct ab_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "attention backward plan");
    pl->nt = req->threads;
    if ((s = cb_pool_create(req->threads, &pl->pool)) != CB_OK)
        goto out;
    const int64_t D = a->head_dim, group = a->heads / a->kv_heads;
    const int64_t ngroups = a->batch * a->kv_heads, grows = group * a->seq_q;
    // Whole groups per thread when they split evenly enough; else the key
    // blocks of each group are dealt over the threads (dQ partials).
    pl->split = pl->nt > 1 && !(ngroups % pl->nt == 0 || ngroups >= 4 * pl->nt);
    pl->ws = calloc((size_t)pl->nt, sizeof *pl->ws);
    if (!pl->ws) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "attention backward plan");
        goto out;
    }
    for (int i = 0; i < pl->nt; i++) {
        struct ab_ws *w = &pl->ws[i];
        w->kt = ab_ws_alloc(AB_KB * D * AB_BC);
        w->vt = ab_ws_alloc(AB_KB * D * AB_BC);
        w->ps = ab_ws_alloc(AB_RCH * AB_BC);
#ifdef AB_PANELS
        w->dss = ab_ws_alloc((AB_RCH + 24) * AB_KB * AB_BC);
#else
        w->dss = ab_ws_alloc(AB_RCH * AB_BC);
#endif
        w->di = ab_ws_alloc(grows);
        if (pl->split)
            w->dqp = ab_ws_alloc(grows * D);
        int ok = w->kt && w->vt && w->ps && w->dss && w->di && (!pl->split || w->dqp);
#ifdef AB_PANELS
        w->dkt = ab_ws_alloc(AB_KB * D * AB_BC);
        w->dvt = ab_ws_alloc(AB_KB * D * AB_BC);
        ok = ok && w->dkt && w->dvt;
#endif
#ifdef AB_WS_EXTRA
        ok = ab_ws_extra_alloc(w, D) && ok;
#endif
        if (!ok) {
            s = cb_set_error(CB_ERR_NO_MEMORY, "attention backward workspace (dQ partial %lld x "
                             "%lld floats)", (long long)grows, (long long)D);
            goto out;
        }
    }
out:
    if (s != CB_OK) {
        ab_plan_free(pl);
        pl = NULL;
    }
    *plan = pl;
    return s;
}

static enum cb_status ab_run(void *plan, const struct cb_call *call)
{
    struct ab_plan *pl = plan;
    pl->a = &call->u.attn_bwd;
    if (!pl->a->fwd.lse)
        return cb_set_error(CB_ERR_INVALID_ARG, "attention backward needs the forward's lse");
    cb_pool_run(pl->pool, ab_thread, pl);
    return CB_OK;
}

#endif
