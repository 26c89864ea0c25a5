// pool.c: the persistent, pinned thread pool of cb_pool.h.
//
// Waking: workers spin on a generation counter for a short while (a GEMM
// launch follows the previous one within microseconds in a benchmark), then
// sleep on a condition variable so an idle pool costs no CPU.
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "chipbench/cb_pool.h"
#include "chipbench/cb_topo.h"

#define SPIN_BEFORE_SLEEP 200000

struct cb_pool {
    int n;
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;        // bumped by cb_pool_run for each job
    atomic_int done;        // workers finished with the current job
    atomic_int quit;
    cb_pool_fn fn;
    void *arg;
    atomic_int bar_count;   // barrier arrivals
    atomic_int bar_sense;
};

struct worker_arg {
    struct cb_pool *p;
    int tid;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void *worker(void *v)
{
    struct worker_arg wa = *(struct worker_arg *)v;
    struct cb_pool *p = wa.p;
    free(v);
    cb_topo_bind_thread(wa.tid);
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load(&p->quit) && spins < SPIN_BEFORE_SLEEP) {
            cpu_relax();
            spins++;
        }
        if (g == seen && !atomic_load(&p->quit)) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->quit))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit))
            break;
        seen = g;
        p->fn(p->arg, wa.tid, p->n);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    }
    return NULL;
}

enum cb_status cb_pool_create(int nthreads, struct cb_pool **out)
{
    *out = NULL;
    if (nthreads < 1)
        return cb_set_error(CB_ERR_INVALID_ARG, "pool of %d threads", nthreads);
    struct cb_pool *p = calloc(1, sizeof *p);
    if (!p)
        return cb_set_error(CB_ERR_NO_MEMORY, "thread pool");
    p->n = nthreads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    cb_topo_bind_thread(0);
    cb_clear_error();
    p->tids = calloc((size_t)nthreads, sizeof *p->tids);
    if (!p->tids) {
        cb_pool_free(p);
        return cb_set_error(CB_ERR_NO_MEMORY, "thread pool");
    }
    for (int i = 1; i < nthreads; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->p = p;
            wa->tid = i;
        }
        if (!wa || pthread_create(&p->tids[i], NULL, worker, wa) != 0) {
            free(wa);
            p->n = i;  // only join what exists
            cb_pool_free(p);
            return cb_set_error(CB_ERR_BACKEND, "cannot create thread %d of %d", i, nthreads);
        }
    }
    *out = p;
    return CB_OK;
}

void cb_pool_run(struct cb_pool *p, cb_pool_fn fn, void *arg)
{
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->done, 0);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    while (atomic_load_explicit(&p->done, memory_order_acquire) != p->n - 1)
        cpu_relax();
}

void cb_pool_barrier(struct cb_pool *p)
{
    if (!p || p->n == 1)
        return;
    int sense = atomic_load_explicit(&p->bar_sense, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->bar_count, 1, memory_order_acq_rel) == p->n - 1) {
        atomic_store_explicit(&p->bar_count, 0, memory_order_relaxed);
        atomic_store_explicit(&p->bar_sense, !sense, memory_order_release);
    } else {
        while (atomic_load_explicit(&p->bar_sense, memory_order_acquire) == sense)
            cpu_relax();
    }
}

int cb_pool_threads(const struct cb_pool *p) { return p ? p->n : 1; }

void cb_pool_free(struct cb_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; p->tids && i < p->n; i++)
        pthread_join(p->tids[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->tids);
    free(p);
}
