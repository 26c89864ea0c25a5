// cb_bench.h: the harness. It owns the loop: for one (kernel, shape, threads)
// it plans, verifies against a float64 reference, warms up, calibrates
// iterations per sample and samples until the noise is low enough or the time
// budget is spent. Benchmarks (one per op, harness/bench_<op>.c) only set up
// data, declare work and hand over buffers; kernels only compute.
#ifndef CHIPBENCH_CB_BENCH_H
#define CHIPBENCH_CB_BENCH_H

#include <stdint.h>
#include "cb_kernel.h"
#include "cb_power.h"
#include "cb_stats.h"
#include "cb_util.h"

struct cb_bench_opts {
    double warmup_s;     // untimed warm-up, at least 2 launches (default 0.1)
    double min_time_s;   // measured time before a noise stop is allowed (0.5)
    double max_time_s;   // sampling budget per row (10)
    double max_noise;    // stop when stddev/mean <= this (0.01)
    int min_samples;     // before a noise stop (10)
    int max_samples;     // hard cap, also bounds samples_ns size (200)
    int rotate;          // 1: rotate buffer copies so data is not cache-hot
    uint64_t seed;       // input data seed (recorded in the CSV)
    const char *device;  // --device text or NULL
    struct cb_power_opts power;  // energy of the timed samples (cb_power.h)
    // 1 in the later rounds of `run --rounds`: the same kernel, shape, threads
    // and seed (so the same inputs) passed the float64 check in round 1 of
    // this run, and the check (seconds to minutes for large attention
    // shapes) is not repeated.
    int verified;
};
void cb_bench_opts_default(struct cb_bench_opts *o);

// A timed unit: launch(ctx, i) runs the i-th launch; sync(ctx), if set, waits
// for asynchronous work and is called once at the end of every sample.
// power, if set, is started when the timed samples start and stopped when
// they end; the samples then last at least its minimum window.
// agree, if set, makes the processes of a collective (MPI ranks) take the
// same decisions: it replaces v[0..n-1] by their maximum over the processes
// and is called with every time and interrupt flag a decision (warm-up
// length, launches per sample, when to stop) is taken on, outside the timed
// intervals. Ranks that decided differently would wait forever in the
// collective.
struct cb_launcher {
    enum cb_status (*launch)(void *ctx, int64_t i);
    enum cb_status (*sync)(void *ctx);
    void *ctx;
    struct cb_power *power;
    enum cb_status (*agree)(void *ctx, double *v, int n);
};

// What the sampling loop measured.
struct cb_measure {
    int64_t iters_per_sample;
    int nsamples;
    double *samples_ns;   // per-call ns of each sample, owned (cb_free)
    struct cb_stats st;   // over samples_ns
    const char *stop_reason;  // "noise", "time", "max_samples", "interrupted"
    double measured_s;    // total time inside samples
    struct cb_power_result power;  // energy of the timed window
    int64_t power_calls;  // launches inside that window (samples and padding)
};

// Warm-up, calibration and sampling (steps 2-4 above). Pure with respect to
// the launcher: the harness tests drive it with synthetic launchers.
enum cb_status cb_measure_run(const struct cb_bench_opts *o, const struct cb_launcher *l,
                              struct cb_measure *m);
void cb_measure_free(struct cb_measure *m);

#define CB_MAX_ROUNDS 100

// One result row (everything the CSV needs besides the run context).
struct cb_result {
    const struct cb_kernel *kernel;
    struct cb_call shape;       // data pointers are NULL
    int threads;
    enum cb_status status;      // CB_OK; CB_ERR_UNSUPPORTED = skipped; else failed
    char note[512];
    char cache_mode[16];        // "rotate", "cold" (working set > 2x LLC), "hot"
    int buffers;                // buffer sets rotated through
    double working_set_bytes;   // buffers x bytes of one set
    double flops, bytes;        // declared per call
    double max_rel_err, tolerance;  // verification; NAN if not verified
    struct cb_measure m;        // empty unless status == CB_OK
    char timestamp[32];         // UTC, ISO 8601, when the row finished
    double gflops, gbytes_per_s;  // from the median
    char device[160];           // device the row ran on (OpenCL), "" for the CPU
    char chip_class[160];       // "" = the CPU's chip class
    double device_time_ns;      // median device-side time per call (events); NAN if none
    double peak_rss_bytes;      // process peak resident memory during the row; 0 unknown
    char pci_bus[32];           // device's PCI address (power attribution), "" if none
    // run --rounds: the row is measured in `rounds` separate rounds,
    // interleaved with the other kernels of the same shape and threads; m
    // holds every round's samples, round_ns each round's own median.
    int rounds;
    double round_ns[CB_MAX_ROUNDS];
};
void cb_result_free(struct cb_result *r);

// Fold the next round of the same row into r: samples appended, statistics,
// GFLOP/s, energy and peak memory over all rounds so far. `next` is emptied.
// A round that failed makes r that failure (its note says which round).
enum cb_status cb_result_add_round(struct cb_result *r, struct cb_result *next);

// Status word for the CSV: "ok", "skipped", "verify_failed", "error".
const char *cb_result_status_word(enum cb_status s);

// Run one row. Always fills r (status and note explain any failure); the
// return value is r->status.
enum cb_status cb_bench_row(const struct cb_kernel *k, const struct cb_call *shape,
                            int threads, const struct cb_bench_opts *o, struct cb_result *r);

// Set by the SIGINT/SIGTERM handler; the sampling loop stops at the next
// sample and the row is reported as interrupted (not written).
extern volatile int cb_interrupted;

// Per-op benchmark: data set-up and the float64 check (data is the op's own
// private struct). The harness calls these; see harness/bench_gemm.c and harness/bench_attn.c.
struct cb_bench {
    enum cb_op op;
    // Validate a shape (positive sizes, ld >= width, heads % kv_heads == 0).
    enum cb_status (*check_shape)(const struct cb_call *shape);
    // Bytes one buffer set occupies (inputs + outputs).
    double (*set_bytes)(const struct cb_call *shape, enum cb_dtype d);
    // Allocate nbuf buffer sets, fill inputs with uniform random data.
    enum cb_status (*setup)(const struct cb_call *shape, enum cb_dtype d, int nbuf,
                            struct cb_rng *rng, void **out);
    // The call for buffer set i (pointers filled in).
    const struct cb_call *(*call)(void *data, int i);
    // Poison outputs of set i (NaN) before the verification launch.
    void (*poison)(void *data, int i);
    // Compare outputs of set i against a float64 reference; every element
    // must be written and finite. Sets max_err/tol; CB_ERR_VERIFY on failure
    // with the first bad element in the message.
    enum cb_status (*verify)(void *data, int i, double *max_err, double *tol);
    void (*teardown)(void *data);
    // Optional: set for collectives over several processes (MPI). The
    // launcher's agree hook (above) calls it; such processes are placed by
    // their launcher (mpirun --bind-to), so the harness does not pin them.
    enum cb_status (*agree)(double *v, int n);
};
const struct cb_bench *cb_bench_for(enum cb_op op);

#endif
