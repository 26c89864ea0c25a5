// check_kernel.h: one kernel, one shape, through the same path the harness
// takes before timing (set-up, plan, NaN poison, run, finish, readback for
// device kernels, float64 verify). Shared by the kernel test programs so a
// change to that path is made once. Test-only; include after cb_test.h.
#ifndef CHIPBENCH_CHECK_KERNEL_H
#define CHIPBENCH_CHECK_KERNEL_H

#include "chipbench/cb_bench.h"
#include "chipbench/cb_shape.h"

// shape_text is any --shape text; it is converted to k's op (an attention
// shape feeds forward and backward kernels). Returns the first failing
// status (CB_ERR_VERIFY with the bad element in the message) or CB_OK with
// the verify error and tolerance filled.
static inline enum cb_status check_kernel(const struct cb_kernel *k, const char *shape_text,
                                          int threads, uint64_t seed, double *err, double *tol)
{
    struct cb_call parsed, shape;
    struct cb_rng rng;
    void *data = NULL, *plan = NULL;
    enum cb_status s = cb_shape_parse(shape_text, &parsed);
    if (s != CB_OK)
        return s;
    if (!cb_shape_as_op(&parsed, k->op, &shape))
        return cb_set_error(CB_ERR_INVALID_ARG, "%s does not fit %s kernel %s", shape_text,
                            cb_op_name(k->op), k->name);
    const struct cb_bench *b = cb_bench_for(shape.op);
    cb_rng_seed(&rng, seed);
    CB_TRY(b->check_shape(&shape));
    CB_TRY(b->setup(&shape, k->dtype, 1, &rng, &data));
    if (k->plan) {
        struct cb_plan_req req = {.shape = b->call(data, 0), .threads = threads};
        CB_TRY(k->plan(k, &req, &plan));
    }
    b->poison(data, 0);
    CB_TRY(k->run(plan, b->call(data, 0)));
    if (k->finish)
        CB_TRY(k->finish(plan));
    if (k->readback)  // device kernels: results come home only here
        CB_TRY(k->readback(plan, b->call(data, 0)));
    CB_TRY(b->verify(data, 0, err, tol));
out:
    if (plan && k->plan_free)
        k->plan_free(plan);
    if (data)
        b->teardown(data);
    return s;
}

// Harness options for a full cb_bench_row that checks, not times: no
// warm-up, one or two samples.
static inline void check_quick_opts(struct cb_bench_opts *o)
{
    cb_bench_opts_default(o);
    o->warmup_s = 0;
    o->min_time_s = 0;
    o->max_time_s = 0.001;
    o->min_samples = 1;
    o->max_samples = 2;
}

#endif
