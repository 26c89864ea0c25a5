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
//   verdict   SLOWER  q < alpha (q: p adjusted over all the rows compared,
//                     see cb_cmp_adjust; q = p for a single pair), ratio > 1
//                     and the CI reaches past 1 + t (the change may be as
//                     large as the threshold t);
//             FASTER  the mirror image (ratio < 1, CI below 1 / (1 + t));
//             SAME    the CI lies inside [1 / (1 + t), 1 + t];
//             NOISY   none of these: too noisy to tell.
// A/A comparisons give SLOWER in at most alpha of cases (the test gates it);
// the threshold keeps real but unimportant shifts (a 2% drift between two
// runs on a shared VM) out of the gate.
//
// Several runs per side (files of separate `chipbench run` invocations): the
// run becomes the unit of replication. Samples within one run share that
// run's machine state (clocks, neighbours on a shared VM, page placement),
// so on a shared machine two runs differ by more than their samples say, and
// the sample-level test above calls that drift significant. With runs, each
// row's per-run medians are compared instead:
//   ratio     exp(mean log(new run medians) - mean log(base run medians)),
//             the geometric-mean ratio;
//   CI, p     Welch's t on the log run medians (each side its own variance;
//             with a single run on one side, it is assumed to vary as the
//             other side's runs do). A rank test cannot reach p < 0.05 with
//             fewer than 4 runs per side; the t test can with 2 to 3, and
//             the log of a median of many samples is close to normal.
//   verdict   the same rules.
// A side's runs are its files: BASE and NEW are each a file, a
// comma-separated list of files or a directory of *.csv.
#ifndef CHIPBENCH_CB_COMPARE_H
#define CHIPBENCH_CB_COMPARE_H

#include <stddef.h>
#include <stdint.h>
#include "cb_status.h"

enum cb_verdict { CB_SAME, CB_FASTER, CB_SLOWER, CB_NOISY };
const char *cb_verdict_name(enum cb_verdict v);

struct cb_cmp_stats {
    double ratio, ci_lo, ci_hi, p;
    double q;  // p adjusted for the number of rows compared (cb_cmp_adjust); p until then
    enum cb_verdict verdict;  // from q
};

// Statistics of one pair of sample sets (times: smaller is better).
// n_base, n_new >= 1; seed makes the bootstrap reproducible.
enum cb_status cb_compare_samples(const double *base, int n_base, const double *newer, int n_new,
                                  double threshold, double alpha, uint64_t seed,
                                  struct cb_cmp_stats *out);

// Run-level statistics from per-run medians (n_base + n_new >= 3, each side
// at most CB_CMP_MAX_RUNS).
#define CB_CMP_MAX_RUNS 256
enum cb_status cb_compare_runs(const double *base_medians, int n_base,
                               const double *new_medians, int n_new, double threshold,
                               double alpha, struct cb_cmp_stats *out);

// Many rows, one gate. Each row's test holds its false-SLOWER rate within
// alpha, but a gate over 96 rows would then fail nearly every A/A comparison
// (1 - 0.975^96 = 91%). The rows' p-values are therefore adjusted as one
// family before the verdicts are given:
//   CB_CORR_BH    Benjamini-Hochberg (default): when nothing changed, any
//                 SLOWER at all happens in at most alpha of comparisons;
//                 when some rows did change, at most alpha of the rows
//                 flagged are expected to be false (false discovery rate);
//   CB_CORR_HOLM  Holm: any false flag in at most alpha of comparisons
//                 whatever changed (stricter, less power);
//   CB_CORR_NONE  each row on its own (the per-row rate only).
// Sets every q and recomputes every verdict from it.
enum cb_correction { CB_CORR_BH, CB_CORR_HOLM, CB_CORR_NONE };
void cb_cmp_adjust(struct cb_cmp_stats *const *rows, int n, enum cb_correction c,
                   double threshold, double alpha);

// Student's t: two-sided p-value of statistic t with df degrees of freedom,
// and the critical value whose two-sided p is p2 (2.776 for 0.05 at df 4).
double cb_student_t_p(double t, double df);
double cb_student_t_crit(double p2, double df);

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
    double *round_ns; // run --rounds: each round's median (round_medians_ns)
    int nrounds;      // 0 for files without the column
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
// The same on text already in memory (origin names it in messages): the
// fuzz target's entry point.
enum cb_status cb_cmp_parse(const char *text, size_t len, const char *origin,
                            struct cb_cmp_file *out);
void cb_cmp_free(struct cb_cmp_file *f);

// Divide every row's samples by the median of the row of kernel `ref` with
// the same chip, shape and threads in the same file (drift-robust mode). Rows
// without such a reference become not ok ("no <ref> row to normalize to").
// A row measured in rounds (run --rounds) beside a reference that was too
// gets, instead, one value per round: its round median over the
// reference's median of the same round.
void cb_cmp_normalize(struct cb_cmp_file *f, const char *ref);

#endif
