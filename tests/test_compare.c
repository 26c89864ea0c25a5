// test_compare.c: the statistics of `chipbench compare` on synthetic samples
// with known distributions: the A/A false-SLOWER rate stays within alpha, a
// 5% slowdown is found in >= 95% of trials at the default sample count, a
// 30%-noise pair is NOISY rather than SLOWER, and the Mann-Whitney p-value
// matches a hand-computed one.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cb_test.h"
#include "chipbench/cb_compare.h"
#include "chipbench/cb_result_csv.h"
#include "chipbench/cb_stats.h"
#include "chipbench/cb_util.h"

#define TRIALS 400
#define N 10  // the harness's default --min-samples: rows often have just that

static double normal(struct cb_rng *r)
{
    double u1 = cb_rng_uniform(r, 1e-12, 1.0), u2 = cb_rng_uniform(r, 0.0, 1.0);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

// Times around `median` with relative noise cv (log-normal: positive, skewed
// like real timings).
static void draw(struct cb_rng *r, double *x, int n, double median, double cv)
{
    for (int i = 0; i < n; i++)
        x[i] = median * exp(cv * normal(r));
}

static void verdict_counts(double shift, double cv, int n, int counts[4], uint64_t seed)
{
    struct cb_rng r;
    double a[64], b[64];
    cb_rng_seed(&r, seed);
    memset(counts, 0, 4 * sizeof *counts);
    for (int t = 0; t < TRIALS; t++) {
        struct cb_cmp_stats st;
        draw(&r, a, n, 1e6, cv);
        draw(&r, b, n, 1e6 * shift, cv);
        if (cb_compare_samples(a, n, b, n, 0.05, 0.05, seed + (uint64_t)t, &st) == CB_OK)
            counts[st.verdict]++;
    }
}

static void test_mann_whitney_known(void)
{
    double x[] = {1, 2, 3}, y[] = {4, 5, 6};
    // U = 0, mean 4.5, variance 5.25: z = (4.5 - 0.5) / sqrt(5.25) -> p = 0.0809
    CB_CHECK_NEAR(cb_mann_whitney_p(x, 3, y, 3), 0.080856, 1e-5);
    CB_CHECK_NEAR(cb_mann_whitney_p(y, 3, x, 3), 0.080856, 1e-5);
    double same[] = {5, 5, 5};
    CB_CHECK_NEAR(cb_mann_whitney_p(same, 3, same, 3), 1.0, 0);
    // Ties: x = {1, 2, 2}, y = {2, 3, 4}: ranks 1, 3, 3 | 3, 5, 6 -> U = 1
    double tx[] = {1, 2, 2}, ty[] = {2, 3, 4};
    double var = 9.0 / 12.0 * (7 - (27.0 - 3.0) / 30.0);
    CB_CHECK_NEAR(cb_mann_whitney_p(tx, 3, ty, 3), erfc((3.5 - 0.5) / sqrt(var) / sqrt(2.0)),
                  1e-12);
}

static void test_aa_false_slower_within_alpha(void)
{
    int c[4];
    for (int k = 0; k < 3; k++) {
        static const double cvs[] = {0.01, 0.05, 0.15};
        verdict_counts(1.0, cvs[k], N, c, 1000 + (uint64_t)k);
        CB_CHECK_MSG(c[CB_SLOWER] <= 0.05 * TRIALS, "cv %.2f: %d/%d false SLOWER", cvs[k],
                     c[CB_SLOWER], TRIALS);
        CB_CHECK_MSG(c[CB_FASTER] <= 0.05 * TRIALS, "cv %.2f: %d/%d false FASTER", cvs[k],
                     c[CB_FASTER], TRIALS);
    }
    // Quiet A/A is SAME.
    verdict_counts(1.0, 0.01, N, c, 7);
    CB_CHECK_MSG(c[CB_SAME] >= 0.95 * TRIALS, "quiet A/A: %d/%d SAME", c[CB_SAME], TRIALS);
}

static void test_five_percent_slowdown_found(void)
{
    int c[4];
    verdict_counts(1.05, 0.01, N, c, 2000);
    CB_CHECK_MSG(c[CB_SLOWER] >= 0.95 * TRIALS, "5%% slowdown, 1%% noise: found %d/%d",
                 c[CB_SLOWER], TRIALS);
    verdict_counts(1.0 / 1.05, 0.01, N, c, 2001);
    CB_CHECK_MSG(c[CB_FASTER] >= 0.95 * TRIALS, "5%% speed-up: found %d/%d", c[CB_FASTER],
                 TRIALS);
    // A 1% drift (below the 5% threshold) is not a regression.
    verdict_counts(1.01, 0.005, N, c, 2002);
    CB_CHECK_MSG(c[CB_SLOWER] <= 0.05 * TRIALS, "1%% drift: %d/%d SLOWER", c[CB_SLOWER],
                 TRIALS);
}

static void test_noisy_pair_is_noisy(void)
{
    int c[4];
    verdict_counts(1.0, 0.30, N, c, 3000);
    CB_CHECK_MSG(c[CB_SLOWER] <= 0.05 * TRIALS, "30%% noise: %d/%d SLOWER", c[CB_SLOWER],
                 TRIALS);
    CB_CHECK_MSG(c[CB_NOISY] >= 0.85 * TRIALS, "30%% noise: only %d/%d NOISY", c[CB_NOISY],
                 TRIALS);
}

static void test_ratio_and_ci(void)
{
    double a[] = {100, 101, 99, 100, 100}, b[] = {200, 202, 198, 200, 200};
    struct cb_cmp_stats st;
    CB_CHECK(cb_compare_samples(a, 5, b, 5, 0.05, 0.05, 1, &st) == CB_OK);
    CB_CHECK_NEAR(st.ratio, 2.0, 1e-12);
    CB_CHECK(st.ci_lo <= 2.0 && st.ci_hi >= 2.0 && st.ci_lo > 1.9 && st.ci_hi < 2.1);
    CB_CHECK(st.verdict == CB_SLOWER);
    // Reproducible: the same seed gives the same interval.
    struct cb_cmp_stats st2;
    CB_CHECK(cb_compare_samples(a, 5, b, 5, 0.05, 0.05, 1, &st2) == CB_OK);
    CB_CHECK(st.ci_lo == st2.ci_lo && st.ci_hi == st2.ci_hi);
    CB_CHECK(cb_compare_samples(a, 0, b, 5, 0.05, 0.05, 1, &st2) == CB_ERR_INVALID_ARG);
}

// Run-level statistics. ----------------------------------------------------

static void test_student_t_known(void)
{
    // Closed forms: df 1 is Cauchy, p = 1 - 2/pi atan|t|; df 2: p = 1 - |t|/sqrt(2 + t^2).
    CB_CHECK_NEAR(cb_student_t_p(1.0, 1), 0.5, 1e-12);
    CB_CHECK_NEAR(cb_student_t_p(3.0, 1), 1.0 - 2.0 / M_PI * atan(3.0), 1e-12);
    CB_CHECK_NEAR(cb_student_t_p(1.0, 2), 1.0 - 1.0 / sqrt(3.0), 1e-12);
    CB_CHECK_NEAR(cb_student_t_p(0.0, 7), 1.0, 1e-12);
    // Table values of the 97.5% quantile.
    CB_CHECK_NEAR(cb_student_t_crit(0.05, 1), 12.7062, 1e-3);
    CB_CHECK_NEAR(cb_student_t_crit(0.05, 4), 2.7764, 1e-3);
    CB_CHECK_NEAR(cb_student_t_crit(0.05, 10), 2.2281, 1e-3);
    CB_CHECK_NEAR(cb_student_t_crit(0.05, 1000), 1.9623, 1e-3);
    // Large df tends to the normal.
    CB_CHECK_NEAR(cb_student_t_p(1.959964, 1e7), 0.05, 1e-5);
}

// One simulated run: its machine state scales every call by exp(drift *
// N(0,1)); within the run, N samples with 1% noise. Returns the run median.
static double run_median(struct cb_rng *r, double median, double drift, double *samples)
{
    double x[N];
    if (!samples)
        samples = x;
    draw(r, samples, N, median * exp(drift * normal(r)), 0.01);
    return cb_median(samples, N);
}

// Verdict counts of `runs` runs a side (run-level test), and, if by_samples
// is not NULL, of the first run of each side alone (sample-level test) on
// the same data.
static void run_verdicts(double shift, double drift, int nb, int nn, int by_runs[4],
                         int by_samples[4], uint64_t seed)
{
    struct cb_rng r;
    cb_rng_seed(&r, seed);
    memset(by_runs, 0, 4 * sizeof *by_runs);
    if (by_samples)
        memset(by_samples, 0, 4 * sizeof *by_samples);
    for (int t = 0; t < TRIALS; t++) {
        double mb[16], mn[16], sb[N], sn[N];
        struct cb_cmp_stats st;
        for (int i = 0; i < nb; i++)
            mb[i] = run_median(&r, 1e6, drift, i ? NULL : sb);
        for (int i = 0; i < nn; i++)
            mn[i] = run_median(&r, 1e6 * shift, drift, i ? NULL : sn);
        if (cb_compare_runs(mb, nb, mn, nn, 0.05, 0.05, &st) == CB_OK)
            by_runs[st.verdict]++;
        if (by_samples &&
            cb_compare_samples(sb, N, sn, N, 0.05, 0.05, seed + (uint64_t)t, &st) == CB_OK)
            by_samples[st.verdict]++;
    }
}

static void test_runs_aa_within_alpha(void)
{
    int c[4], one[4];
    static const double drifts[] = {0.01, 0.05, 0.15};
    for (int k = 0; k < 3; k++) {
        run_verdicts(1.0, drifts[k], 3, 3, c, NULL, 4000 + (uint64_t)k);
        CB_CHECK_MSG(c[CB_SLOWER] <= 0.05 * TRIALS, "drift %.2f: %d/%d false SLOWER",
                     drifts[k], c[CB_SLOWER], TRIALS);
        CB_CHECK_MSG(c[CB_FASTER] <= 0.05 * TRIALS, "drift %.2f: %d/%d false FASTER",
                     drifts[k], c[CB_FASTER], TRIALS);
    }
    // Why runs: with 5% run-to-run drift, one run a side makes the sample
    // test see a "significant" difference far more often than alpha.
    run_verdicts(1.0, 0.05, 3, 3, c, one, 4100);
    CB_CHECK_MSG(one[CB_SLOWER] > 0.15 * TRIALS, "sample test under drift: %d/%d SLOWER",
                 one[CB_SLOWER], TRIALS);
    // One stored base run against three new runs (pooled variance).
    run_verdicts(1.0, 0.03, 1, 3, c, NULL, 4200);
    CB_CHECK_MSG(c[CB_SLOWER] <= 0.05 * TRIALS, "1 vs 3 runs: %d/%d false SLOWER",
                 c[CB_SLOWER], TRIALS);
}

static void test_runs_find_slowdown(void)
{
    int c[4];
    // 10% slower under 2% run-to-run drift, 3 runs a side.
    run_verdicts(1.10, 0.02, 3, 3, c, NULL, 5000);
    CB_CHECK_MSG(c[CB_SLOWER] >= 0.90 * TRIALS, "10%% slowdown, 3 runs: found %d/%d",
                 c[CB_SLOWER], TRIALS);
    // 5% slower under 1% drift, 5 runs a side.
    run_verdicts(1.05, 0.01, 5, 5, c, NULL, 5001);
    CB_CHECK_MSG(c[CB_SLOWER] >= 0.95 * TRIALS, "5%% slowdown, 5 runs: found %d/%d",
                 c[CB_SLOWER], TRIALS);
    run_verdicts(1.0 / 1.10, 0.02, 3, 3, c, NULL, 5002);
    CB_CHECK_MSG(c[CB_FASTER] >= 0.90 * TRIALS, "10%% speed-up, 3 runs: found %d/%d",
                 c[CB_FASTER], TRIALS);
    // Heavy drift (15%) with 3 runs: cannot tell, so NOISY, not SLOWER.
    run_verdicts(1.0, 0.15, 3, 3, c, NULL, 5003);
    CB_CHECK_MSG(c[CB_NOISY] >= 0.85 * TRIALS, "15%% drift: only %d/%d NOISY", c[CB_NOISY],
                 TRIALS);
    // Known numbers: base runs 100, 102, 98 and new 110, 112, 108.
    double b[] = {100, 102, 98}, n[] = {110, 112, 108};
    struct cb_cmp_stats st;
    CB_CHECK(cb_compare_runs(b, 3, n, 3, 0.05, 0.05, &st) == CB_OK);
    double lb = (log(100) + log(102) + log(98)) / 3, ln = (log(110) + log(112) + log(108)) / 3;
    CB_CHECK_NEAR(st.ratio, exp(ln - lb), 1e-12);
    CB_CHECK(st.ci_lo < st.ratio && st.ci_hi > st.ratio && st.p < 0.01);
    CB_CHECK(st.verdict == CB_SLOWER);
    CB_CHECK(cb_compare_runs(b, 1, n, 1, 0.05, 0.05, &st) == CB_ERR_INVALID_ARG);
    double bad[] = {100, -1};
    CB_CHECK(cb_compare_runs(bad, 2, n, 3, 0.05, 0.05, &st) == CB_ERR_INVALID_ARG);
}

// One gate over many rows: the family-wise correction. -------------------

static void test_adjust_known(void)
{
    struct cb_cmp_stats st[4] = {{.ratio = 1.2, .ci_lo = 1.1, .ci_hi = 1.3, .p = 0.01},
                                 {.ratio = 1.2, .ci_lo = 1.1, .ci_hi = 1.3, .p = 0.04},
                                 {.ratio = 1.2, .ci_lo = 1.1, .ci_hi = 1.3, .p = 0.03},
                                 {.ratio = 1.2, .ci_lo = 1.1, .ci_hi = 1.3, .p = 0.005}};
    struct cb_cmp_stats *f[4] = {&st[0], &st[1], &st[2], &st[3]};
    // Benjamini-Hochberg: sorted p 0.005, 0.01, 0.03, 0.04 -> p n / rank 0.02,
    // 0.02, 0.04, 0.04, then the running minimum from the largest.
    cb_cmp_adjust(f, 4, CB_CORR_BH, 0.05, 0.05);
    CB_CHECK_NEAR(st[3].q, 0.02, 1e-12);
    CB_CHECK_NEAR(st[0].q, 0.02, 1e-12);
    CB_CHECK_NEAR(st[2].q, 0.04, 1e-12);
    CB_CHECK_NEAR(st[1].q, 0.04, 1e-12);
    CB_CHECK(st[1].verdict == CB_SLOWER);
    // Holm: p (n - rank + 1) = 0.02, 0.03, 0.06, 0.04, then the running maximum.
    cb_cmp_adjust(f, 4, CB_CORR_HOLM, 0.05, 0.05);
    CB_CHECK_NEAR(st[3].q, 0.02, 1e-12);
    CB_CHECK_NEAR(st[0].q, 0.03, 1e-12);
    CB_CHECK_NEAR(st[2].q, 0.06, 1e-12);
    CB_CHECK_NEAR(st[1].q, 0.06, 1e-12);
    CB_CHECK(st[0].verdict == CB_SLOWER && st[2].verdict == CB_NOISY);
    cb_cmp_adjust(f, 4, CB_CORR_NONE, 0.05, 0.05);
    CB_CHECK(st[1].q == 0.04 && st[1].verdict == CB_SLOWER);
}

// Comparisons of ROWS rows, `runs` runs a side with 3% run-to-run drift: the
// share of comparisons with any false SLOWER row, the share of truly slower
// rows found when `slow` of them are 20% slower, and the mean share of false
// ones among the rows flagged (the false discovery rate).
#define ROWS 96
static void family(enum cb_correction c, int runs, int slow, int trials, double *any_false,
                   double *found, double *fdr, uint64_t seed)
{
    struct cb_rng r;
    cb_rng_seed(&r, seed);
    int fails = 0, hits = 0;
    double fdr_sum = 0;
    for (int t = 0; t < trials; t++) {
        static struct cb_cmp_stats st[ROWS];
        struct cb_cmp_stats *f[ROWS];
        for (int i = 0; i < ROWS; i++) {
            double mb[8], mn[8], shift = i < slow ? 1.2 : 1.0;
            for (int k = 0; k < runs; k++) {
                mb[k] = run_median(&r, 1e6, 0.03, NULL);
                mn[k] = run_median(&r, 1e6 * shift, 0.03, NULL);
            }
            CB_CHECK(cb_compare_runs(mb, runs, mn, runs, 0.05, 0.05, &st[i]) == CB_OK);
            f[i] = &st[i];
        }
        cb_cmp_adjust(f, ROWS, c, 0.05, 0.05);
        int false_slower = 0, true_slower = 0;
        for (int i = 0; i < ROWS; i++) {
            false_slower += i >= slow && st[i].verdict == CB_SLOWER;
            true_slower += i < slow && st[i].verdict == CB_SLOWER;
        }
        hits += true_slower;
        fails += false_slower > 0;
        if (false_slower)
            fdr_sum += (double)false_slower / (false_slower + true_slower);
    }
    *any_false = (double)fails / trials;
    *found = slow ? (double)hits / ((double)slow * trials) : 0;
    *fdr = fdr_sum / trials;
}

static void test_family_gate(void)
{
    double any, found, fdr;
    family(CB_CORR_NONE, 3, 0, 100, &any, &found, &fdr, 6000);
    CB_CHECK_MSG(any > 0.5, "uncorrected A/A over %d rows failed only %.2f", ROWS, any);
    family(CB_CORR_BH, 3, 0, 100, &any, &found, &fdr, 6001);
    CB_CHECK_MSG(any <= 0.05, "BH: A/A over %d rows failed %.2f of the time", ROWS, any);
    family(CB_CORR_HOLM, 3, 0, 100, &any, &found, &fdr, 6002);
    CB_CHECK_MSG(any <= 0.05, "Holm: A/A over %d rows failed %.2f of the time", ROWS, any);
    // Real 20% regressions in 5 of the rows: 5 runs a side find them (with 3,
    // df 4 leaves too little power for 96 rows: the README says so).
    family(CB_CORR_BH, 5, 5, 100, &any, &found, &fdr, 6003);
    CB_CHECK_MSG(found >= 0.9, "BH, 5 runs: found only %.2f of 20%% regressions", found);
    CB_CHECK_MSG(fdr <= 0.05, "BH, 5 runs: false discovery rate %.3f", fdr);
    family(CB_CORR_BH, 3, 5, 100, &any, &found, &fdr, 6004);
    printf("INFO BH, 3 runs a side: found %.2f of 20%% regressions\n", found);
}

// Synthetic result CSVs through the real writer, and the real binary. ------

static char dir[64];

// Writes rows for kernels k0..k{nk-1} at 3 shapes; kernel j's times are
// scale[j] * base with relative noise cv; `extra` adds a row only this file has.
static const char *csv_dtype = "f32";
static double csv_gflops_factor = 1.0;

static int write_csv(const char *name, int nk, const double *scale, double cv, uint64_t seed,
                     int extra, const char *version)
{
    static const char *const kernels[] = {"gemm_f32_avx512_8x48", "gemm_f32_openblas"};
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct cb_csv_writer *w = NULL;
    if (cb_csv_open(path, cb_result_columns, cb_result_ncolumns, &w) != CB_OK)
        return -1;
    struct cb_rng r;
    cb_rng_seed(&r, seed);
    const char *cells[256];
    char num[8][64];
    static char samples[4096];
    for (int s = 0; s < 3 + extra; s++)
        for (int j = 0; j < nk; j++) {
            for (int c = 0; c < cb_result_ncolumns; c++) {
                const char *col = cb_result_columns[c];
                cells[c] = "";
                if (!strcmp(col, "schema_version"))
                    cells[c] = version;
                else if (!strcmp(col, "chip_class"))
                    cells[c] = "cpu:x86_64:Test:f1m2s3";
                else if (!strcmp(col, "kernel"))
                    cells[c] = kernels[j];
                else if (!strcmp(col, "dtype"))
                    cells[c] = csv_dtype;
                else if (!strcmp(col, "op"))
                    cells[c] = "gemm";
                else if (!strcmp(col, "trans"))
                    cells[c] = "nn";
                else if (!strcmp(col, "m") || !strcmp(col, "n") || !strcmp(col, "k") ||
                         !strcmp(col, "lda") || !strcmp(col, "ldb") || !strcmp(col, "ldc")) {
                    snprintf(num[0], sizeof num[0], "%d", 256 << s);
                    cells[c] = num[0];
                } else if (!strcmp(col, "threads"))
                    cells[c] = "1";
                else if (!strcmp(col, "status"))
                    cells[c] = "ok";
                else if (!strcmp(col, "gflops")) {
                    snprintf(num[1], sizeof num[1], "%g", csv_gflops_factor * 100.0 / scale[j]);
                    cells[c] = num[1];
                } else if (!strcmp(col, "samples_ns")) {
                    double x[N];
                    draw(&r, x, N, 1e6 * (1 << s) * scale[j], cv);
                    int o = 0;
                    for (int i = 0; i < N; i++)
                        o += snprintf(samples + o, sizeof samples - (size_t)o, i ? " %.1f" : "%.1f",
                                      x[i]);
                    cells[c] = samples;
                }
            }
            if (cb_csv_write_row(w, cells, cb_result_ncolumns) != CB_OK) {
                cb_csv_close(w);
                return -1;
            }
        }
    cb_csv_close(w);
    return 0;
}

// The same rows as dtype `dt` (same kernel names: only the dtype column
// separates them) with GFLOP/s x factor.
static int write_csv_dtype(const char *name, const char *dt, double factor)
{
    const double same[] = {1.0, 1.0};
    csv_dtype = dt;
    csv_gflops_factor = factor;
    int rc = write_csv(name, 2, same, 0.01, 9, 0, "1");
    csv_dtype = "f32";
    csv_gflops_factor = 1.0;
    return rc;
}

// Runs `chipbench compare ARGS` and returns its exit status; stdout+stderr
// go to dir/out.txt.
static char binary[4096];

static int run_compare(const char *args)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd %s && %s compare %s > out.txt 2>&1", dir, binary, args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int out_has(const char *needle)
{
    char path[128], buf[65536];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

// --normalize-to with rounds: each round of a row over the same round of
// the reference, one value per round; without rounds, samples over the
// reference's median.
static void test_normalize_rounds(void)
{
    static const char head[] =
        "schema_version,kernel,dtype,chip_class,device,op,trans,m,n,k,lda,ldb,ldc,alpha,"
        "beta,batch,heads,kv_heads,seq_q,seq_kv,head_dim,causal,threads,status,samples_ns,"
        "round_medians_ns\n";
    static const char body[] =
        "1,ours,f32,c,,gemm,nn,8,8,8,8,8,8,1,0,,,,,,,,1,ok,10 20 30 40,10 20 40\n"
        "1,ref,f32,c,,gemm,nn,8,8,8,8,8,8,1,0,,,,,,,,1,ok,5 10 20 25,5 8 10\n"
        "1,old,f32,c,,gemm,nn,8,8,8,8,8,8,1,0,,,,,,,,1,ok,30 40,\n"
        "1,alone,f32,c,,gemm,nn,9,8,8,8,8,8,1,0,,,,,,,,1,ok,30 40,\n";
    char text[2048];
    snprintf(text, sizeof text, "%s%s", head, body);
    struct cb_cmp_file f;
    CB_CHECK(cb_cmp_parse(text, strlen(text), "t.csv", &f) == CB_OK);
    CB_CHECK(f.nrows == 4 && f.rows[0].nrounds == 3 && f.rows[2].nrounds == 0);
    cb_cmp_normalize(&f, "ref");
    // ours: 10/5, 20/8, 40/10 = 2, 2.5, 4; the ref's samples' median is 15.
    CB_CHECK(f.rows[0].ok && f.rows[0].n == 3);
    CB_CHECK_NEAR(f.rows[0].samples[1], 2.5, 1e-12);
    CB_CHECK_NEAR(f.rows[0].median_ns, 2.5, 1e-12);
    CB_CHECK_NEAR(f.rows[1].median_ns, 1.0, 1e-12);
    // old (no rounds): samples / 15.
    CB_CHECK(f.rows[2].ok && f.rows[2].n == 2);
    CB_CHECK_NEAR(f.rows[2].samples[0], 2.0, 1e-12);
    CB_CHECK_NEAR(f.rows[2].median_ns, 35.0 / 15.0, 1e-12);
    CB_CHECK(!f.rows[3].ok && strstr(f.rows[3].status, "no ref row"));
    cb_cmp_free(&f);
    // A malformed round list is a parse error naming the column.
    snprintf(text, sizeof text, "%s1,ours,f32,c,,gemm,nn,8,8,8,8,8,8,1,0,,,,,,,,1,ok,10,1 x\n",
             head);
    CB_CHECK(cb_cmp_parse(text, strlen(text), "t.csv", &f) == CB_ERR_PARSE);
    CB_CHECK(strstr(cb_error_text(), "round_medians_ns") != NULL);
}

static void test_cli_gate(void)
{
    const char *cb = getenv("CHIPBENCH");
    if (!realpath(cb ? cb : "build/chipbench", binary))
        CB_SKIP("chipbench binary not found (set CHIPBENCH)");
    snprintf(dir, sizeof dir, "/tmp/cb_compare.XXXXXX");
    CB_CHECK(mkdtemp(dir) != NULL);
    const double same[] = {1.0, 1.0}, slow[] = {1.3, 1.0}, both[] = {1.3, 1.3};
    CB_CHECK(write_csv("base.csv", 2, same, 0.01, 1, 0, "1") == 0);
    CB_CHECK(write_csv("aa.csv", 2, same, 0.01, 2, 1, "1") == 0);
    CB_CHECK(write_csv("slow.csv", 2, slow, 0.01, 3, 0, "1") == 0);
    CB_CHECK(write_csv("drift.csv", 2, both, 0.01, 4, 0, "1") == 0);
    CB_CHECK(write_csv("v9.csv", 2, same, 0.01, 5, 0, "9") == 0);

    CB_CHECK_MSG(run_compare("base.csv aa.csv") == 0, "A/A exit status");
    CB_CHECK(out_has("SAME") && out_has("only in new"));  // the extra row is listed
    CB_CHECK(run_compare("base.csv slow.csv") == 1);
    CB_CHECK(out_has("SLOWER") && out_has("gemm_f32_avx512_8x48 256x256x256:nn t=1"));
    // Markdown and JSON carry the same verdicts.
    CB_CHECK(run_compare("--format markdown base.csv slow.csv") == 1);
    CB_CHECK(out_has("| **SLOWER** |"));
    CB_CHECK(run_compare("--format json base.csv slow.csv") == 1);
    CB_CHECK(out_has("{\"base\":") && out_has("\"slower\":3"));
    // A machine 30% slower overall: a regression in absolute time, not
    // relative to OpenBLAS measured in the same run.
    CB_CHECK(run_compare("base.csv drift.csv") == 1);
    CB_CHECK(run_compare("--normalize-to gemm_f32_openblas base.csv drift.csv") == 0);
    CB_CHECK(run_compare("--normalize-to gemm_f32_openblas base.csv slow.csv") == 1);
    // A larger threshold hides the 30% change.
    CB_CHECK(run_compare("--threshold 50 base.csv slow.csv") == 0);
    // Cross-chip table.
    CB_CHECK(run_compare("--chips base.csv slow.csv") == 0);
    CB_CHECK(out_has("*100.0 (gemm_f32_avx512_8x48)"));
    // Rows of another dtype are their own table rows, never merged with f32.
    CB_CHECK(write_csv_dtype("bf16.csv", "bf16", 4) == 0);
    CB_CHECK(run_compare("--chips base.csv bf16.csv") == 0);
    CB_CHECK(out_has(" f32 ") && out_has(" bf16 ") && out_has("*400.0 (gemm_f32_avx512_8x48)") &&
             out_has("*100.0 (gemm_f32_avx512_8x48)"));

    // Bad input: exit 2 with a message naming the problem.
    CB_CHECK(run_compare("base.csv v9.csv") == 2 && out_has("unknown schema_version '9'"));
    CB_CHECK(run_compare("base.csv missing.csv") == 2 && out_has("missing.csv"));
    FILE *f;
    char path[128];
    snprintf(path, sizeof path, "%s/junk.csv", dir);
    f = fopen(path, "w");
    CB_CHECK(f != NULL);
    fputs("a,b\n1,2\n", f);
    fclose(f);
    CB_CHECK(run_compare("base.csv junk.csv") == 2 && out_has("not a chipbench result CSV"));
    snprintf(path, sizeof path, "%s/ragged.csv", dir);
    f = fopen(path, "w");
    CB_CHECK(f != NULL);
    fputs("schema_version,kernel\n1,x,y\n", f);
    fclose(f);
    CB_CHECK(run_compare("base.csv ragged.csv") == 2 && out_has("line 2"));
    CB_CHECK(run_compare("base.csv") == 2 && out_has("expected BASE.csv NEW.csv"));
    CB_CHECK(run_compare("--alpha 2 base.csv aa.csv") == 2 && out_has("--alpha"));
    CB_CHECK(run_compare("--bogus base.csv aa.csv") == 2 && out_has("unknown option"));
    CB_CHECK(run_compare("--normalize-to nope base.csv aa.csv") == 2 &&
             out_has("no comparable rows"));
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CB_CHECK(system(cmd) == 0);
}

// Several runs a side through the CLI: directories and comma lists of files
// whose runs drift by several percent as a whole, as runs on a shared VM do.
static void test_cli_runs(void)
{
    const char *cb = getenv("CHIPBENCH");
    if (!realpath(cb ? cb : "build/chipbench", binary))
        CB_SKIP("chipbench binary not found (set CHIPBENCH)");
    snprintf(dir, sizeof dir, "/tmp/cb_compare.XXXXXX");
    CB_CHECK(mkdtemp(dir) != NULL);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "mkdir %s/base %s/new %s/slow %s/empty", dir, dir, dir, dir);
    CB_CHECK(system(cmd) == 0);
    // Whole-run factors: base runs at 1.00, 1.03, 0.98; new runs at 1.08,
    // 1.01, 1.05. The first new run is 8% slower than the first base run.
    static const double bd[] = {1.00, 1.03, 0.98}, nd[] = {1.08, 1.01, 1.05};
    for (int i = 0; i < 3; i++) {
        char name[64];
        double sb[] = {bd[i], bd[i]}, sn[] = {nd[i], nd[i]}, ss[] = {1.3 * nd[i], nd[i]};
        snprintf(name, sizeof name, "base/run%d.csv", i + 1);
        CB_CHECK(write_csv(name, 2, sb, 0.01, 100 + (uint64_t)i, 0, "1") == 0);
        snprintf(name, sizeof name, "new/run%d.csv", i + 1);
        CB_CHECK(write_csv(name, 2, sn, 0.01, 200 + (uint64_t)i, 0, "1") == 0);
        snprintf(name, sizeof name, "slow/run%d.csv", i + 1);
        CB_CHECK(write_csv(name, 2, ss, 0.01, 300 + (uint64_t)i, 0, "1") == 0);
    }
    // One run a side: the sample test calls the 8% drift a regression.
    CB_CHECK(run_compare("base/run1.csv new/run1.csv") == 1);
    CB_CHECK(out_has("one run a side"));
    // Three runs a side: drift is counted, no regression.
    CB_CHECK_MSG(run_compare("base new") == 0, "A/A over runs");
    CB_CHECK(out_has("3 base runs, 3 new runs, Welch t") && out_has(" 3/3 "));
    CB_CHECK(run_compare("base/run1.csv,base/run2.csv,base/run3.csv new") == 0);
    // A kernel 30% slower in every new run is found.
    CB_CHECK(run_compare("base slow") == 1);
    CB_CHECK(out_has("SLOWER") && out_has("gemm_f32_avx512_8x48 256x256x256:nn t=1"));
    CB_CHECK(run_compare("--format json base slow") == 1);
    CB_CHECK(out_has("\"method\":\"runs\"") && out_has("\"base_runs\":3"));
    // One stored base run against three new ones.
    CB_CHECK(run_compare("base/run1.csv slow") == 1);
    // Bad sides: exit 2 naming the problem.
    CB_CHECK(run_compare("empty new") == 2 && out_has("no .csv files"));
    CB_CHECK(run_compare("base/run1.csv,,base/run2.csv new") == 2 && out_has("empty file name"));
    CB_CHECK(run_compare("base/run1.csv,nope.csv new") == 2 && out_has("nope.csv"));
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CB_CHECK(system(cmd) == 0);
}

int main(void)
{
    CB_RUN(test_mann_whitney_known);
    CB_RUN(test_ratio_and_ci);
    CB_RUN(test_aa_false_slower_within_alpha);
    CB_RUN(test_five_percent_slowdown_found);
    CB_RUN(test_noisy_pair_is_noisy);
    CB_RUN(test_student_t_known);
    CB_RUN(test_runs_aa_within_alpha);
    CB_RUN(test_runs_find_slowdown);
    CB_RUN(test_adjust_known);
    CB_RUN(test_family_gate);
    CB_RUN(test_cli_runs);
    CB_RUN(test_normalize_rounds);
    CB_RUN(test_cli_gate);
    return CB_TEST_END("test_compare");
}
