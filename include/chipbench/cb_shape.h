// cb_shape.h: shape text (the --shape syntax and the suites' shape lists).
//
// GEMM:      MxNxK[:nn|nt|tn|tt][,lda=L][,ldb=L][,ldc=L][,alpha=A][,beta=B]
//            e.g. 1024x1024x1024, 512x3072x768:nt, 65x7x63,ldc=80,beta=0.5
// Attention: key=value list with b (batch, 1), h (heads), kvh (kv heads, = h),
//            s (sets sq and skv) or sq/skv, d (head dim), causal (0/1, 0),
//            scale (0 = 1/sqrt(d)); e.g. b=1,h=8,kvh=2,s=1024,d=64,causal=1
// Stream:    stream:n=N, the STREAM triad over N floats (e.g. stream:n=67108864)
// Allreduce: allreduce:bytes=N, N bytes per rank (multiple of 4, K/M/G binary
//            suffixes, at most 1G), e.g. allreduce:bytes=4M
// Leading dimensions default to the tight width.
#ifndef CHIPBENCH_CB_SHAPE_H
#define CHIPBENCH_CB_SHAPE_H

#include <stddef.h>
#include "cb_kernel.h"

enum cb_status cb_shape_parse(const char *text, struct cb_call *out);
// Canonical text of a shape, parseable by cb_shape_parse.
void cb_shape_format(const struct cb_call *c, char *buf, size_t len);

// A named set of shapes with the sampling defaults that keep it in budget.
struct cb_suite {
    const char *name;
    const char *desc;
    const char *const *shapes;  // NULL-terminated
    double min_time_s, max_time_s, max_noise;
    // Single-threaded reference kernels are skipped (with a visible note)
    // above this many flops per call, or they would dominate the run.
    double ref_max_flops;
};
const struct cb_suite *cb_suite_find(const char *name);
// NULL-name-terminated list of suites.
const struct cb_suite *cb_suites(void);

#endif
