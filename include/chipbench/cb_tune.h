// cb_tune.h: the OpenCL autotuner behind `chipbench tune`. For each shape
// class (GEMM: s, m, l by size; attention: d<head dim>) it searches the
// kernel's parameter space on one device within
// a time budget, verifies every candidate against the float64 reference
// (the harness's cb_bench_row: a candidate that fails is dropped, never
// timed), and saves the fastest per class to the tuning file that `run`
// reads. Without OpenCL every entry point is CB_ERR_UNSUPPORTED.
#ifndef CHIPBENCH_CB_TUNE_H
#define CHIPBENCH_CB_TUNE_H

#include <stddef.h>
#include "cb_kernel.h"
#include "cb_status.h"

struct cb_tune_opts {
    const char *device;            // --device (NULL: default device)
    const char *out;               // tuning file (NULL: cb_tune_default_path)
    const char *gemm_kernel;       // GEMM kernel tuned: gemm_f32_opencl (NULL), or the
                                   // matrix-unit gemm_bf16_opencl / gemm_tf32_opencl
    double budget_s;               // whole search, all classes (> 0)
    const struct cb_call *shapes;  // representative shapes; NULL = defaults
    int nshapes;                   // for the device type, one per class
    // Progress lines ("class l 2048x2048x2048: 12/90 ..."), may be NULL.
    void (*progress)(void *ctx, const char *line);
    void *progress_ctx;
};

// One winner per shape class, filled by cb_tune_gemm.
struct cb_tune_result {
    char shape_class[16], shape[64], params[160];
    double gflops, default_gflops;   // the winner and the untuned default
    int tried, failed;               // candidates timed / rejected
};

// Tune gemm_f32_opencl (or opts->gemm_kernel; GEMM shapes) or attn_f32_opencl (attention shapes;
// defaults D=64 and D=128). *results (malloc'd, free()) gets one entry per
// class; the file at opts->out (or the default path) is updated atomically.
enum cb_status cb_tune_gemm(const struct cb_tune_opts *o, struct cb_tune_result **results,
                            int *nresults, char *written_path, size_t path_len);
enum cb_status cb_tune_attn(const struct cb_tune_opts *o, struct cb_tune_result **results,
                            int *nresults, char *written_path, size_t path_len);

// Where `tune` writes and `run` looks by default: $CHIPBENCH_TUNING, else
// $XDG_CACHE_HOME/chipbench/opencl-tuning.csv, else
// $HOME/.cache/chipbench/opencl-tuning.csv. CB_ERR_UNSUPPORTED when none
// of these can be formed.
enum cb_status cb_tune_default_path(char *buf, size_t len);

#endif
