// stats.c: summary statistics of per-call times (see cb_stats.h for the
// confidence-interval method and its assumptions).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_stats.h"
#include "chipbench/cb_util.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double sorted_median(const double *s, int n)
{
    return (n % 2) ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

double cb_median(const double *x, int n)
{
    double *s = cb_alloc_array((size_t)n, sizeof *s);
    if (!s)
        return NAN;
    memcpy(s, x, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double m = sorted_median(s, n);
    cb_free(s);
    return m;
}

enum cb_status cb_stats_compute(const double *x, int n, struct cb_stats *out)
{
    memset(out, 0, sizeof *out);
    if (n < 1 || !x)
        return cb_set_error(CB_ERR_INVALID_ARG, "statistics of %d samples", n);
    double *s = cb_alloc_array((size_t)n, sizeof *s);
    if (!s)
        return cb_set_error(CB_ERR_NO_MEMORY, "statistics of %d samples", n);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            cb_free(s);
            return cb_set_error(CB_ERR_INVALID_ARG, "sample %d is not finite", i);
        }
        s[i] = x[i];
        sum += x[i];
    }
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    out->n = n;
    out->min = s[0];
    out->max = s[n - 1];
    out->median = sorted_median(s, n);
    out->mean = sum / n;
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += (x[i] - out->mean) * (x[i] - out->mean);
    out->stddev = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
    out->noise = (n > 1 && out->mean > 0) ? out->stddev / out->mean : 0.0;
    if (n < 6) {
        out->ci_lo = s[0];
        out->ci_hi = s[n - 1];
    } else {
        // Ranks (1-based) n/2 -+ 1.96*sqrt(n)/2, widened outward to integers.
        double h = 1.96 * sqrt((double)n) / 2.0;
        int lo = (int)floor(n / 2.0 - h);
        int hi = (int)ceil(n / 2.0 + h) + 1;
        if (lo < 1)
            lo = 1;
        if (hi > n)
            hi = n;
        out->ci_lo = s[lo - 1];
        out->ci_hi = s[hi - 1];
    }
    cb_free(s);
    return CB_OK;
}

enum cb_status cb_call_times_add(struct cb_call_times *t, double ns)
{
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        double *d = realloc(t->ns, (size_t)cap * sizeof *d);
        if (!d)
            return cb_set_error(CB_ERR_NO_MEMORY, "device time samples");
        t->ns = d;
        t->cap = cap;
    }
    t->ns[t->n++] = ns;
    return CB_OK;
}

double cb_call_times_median(const struct cb_call_times *t)
{
    if (t->n <= 0)
        return -1.0;
    const double m = t->n > 1 ? cb_median(t->ns + 1, t->n - 1) : t->ns[0];
    return isnan(m) ? -1.0 : m;
}

void cb_call_times_free(struct cb_call_times *t)
{
    free(t->ns);
    t->ns = NULL;
    t->n = t->cap = 0;
}
