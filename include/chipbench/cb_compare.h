// cb_compare.h: comparing result CSVs (chipbench compare).
//
// Rows are joined on their identity: chip class, device, kernel, dtype, shape
// (transposes, sizes, leading dimensions, alpha/beta; attention sizes and
// mask) and threads. For each pair the statistics work on the raw per-call
// samples (the samples_ns column):
//   ratio     median(new) / median(base) of the times: > 1 means slower;
//   CI        95% percentile bootstrap of that ratio (2000 resamples of each
//             side, seeded from the row identity, so output is reproducible);
//   p         two-sided Mann-Whitney U test (normal approximation with tie
//             correction and continuity correction);
//   verdict   SLOWER  p < alpha, ratio > 1 and the CI reaches past 1 + t
//                     (the change may be as large as the threshold t);
//             FASTER  the mirror image (ratio < 1, CI below 1 / (1 + t));
//             SAME    the CI lies inside [1 / (1 + t), 1 + t];
//             NOISY   none of these: too noisy to tell.
// A/A comparisons give SLOWER in at most alpha of cases (the test gates it);
// the threshold keeps real but unimportant shifts (a 2% drift between two
// runs on a shared VM) out of the gate.
#ifndef CHIPBENCH_CB_COMPARE_H
#define CHIPBENCH_CB_COMPARE_H

#include <stdint.h>
#include "cb_status.h"

enum cb_verdict { CB_SAME, CB_FASTER, CB_SLOWER, CB_NOISY };
const char *cb_verdict_name(enum cb_verdict v);

struct cb_cmp_stats {
    double ratio, ci_lo, ci_hi, p;
    enum cb_verdict verdict;
};

// Statistics of one pair of sample sets (times: smaller is better).
// n_base, n_new >= 1; seed makes the bootstrap reproducible.
enum cb_status cb_compare_samples(const double *base, int n_base, const double *newer, int n_new,
                                  double threshold, double alpha, uint64_t seed,
                                  struct cb_cmp_stats *out);

// Two-sided Mann-Whitney U p-value of x against y.
double cb_mann_whitney_p(const double *x, int nx, const double *y, int ny);

// One comparable row of a result CSV.
struct cb_cmp_row {
    char *key;        // identity, '|'-joined
    char *label;      // "kernel shape t=N" for display
    char *chip;       // chip_class (+ device)
    char *kernel;
    double *samples;  // per-call ns
    int n;
    double median_ns, gflops, gflops_per_w;  // NAN when absent
    int ok;           // status == ok with samples
    char *status;     // status word as in the file
};

struct cb_cmp_file {
    char *path;
    struct cb_cmp_row *rows;
    int nrows;
};

// Read and validate a result CSV: schema_version must be one this build
// knows, the identity and sample columns must be present, numbers must parse.
// CB_ERR_IO / CB_ERR_PARSE with "path: line N: ..." otherwise.
enum cb_status cb_cmp_load(const char *path, struct cb_cmp_file *out);
void cb_cmp_free(struct cb_cmp_file *f);

// Divide every row's samples by the median of the row of kernel `ref` with
// the same chip, shape and threads in the same file (drift-robust mode). Rows
// without such a reference become not ok ("no <ref> row to normalize to").
void cb_cmp_normalize(struct cb_cmp_file *f, const char *ref);

#endif
