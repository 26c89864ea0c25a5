// cost_dp.c: data-parallel training over N chips: the gradient all-reduce
// added to a measured single-chip step (formulas in cb_cost.h). Pure
// arithmetic on measured rows; the all-reduce bandwidth comes only from
// allreduce result rows or the user (--allreduce-busbw), never a guess.
//
// Not here: the single-chip step (cost.c), printing (cmd_cost.c).
#include <math.h>
#include <string.h>

#include "chipbench/cb_cost.h"
#include "chipbench/cb_mpi.h"

// The best (highest busbw) row of each size is the one a size stands for.
static const struct cb_meas *best_at(const struct cb_measurements *m, const char *chip,
                                     enum cb_dtype dt, double bytes)
{
    const struct cb_meas *b = NULL;
    for (int i = 0; i < m->n; i++) {
        const struct cb_meas *x = &m->rows[i];
        if (x->op == CB_OP_ALLREDUCE && x->dtype == dt && !strcmp(x->chip, chip) &&
            x->bytes == bytes && x->bus_gbs > 0 && (!b || x->bus_gbs > b->bus_gbs))
            b = x;
    }
    return b;
}

double cb_allreduce_busbw_at(const struct cb_measurements *m, const char *chip,
                             enum cb_dtype dt, double bytes, const struct cb_meas **lo,
                             const struct cb_meas **hi)
{
    const struct cb_meas *below = NULL, *above = NULL;  // nearest sizes <= and >= bytes
    *lo = *hi = NULL;
    for (int i = 0; i < m->n; i++) {
        const struct cb_meas *x = &m->rows[i];
        if (x->op != CB_OP_ALLREDUCE || x->dtype != dt || strcmp(x->chip, chip) ||
            !(x->bus_gbs > 0) || !(x->bytes > 0))
            continue;
        if (x->bytes <= bytes && (!below || x->bytes > below->bytes))
            below = x;
        if (x->bytes >= bytes && (!above || x->bytes < above->bytes))
            above = x;
    }
    if (!below && !above)
        return NAN;
    // Beyond the measured range: the end row's own value.
    if (!below)
        below = above;
    if (!above)
        above = below;
    *lo = best_at(m, chip, dt, below->bytes);
    *hi = best_at(m, chip, dt, above->bytes);
    if ((*lo)->bytes == (*hi)->bytes)
        return (*lo)->bus_gbs;
    double f = (log(bytes) - log((*lo)->bytes)) / (log((*hi)->bytes) - log((*lo)->bytes));
    return (*lo)->bus_gbs + f * ((*hi)->bus_gbs - (*lo)->bus_gbs);
}

double cb_allreduce_time_s(double bytes, int ranks, double busbw_gbs)
{
    if (ranks <= 1)
        return 0.0;
    return bytes * cb_allreduce_bus_factor(ranks) / (busbw_gbs * 1e9);
}

void cb_dp_compute(const struct cb_step *st, const struct cb_cost_result *one,
                   const struct cb_dp_opts *o, double busbw_gbs, struct cb_dp_result *r)
{
    struct cb_param_count pc;
    struct cb_step_memory mem;
    memset(r, 0, sizeof *r);
    cb_model_params(&st->model, &pc);
    cb_step_memory(st, &mem);
    const double N = o->chips;
    r->chips = o->chips;
    // Without a bandwidth for the memory-bound ops the single-chip time is
    // its compute part alone: a lower bound, and so is everything after it.
    double t1 = isnan(one->t_step) ? one->t_compute : one->t_step;
    r->lower_bound = isnan(one->t_step) || one->n_missing > 0;
    r->grad_bytes = (double)pc.total * cb_dtype_size(o->grad_dtype);
    r->busbw_gbs = busbw_gbs;
    r->t_allreduce = cb_allreduce_time_s(r->grad_bytes, o->chips, busbw_gbs);
    r->t_exposed = (1.0 - o->overlap) * r->t_allreduce;
    r->t_step = t1 + r->t_exposed;
    r->tokens_per_step = N * one->tokens_per_step;
    r->tokens_per_s = r->tokens_per_step / r->t_step;
    r->efficiency = r->tokens_per_s / (N * one->tokens_per_step / t1);
    r->energy_j = N * one->energy_j;
    // Single-chip dollars per second of step, times N chips for t_step_N.
    r->rent_step = N * one->rent_step / t1 * r->t_step;
    double own_hw = N * one->own_hw_step / t1 * r->t_step;
    r->energy_step = N * one->energy_step;
    r->own_step = own_hw + r->energy_step;
    double opt = o->zero1 ? mem.optimizer / N : mem.optimizer;
    r->mem_per_chip_gb = (mem.weights + mem.grads + opt + mem.activations) * 1e-9;
    r->fits = isnan(one->mem_have_gb) ? -1 : r->mem_per_chip_gb <= one->mem_have_gb;
}
