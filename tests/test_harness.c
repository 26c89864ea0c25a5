// test_harness.c: statistics on known data, and the sampling loop driven by
// synthetic launchers with known costs (calibration, stop rules, interrupt,
// errors) -- the harness must measure what it is given, nothing else.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cb_test.h"
#include "chipbench/cb_bench.h"

// A message may quote the previous one (context wrapping), which lives in
// the same thread-local buffer.
static void test_error_wrapping(void)
{
    cb_set_error(CB_ERR_IO, "inner %d", 42);
    CB_CHECK(cb_set_error(CB_ERR_PARSE, "outer: %s", cb_error_text()) == CB_ERR_PARSE);
    CB_CHECK_STR(cb_error_text(), "outer: inner 42");
    cb_set_error(CB_ERR_IO, "%s / %s", cb_error_text(), cb_error_text());
    CB_CHECK_STR(cb_error_text(), "outer: inner 42 / outer: inner 42");
}

static void test_stats_known(void)
{
    double x[] = {5, 1, 4, 2, 3};
    struct cb_stats st;
    CB_CHECK(cb_stats_compute(x, 5, &st) == CB_OK);
    CB_CHECK_NEAR(st.min, 1, 0);
    CB_CHECK_NEAR(st.max, 5, 0);
    CB_CHECK_NEAR(st.median, 3, 0);
    CB_CHECK_NEAR(st.mean, 3, 0);
    CB_CHECK_NEAR(st.stddev, sqrt(2.5), 1e-12);
    CB_CHECK_NEAR(st.noise, sqrt(2.5) / 3, 1e-12);
    CB_CHECK_NEAR(st.ci_lo, 1, 0);  // n < 6: [min, max]
    CB_CHECK_NEAR(st.ci_hi, 5, 0);
    double y[] = {4, 1, 3, 2};
    CB_CHECK(cb_stats_compute(y, 4, &st) == CB_OK);
    CB_CHECK_NEAR(st.median, 2.5, 0);
    CB_CHECK_NEAR(cb_median(y, 4), 2.5, 0);
    // Device call times: none yet is < 0; one call is its own median; later
    // the first (verification) call is left out.
    struct cb_call_times t = {0};
    CB_CHECK(cb_call_times_median(&t) < 0);
    CB_CHECK(cb_call_times_add(&t, 100.0) == CB_OK);
    CB_CHECK_NEAR(cb_call_times_median(&t), 100.0, 0);
    for (int i = 0; i < 100; i++)
        CB_CHECK(cb_call_times_add(&t, 2.0 + (i % 3)) == CB_OK);  // 2, 3, 4, ...
    CB_CHECK_NEAR(cb_call_times_median(&t), 3.0, 0);
    cb_call_times_free(&t);
    CB_CHECK(t.ns == NULL && t.n == 0);
}

static void test_stats_ci_ranks(void)
{
    // 1..100: ranks 50 -+ 9.8 -> [40, 61] (1-based), values equal ranks.
    double x[100];
    for (int i = 0; i < 100; i++)
        x[i] = 100 - i;
    struct cb_stats st;
    CB_CHECK(cb_stats_compute(x, 100, &st) == CB_OK);
    CB_CHECK_NEAR(st.median, 50.5, 0);
    CB_CHECK_NEAR(st.ci_lo, 40, 0);
    CB_CHECK_NEAR(st.ci_hi, 61, 0);
    // Coverage: the CI of the median of 31 normal-ish samples should contain
    // the true median in about 95% of 2000 trials.
    struct cb_rng r;
    cb_rng_seed(&r, 42);
    int hit = 0;
    for (int t = 0; t < 2000; t++) {
        double s[31];
        for (int i = 0; i < 31; i++)
            s[i] = cb_rng_uniform(&r, 0, 1) + cb_rng_uniform(&r, 0, 1) - 1;  // median 0
        CB_CHECK(cb_stats_compute(s, 31, &st) == CB_OK);
        hit += st.ci_lo <= 0 && 0 <= st.ci_hi;
    }
    CB_CHECK_MSG(hit >= 1860 && hit <= 1990, "coverage %d/2000", hit);
}

static void test_stats_rejects(void)
{
    double x[] = {1, NAN, 3};
    struct cb_stats st;
    CB_CHECK(cb_stats_compute(x, 3, &st) == CB_ERR_INVALID_ARG);
    CB_CHECK(cb_stats_compute(x, 0, &st) == CB_ERR_INVALID_ARG);
}

// A launcher that busy-waits a fixed time per launch.
struct spin {
    int64_t ns;
    int64_t launches, syncs;
    int fail_at;
};

static enum cb_status spin_launch(void *ctx, int64_t i)
{
    struct spin *s = ctx;
    if (s->fail_at && i == s->fail_at)
        return cb_set_error(CB_ERR_BACKEND, "synthetic failure at launch %lld", (long long)i);
    int64_t t0 = cb_now_ns();
    while (cb_now_ns() - t0 < s->ns)
        ;
    s->launches++;
    return CB_OK;
}

static enum cb_status spin_sync(void *ctx)
{
    ((struct spin *)ctx)->syncs++;
    return CB_OK;
}

static void base_opts(struct cb_bench_opts *o)
{
    cb_bench_opts_default(o);
    o->warmup_s = 0.01;
    o->min_time_s = 0.05;
    o->max_time_s = 2;
    o->max_noise = 0.5;  // a spin is deterministic; don't depend on this VM's quiet
    o->min_samples = 5;
}

static void test_measure_known_spin(void)
{
    struct spin s = {.ns = 200000};  // 200 us per launch
    struct cb_launcher l = {spin_launch, spin_sync, &s, NULL, NULL};
    struct cb_bench_opts o;
    struct cb_measure m;
    base_opts(&o);
    CB_CHECK(cb_measure_run(&o, &l, &m) == CB_OK);
    // per call: at least the spin, and the least-disturbed sample not far
    // above it (the median is at the mercy of other processes on a shared VM)
    CB_CHECK_MSG(m.st.median >= 200000, "median %.0f ns", m.st.median);
    CB_CHECK_MSG(m.st.min >= 200000 && m.st.min < 250000, "min %.0f ns", m.st.min);
    // calibration: a sample lasts >= 1 ms and min_time/(2 min_samples) = 5 ms
    CB_CHECK_MSG(m.iters_per_sample >= 25 && m.iters_per_sample <= 30, "iters %lld",
                 (long long)m.iters_per_sample);
    CB_CHECK(m.nsamples >= 5);
    CB_CHECK_STR(m.stop_reason, "noise");
    CB_CHECK(s.syncs >= m.nsamples);  // once per sample (plus warm-up)
    CB_CHECK(s.launches >= 2 + m.nsamples * m.iters_per_sample);
    cb_measure_free(&m);
}

static void test_measure_stop_rules(void)
{
    struct spin s = {.ns = 100000};
    struct cb_launcher l = {spin_launch, NULL, &s, NULL, NULL};
    struct cb_bench_opts o;
    struct cb_measure m;
    // Noise can never be low enough: stops on time with >= 3 samples.
    base_opts(&o);
    o.max_noise = 0;
    o.max_time_s = 0.1;
    o.max_samples = 100000;
    CB_CHECK(cb_measure_run(&o, &l, &m) == CB_OK);
    CB_CHECK_STR(m.stop_reason, "time");
    CB_CHECK(m.nsamples >= 3);
    CB_CHECK(m.measured_s < 0.5);
    cb_measure_free(&m);
    // The sample cap.
    o.max_time_s = 100;
    o.max_samples = 7;
    CB_CHECK(cb_measure_run(&o, &l, &m) == CB_OK);
    CB_CHECK_STR(m.stop_reason, "max_samples");
    CB_CHECK(m.nsamples == 7);
    cb_measure_free(&m);
    // A slow launch still gives 3 samples even when the budget is tiny.
    s.ns = 20000000;  // 20 ms
    o.max_samples = 200;
    o.max_time_s = 0.001;
    o.min_time_s = 0;
    CB_CHECK(cb_measure_run(&o, &l, &m) == CB_OK);
    CB_CHECK(m.nsamples == 3);
    CB_CHECK(m.iters_per_sample == 1);
    cb_measure_free(&m);
}

static void test_measure_errors_and_interrupt(void)
{
    struct spin s = {.ns = 1000, .fail_at = 5000};
    struct cb_launcher l = {spin_launch, NULL, &s, NULL, NULL};
    struct cb_bench_opts o;
    struct cb_measure m;
    base_opts(&o);
    o.max_noise = 0;
    CB_CHECK(cb_measure_run(&o, &l, &m) == CB_ERR_BACKEND);
    CB_CHECK(strstr(cb_error_msg(), "synthetic failure") != NULL);
    cb_measure_free(&m);
    s.fail_at = 0;
    cb_interrupted = 1;
    CB_CHECK(cb_measure_run(&o, &l, &m) == CB_ERR_INTERRUPTED);
    CB_CHECK_STR(m.stop_reason, "interrupted");
    cb_interrupted = 0;
    cb_measure_free(&m);
}

// The agree hook (MPI collectives, cb_bench.h) as a fake second rank that is
// 10x slower and, later, interrupted: every decision must use its numbers.
struct remote {
    struct spin spin;
    int calls, interrupt_after;
};

static enum cb_status remote_agree(void *ctx, double *v, int n)
{
    struct remote *r = ctx;
    r->calls++;
    if (n == 1)  // the interrupt flag
        v[0] = r->interrupt_after && r->calls > r->interrupt_after ? 1 : v[0];
    else if (n == 2 && v[1] >= v[0] && v[0] > 100)  // times: the other rank is 10x slower
        v[0] *= 10, v[1] *= 10;
    return CB_OK;
}

static enum cb_status remote_launch(void *ctx, int64_t i)
{
    return spin_launch(&((struct remote *)ctx)->spin, i);
}

static void test_measure_agree(void)
{
    struct remote r = {.spin = {.ns = 100000}};
    struct cb_launcher l = {remote_launch, NULL, &r, NULL, remote_agree};
    struct cb_bench_opts o;
    struct cb_measure m;
    base_opts(&o);
    CB_CHECK(cb_measure_run(&o, &l, &m) == CB_OK);
    // Samples are the slower rank's: >= 10 x the local 100 us spin.
    CB_CHECK_MSG(m.st.min >= 1000000, "min %.0f ns", m.st.min);
    // Calibrated on the agreed (slow) launch: 5 ms / 1 ms = 5 launches, not 50.
    CB_CHECK_MSG(m.iters_per_sample <= 6, "iters %lld", (long long)m.iters_per_sample);
    CB_CHECK(r.calls > 2 * m.nsamples);  // interrupt flag and times, every sample
    cb_measure_free(&m);
    // An interrupt on the other rank alone stops this one, and raises the
    // flag here so the loop over rows stops as well.
    r.calls = 0;
    r.interrupt_after = 5;
    CB_CHECK(cb_measure_run(&o, &l, &m) == CB_ERR_INTERRUPTED);
    CB_CHECK_STR(m.stop_reason, "interrupted");
    CB_CHECK(cb_interrupted == 1);
    cb_interrupted = 0;
    cb_measure_free(&m);
}

// The full row path: a real kernel, verification, rotation and statistics.
// Peak RSS per row: the composed attention baseline materializes an Lq x Lk
// score matrix (16 MiB at L = 2048) that the one-row reference never holds.
static void test_peak_rss(void)
{
    const struct cb_kernel *ref = cb_registry_find("attn_f32_ref");
    const struct cb_kernel *blas = cb_registry_find("attn_f32_openblas");
    if (!blas || cb_kernel_usable(blas) != CB_OK)
        CB_SKIP("no OpenBLAS attention baseline here");
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        CB_SKIP("no /proc/self/clear_refs: peak RSS cannot be reset");
    fclose(f);
    struct cb_call shape = {.op = CB_OP_ATTN};
    shape.u.attn = (struct cb_attn_args){.batch = 1, .heads = 1, .kv_heads = 1, .seq_q = 2048,
                                         .seq_kv = 2048, .head_dim = 8};
    struct cb_bench_opts o;
    struct cb_result a, b;
    base_opts(&o);
    o.rotate = 0;
    CB_CHECK(cb_bench_row(ref, &shape, 1, &o, &a) == CB_OK);
    CB_CHECK(cb_bench_row(blas, &shape, 1, &o, &b) == CB_OK);
    CB_CHECK(a.peak_rss_bytes > 0 && b.peak_rss_bytes > 0);
    CB_CHECK_MSG(b.peak_rss_bytes - a.peak_rss_bytes > 0.9 * 2048.0 * 2048 * 4,
                 "peak RSS ref %.0f, composed %.0f", a.peak_rss_bytes, b.peak_rss_bytes);
    cb_result_free(&a);
    cb_result_free(&b);
}

static void test_bench_row(void)
{
    const struct cb_kernel *k = cb_registry_find("gemm_f32_ref");
    struct cb_call shape = {.op = CB_OP_GEMM};
    shape.u.gemm = (struct cb_gemm_args){.m = 64, .n = 48, .k = 40, .lda = 40, .ldb = 48,
                                         .ldc = 48, .alpha = 1};
    struct cb_bench_opts o;
    struct cb_result r;
    base_opts(&o);
    CB_CHECK(cb_bench_row(k, &shape, 1, &o, &r) == CB_OK);
    CB_CHECK(r.max_rel_err <= r.tolerance);
    CB_CHECK(r.buffers > 1);  // 33 KiB per set: rotated to defeat the cache
    CB_CHECK_STR(r.cache_mode, "rotate");
    CB_CHECK_NEAR(r.flops, 2.0 * 64 * 48 * 40, 0);
    CB_CHECK(r.gflops > 0 && isfinite(r.gflops));
    CB_CHECK(r.m.nsamples >= 3 && r.m.samples_ns);
    CB_CHECK_MSG(strstr(r.note, "before timing") == NULL, "%.300s", r.note);  // well under 5 s
    cb_result_free(&r);
    // The host's seconds before timing, noted past the threshold (0 here).
    setenv("CHIPBENCH_HOST_NOTE_S", "0", 1);
    CB_CHECK(cb_bench_row(k, &shape, 1, &o, &r) == CB_OK);
    CB_CHECK_MSG(strstr(r.note, "host ") && strstr(r.note, "s before timing: set-up ") &&
                     strstr(r.note, "float64 check "),
                 "%.300s", r.note);
    cb_result_free(&r);
    unsetenv("CHIPBENCH_HOST_NOTE_S");
    // Too many threads for a single-threaded kernel: a visible skip.
    CB_CHECK(cb_bench_row(k, &shape, 2, &o, &r) == CB_ERR_UNSUPPORTED);
    CB_CHECK(strstr(r.note, "at most 1 thread") != NULL);
    CB_CHECK_STR(cb_result_status_word(r.status), "skipped");
    cb_result_free(&r);
    // A malformed shape is an error with a reason, not a crash.
    shape.u.gemm.ldc = 10;
    CB_CHECK(cb_bench_row(k, &shape, 1, &o, &r) == CB_ERR_INVALID_ARG);
    CB_CHECK(strstr(r.note, "leading dimensions") != NULL);
    cb_result_free(&r);
    // hot mode: one buffer set.
    shape.u.gemm.ldc = 48;
    o.rotate = 0;
    CB_CHECK(cb_bench_row(k, &shape, 1, &o, &r) == CB_OK);
    CB_CHECK(r.buffers == 1);
    CB_CHECK_STR(r.cache_mode, "hot");
    cb_result_free(&r);
}

// run --rounds: later rounds skip the float64 check (same inputs as round
// 1), and each is folded into the row: samples appended, statistics over
// all of them, each round's median kept, energy summed, a failed round
// failing the row.
static void test_rounds_merge(void)
{
    const struct cb_kernel *k = cb_registry_find("gemm_f32_ref");
    struct cb_call shape = {.op = CB_OP_GEMM};
    shape.u.gemm = (struct cb_gemm_args){.m = 33, .n = 17, .k = 9, .lda = 9, .ldb = 17,
                                         .ldc = 17, .alpha = 1};
    struct cb_bench_opts o;
    struct cb_result r, next;
    base_opts(&o);
    CB_CHECK(cb_bench_row(k, &shape, 1, &o, &r) == CB_OK);
    CB_CHECK(r.rounds == 1 && r.round_ns[0] == r.m.st.median);
    CB_CHECK(isfinite(r.max_rel_err));
    o.verified = 1;
    CB_CHECK(cb_bench_row(k, &shape, 1, &o, &next) == CB_OK);
    CB_CHECK(isnan(next.max_rel_err));  // no check ran
    const int n1 = r.m.nsamples, n2 = next.m.nsamples;
    const double med2 = next.m.st.median, first = r.m.samples_ns[0];
    const double last = next.m.samples_ns[n2 - 1];
    // Energy: pretend both rounds read a counter.
    snprintf(r.m.power.source, sizeof r.m.power.source, "fake");
    r.m.power.quality = next.m.power.quality = CB_POWER_MEASURED;
    r.m.power.joules = 2, r.m.power.seconds = 1, r.m.power_calls = 10;
    next.m.power.joules = 4, next.m.power.seconds = 3, next.m.power_calls = 30;
    CB_CHECK(cb_result_add_round(&r, &next) == CB_OK);
    CB_CHECK(next.m.samples_ns == NULL);
    CB_CHECK(r.rounds == 2 && r.round_ns[1] == med2);
    CB_CHECK(r.m.nsamples == n1 + n2);
    CB_CHECK(r.m.samples_ns[0] == first && r.m.samples_ns[n1 + n2 - 1] == last);
    CB_CHECK_NEAR(r.m.st.median, cb_median(r.m.samples_ns, r.m.nsamples), 0);
    CB_CHECK_NEAR(r.gflops, r.flops / r.m.st.median, 1e-9 * r.gflops);
    CB_CHECK(isfinite(r.max_rel_err));  // round 1's check stays
    CB_CHECK_NEAR(r.m.power.joules, 6, 0);
    CB_CHECK_NEAR(r.m.power.watts, 1.5, 1e-12);
    CB_CHECK(r.m.power_calls == 40);
    // A round that failed fails the row, and says which round.
    memset(&next, 0, sizeof next);
    next.status = CB_ERR_VERIFY;
    snprintf(next.note, sizeof next.note, "C[3] differs");
    CB_CHECK(cb_result_add_round(&r, &next) == CB_OK);
    CB_CHECK(r.status == CB_ERR_VERIFY && r.m.nsamples == 0 && r.m.samples_ns == NULL);
    CB_CHECK_MSG(strstr(r.note, "round 3") && strstr(r.note, "C[3] differs"), "%.200s", r.note);
    cb_result_free(&r);
}

int main(void)
{
    CB_RUN(test_error_wrapping);
    CB_RUN(test_peak_rss);
    CB_RUN(test_stats_known);
    CB_RUN(test_stats_ci_ranks);
    CB_RUN(test_stats_rejects);
    CB_RUN(test_measure_known_spin);
    CB_RUN(test_measure_stop_rules);
    CB_RUN(test_measure_errors_and_interrupt);
    CB_RUN(test_measure_agree);
    CB_RUN(test_bench_row);
    CB_RUN(test_rounds_merge);
    return CB_TEST_END("test_harness");
}
