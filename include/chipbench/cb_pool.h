// cb_pool.h: a small persistent thread pool for multi-threaded kernels.
//
// Workers are created once per plan (outside the timed region), pinned one
// per physical core, and wait for work; cb_pool_run() wakes them, runs the
// same function on every thread (the caller is thread 0) and returns when
// all are done. cb_pool_barrier() synchronises the threads of one run
// (a spinning, sense-reversing barrier: cheap enough to call per block).
// Compiled for the baseline ISA; kernels of any ISA may call it.
#ifndef CHIPBENCH_CB_POOL_H
#define CHIPBENCH_CB_POOL_H

#include "cb_status.h"

struct cb_pool;
typedef void (*cb_pool_fn)(void *arg, int tid, int nthreads);

// nthreads >= 1; with 1 no thread is created. Pins the caller to core 0 and
// worker i to core i (best effort: unpinned when binding is impossible).
enum cb_status cb_pool_create(int nthreads, struct cb_pool **out);
// NULL pool runs fn(arg, 0, 1) on the caller.
void cb_pool_run(struct cb_pool *p, cb_pool_fn fn, void *arg);
void cb_pool_barrier(struct cb_pool *p);
int cb_pool_threads(const struct cb_pool *p);
void cb_pool_free(struct cb_pool *p);

#endif
