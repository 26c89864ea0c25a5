// cl_params.h: the "KEY=int,KEY=int,..." parameter lists of the OpenCL
// kernels' host sides (private to kernels/opencl): CHIPBENCH_CL_ATTN,
// CHIPBENCH_CL_ATTN_BWD and the part after "variant:" of a GEMM parameter
// set (CHIPBENCH_CL_GEMM, the tuning file). Each kernel keeps its own keys,
// defaults and constraint checks; this is the text handling they share, plus
// the shape checks the two attention plans (forward, backward) share.
#ifndef CHIPBENCH_CL_PARAMS_H
#define CHIPBENCH_CL_PARAMS_H

#include <stddef.h>

#include "chipbench/cb_kernel.h"
#include "chipbench/cb_status.h"

// Parse list ("KEY=int,KEY=int,...", keys of up to 7 capital letters, may be
// empty) over the current values: *vals[i] takes the value given for
// keys[i], keys not given keep theirs. CB_ERR_PARSE on text that is not such
// a list or names a key not in keys; the message reads
// "<what>'<text>': ..." (text: the whole parameter text that holds list,
// what: a prefix such as "GEMM parameters " or "").
#define CB_CL_PARAM_MAX 4096  // largest value a KEY=int parameter may take
enum cb_status cb_cl_params_parse(const char *what, const char *text, const char *list,
                                  const char *const *keys, int *const *vals, int n);

// "KEY=int,KEY=int,..." of n keys and values into buf (len bytes).
void cb_cl_params_str(const char *const *keys, const int *const *vals, int n, char *buf,
                      size_t len);

// Re-raise the last error (cb_error_text()) as code, with a printf-formatted
// prefix: "<prefix>: <last error>".
enum cb_status cb_cl_error_wrap(enum cb_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// Plan checks of the OpenCL attention kernels, in this order: head_dim
// 1..max_d (CB_ERR_UNSUPPORTED), B, H, Hkv, Lq, Lk >= 1 with H % Hkv == 0
// (CB_ERR_INVALID_ARG), when need_lse an lse (CB_ERR_INVALID_ARG), and Q and
// K below 2^31 elements (CB_ERR_UNSUPPORTED: the kernels index rows with
// int). what names the kernel in messages ("OpenCL attention").
enum cb_status cb_cl_attn_check(const struct cb_attn_args *a, int max_d, int need_lse,
                                const char *what);

// The shape of a: a copy with the data pointers cleared (plans keep no
// pointers to the caller's buffers).
struct cb_attn_args cb_cl_attn_shape(const struct cb_attn_args *a);

#endif
