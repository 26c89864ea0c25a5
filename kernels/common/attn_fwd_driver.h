// attn_fwd_driver.h: the ISA-independent driver of the CPU flash-attention
// forward kernels (attn_avx512.c, attn_avx2.c, attn_neon.c; each describes
// its tiles at its top). Included by each kernel file after
// it defines its tiles, so the driver is compiled with that file's ISA flags
// (everything here is static, as in attn_bwd_driver.h).
//
// Per thread: K^T of one kv head (packed once per head by af_pack_kt, rows
// of ldk = Lk rounded up to AF_KALIGN) and the ISA's buffers for one block of
// AF_BR query rows. af_thread takes whole heads per thread when there are at
// least as many heads as threads; otherwise the query blocks of every head
// are dealt round-robin (which also balances a causal triangle).
//
// Before including, define:
//   AF_BR, AF_KALIGN     query rows per block; ldk is Lk rounded up to this
//   af_pack_kt           static void f(const float *k, int64_t lk, int64_t d,
//                          float *kt, int64_t ldk)
//                        K (Lk, D) of one kv head -> kt (D x ldk floats);
//                        left undefined by a kernel that reads K in place
//                        (attn_avx512.c): no kt buffer, and af_block gets
//                        the kv head's K (Lk x D) as kt, with ldk = D
// and either (one block buffer per thread; attn_avx2.c)
//   af_work_floats       static int64_t f(int64_t D): floats of the buffer
//   af_block             static void f(const struct cb_attn_args *a,
//                          const float *q, const float *kt, int64_t ldk,
//                          const float *v, float *o, float *lse, int64_t i0,
//                          int64_t nr, float *work)
//                        rows [i0, i0+nr) of one head (q at row i0; o, lse
//                        at the head's row 0; lse may be NULL)
// or (attn_neon.c, attn_avx512.c: several buffers, zeroed)
//   AF_WS_EXTRA          extra members of struct af_ws, and then, after the
//                        include, af_ws_extra_alloc / af_ws_extra_free (the
//                        extra members) and af_block (as above, with the
//                        thread's struct af_ws * for work) as declared below.
#ifndef CHIPBENCH_ATTN_FWD_DRIVER_H
#define CHIPBENCH_ATTN_FWD_DRIVER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_kernel.h"
#include "chipbench/cb_pool.h"
#include "chipbench/cb_util.h"

struct af_ws {         // one thread's workspace
    float *kt;         // K^T of one kv head, D x ldk
#ifdef AF_WS_EXTRA
    AF_WS_EXTRA
#else
    float *work;       // the ISA's block buffers, af_work_floats(D)
#endif
};

struct af_plan {
    struct cb_pool *pool;
    int nt;
    struct af_ws *ws;
    int64_t ldk;       // Lk rounded up to AF_KALIGN
    const struct cb_attn_args *a;
};

#ifdef AF_WS_EXTRA
static int af_ws_extra_alloc(struct af_ws *w, int64_t D);  // 0: out of memory
static void af_ws_extra_free(struct af_ws *w);
static void af_block(const struct cb_attn_args *a, const float *q, const float *kt, int64_t ldk,
                     const float *v, float *o, float *lse, int64_t i0, int64_t nr,
                     struct af_ws *w);
#endif

static void af_thread(void *arg, int tid, int nt)
{
    struct af_plan *pl = arg;
    const struct cb_attn_args *a = pl->a;
    const int64_t D = a->head_dim, Lq = a->seq_q, Lk = a->seq_kv;
    const int64_t group = a->heads / a->kv_heads, nblk = (Lq + AF_BR - 1) / AF_BR;
    const int64_t nheads = a->batch * a->heads;
    struct af_ws *w = &pl->ws[tid];
    // With at least as many heads as threads each thread takes whole heads
    // (K^T packed once per head); otherwise the query blocks of every head
    // are dealt round-robin (which also balances a causal triangle).
    const int by_head = nheads >= nt;
#ifdef af_pack_kt
    int64_t packed = -1;  // (b * kv_heads + kvh) whose K^T is in kt
#endif
    for (int64_t x = by_head ? tid : 0; x < nheads; x += by_head ? nt : 1) {
        const int64_t b = x / a->heads, h = x % a->heads;
        const int64_t kvid = b * a->kv_heads + h / group;
        const float *q = (const float *)a->q + x * Lq * D;
        const float *v = (const float *)a->v + kvid * Lk * D;
        float *o = (float *)a->o + x * Lq * D;
        float *lse = a->lse ? a->lse + x * Lq : NULL;
        for (int64_t blk = by_head ? 0 : tid; blk < nblk; blk += by_head ? 1 : nt) {
#ifdef af_pack_kt
            if (packed != kvid) {
                af_pack_kt((const float *)a->k + kvid * Lk * D, Lk, D, w->kt, pl->ldk);
                packed = kvid;
            }
#endif
            const int64_t i0 = blk * AF_BR, nr = Lq - i0 < AF_BR ? Lq - i0 : AF_BR;
#ifdef af_pack_kt
            const float *kt = w->kt;
            const int64_t ldk = pl->ldk;
#else
            const float *kt = (const float *)a->k + kvid * Lk * D;
            const int64_t ldk = D;
#endif
#ifdef AF_WS_EXTRA
            af_block(a, q + i0 * D, kt, ldk, v, o, lse, i0, nr, w);
#else
            af_block(a, q + i0 * D, kt, ldk, v, o, lse, i0, nr, w->work);
#endif
        }
    }
}

static void af_plan_free(void *plan)
{
    struct af_plan *pl = plan;
    if (!pl)
        return;
    for (int i = 0; pl->ws && i < pl->nt; i++) {
        struct af_ws *w = &pl->ws[i];
        cb_free(w->kt);
#ifdef AF_WS_EXTRA
        af_ws_extra_free(w);
#else
        cb_free(w->work);
#endif
    }
    free(pl->ws);
    cb_pool_free(pl->pool);
    free(pl);
}

// n floats (at least 1); zeroed with AF_WS_EXTRA (attn_neon.c's buffers).
static float *af_ws_alloc(int64_t n)
{
    float *p = cb_alloc_array((size_t)(n > 0 ? n : 1), sizeof(float));
#ifdef AF_WS_EXTRA
    if (p)
        memset(p, 0, (size_t)(n > 0 ? n : 1) * sizeof *p);
#endif
    return p;
}

static enum cb_status af_plan_create(const struct cb_kernel *k, const struct cb_plan_req *req,
                                     void **plan)
{
    const struct cb_attn_args *a = &req->shape->u.attn;
    enum cb_status s = CB_OK;
    (void)k;
    struct af_plan *pl = calloc(1, sizeof *pl);
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "attention plan");
    pl->nt = req->threads;
    if ((s = cb_pool_create(req->threads, &pl->pool)) != CB_OK)
        goto out;
    pl->ldk = (a->seq_kv + AF_KALIGN - 1) / AF_KALIGN * AF_KALIGN;
    pl->ws = calloc((size_t)pl->nt, sizeof *pl->ws);
    if (!pl->ws) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "attention plan");
        goto out;
    }
    for (int i = 0; i < pl->nt; i++) {
        struct af_ws *w = &pl->ws[i];
#ifdef af_pack_kt
        w->kt = af_ws_alloc(a->head_dim * pl->ldk);
        int ok = w->kt != NULL;
#else
        int ok = 1;
#endif
#ifdef AF_WS_EXTRA
        ok = af_ws_extra_alloc(w, a->head_dim) && ok;
#else
        w->work = af_ws_alloc(af_work_floats(a->head_dim));
        ok = ok && w->work;
#endif
        if (!ok) {
            s = cb_set_error(CB_ERR_NO_MEMORY, "attention buffers (K^T: %lld x %lld floats)",
                             (long long)a->head_dim, (long long)pl->ldk);
            goto out;
        }
    }
out:
    if (s != CB_OK) {
        af_plan_free(pl);
        pl = NULL;
    }
    *plan = pl;
    return s;
}

static enum cb_status af_run(void *plan, const struct cb_call *call)
{
    struct af_plan *pl = plan;
    pl->a = &call->u.attn;
    cb_pool_run(pl->pool, af_thread, pl);
    return CB_OK;
}

#endif
