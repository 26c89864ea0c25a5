// stream_driver.h: the ISA-independent part of the STREAM triad kernels
// (a = b + scalar * c): the plan (thread pool and the non-temporal store
// decision), the split of the arrays into one contiguous chunk per thread and
// the functions the kernel table points at. Included by each kernel file
// *after* it defines its inner loop, so the driver is compiled with that
// file's ISA flags (everything here is static, as in gemm_driver.h).
//
// Before including, define:
//   SD_VW                floats per vector: each thread's chunk is a multiple
//                        of it (so chunks start on vector boundaries)
//   SD_TRIAD             static void f(float *a, const float *b, const float *c,
//                          float q, int64_t n, int nt)
//                        a[i] = b[i] + q * c[i] for i < n, with non-temporal
//                        stores when nt (ordered before return: sfence)
// Then point the table entry at sd_plan_create, sd_run and sd_plan_free.
//
// Non-temporal stores are used when the three arrays together exceed the
// last-level cache (no read-for-ownership, no cache pollution); below that,
// ordinary stores keep a in cache for the next launch.
#ifndef CHIPBENCH_STREAM_DRIVER_H
#define CHIPBENCH_STREAM_DRIVER_H

#include <stdint.h>
#include <stdlib.h>

#include "chipbench/cb_kernel.h"
#include "chipbench/cb_pool.h"
#include "chipbench/cb_topo.h"

struct sd_plan {
    struct cb_pool *pool;
    int nt;                              // non-temporal stores
    const struct cb_stream_args *s;      // current call
};

static void sd_thread(void *arg, int tid, int nthreads)
{
    const struct sd_plan *pl = arg;
    const struct cb_stream_args *s = pl->s;
    int64_t chunk = (s->n + nthreads - 1) / nthreads;
    chunk = (chunk + SD_VW - 1) / SD_VW * SD_VW;
    int64_t lo = (int64_t)tid * chunk, hi = lo + chunk < s->n ? lo + chunk : s->n;
    if (lo < hi)
        SD_TRIAD((float *)s->a + lo, (const float *)s->b + lo, (const float *)s->c + lo,
                 s->scalar, hi - lo, pl->nt);
}

static void sd_plan_free(void *plan)
{
    struct sd_plan *pl = plan;
    if (!pl)
        return;
    cb_pool_free(pl->pool);
    free(pl);
}

static enum cb_status sd_plan_create(const struct cb_kernel *k, const struct cb_plan_req *req,
                                     void **plan)
{
    (void)k;
    struct sd_plan *pl = calloc(1, sizeof *pl);
    *plan = NULL;
    if (!pl)
        return cb_set_error(CB_ERR_NO_MEMORY, "stream plan");
    enum cb_status s = cb_pool_create(req->threads, &pl->pool);
    if (s != CB_OK) {
        free(pl);
        return s;
    }
    int64_t llc = cb_topo_llc_bytes();
    pl->nt = 12.0 * (double)req->shape->u.stream.n > (double)(llc > 0 ? llc : 32 << 20);
    *plan = pl;
    return CB_OK;
}

static enum cb_status sd_run(void *plan, const struct cb_call *call)
{
    struct sd_plan *pl = plan;
    pl->s = &call->u.stream;
    cb_pool_run(pl->pool, sd_thread, pl);
    return CB_OK;
}

#endif
