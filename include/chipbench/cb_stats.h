// cb_stats.h: summary statistics of per-call times.
//
// The 95% confidence interval of the median is distribution-free: the order
// statistics whose ranks bracket n/2 by 1.96*sqrt(n)/2 (the normal
// approximation to Binomial(n, 1/2)); with fewer than 6 samples it widens to
// [min, max]. It assumes independent samples, which back-to-back timing only
// approximates: treat it as a floor on the real uncertainty.
#ifndef CHIPBENCH_CB_STATS_H
#define CHIPBENCH_CB_STATS_H

#include "cb_status.h"

struct cb_stats {
    int n;
    double min, max, median, mean, stddev;
    double noise;           // stddev / mean (relative); 0 when n < 2
    double ci_lo, ci_hi;    // 95% CI of the median
};

// x is not modified. CB_ERR_INVALID_ARG if n < 1 or any x is not finite.
enum cb_status cb_stats_compute(const double *x, int n, struct cb_stats *out);

// Median of x (copied and sorted internally); n >= 1.
double cb_median(const double *x, int n);

// The device time of every call of a device plan (events around each
// launch, OpenCL or CUDA): its median leaves out the first call, the
// verification launch, when timed ones exist. Zero-initialized is empty.
struct cb_call_times {
    double *ns;
    int n, cap;
};
enum cb_status cb_call_times_add(struct cb_call_times *t, double ns);
double cb_call_times_median(const struct cb_call_times *t);  // < 0 when there is none
void cb_call_times_free(struct cb_call_times *t);

#endif
