// cl_attn.h: tuning hooks of the OpenCL attention forward (attn_f32_opencl),
// private to kernels/opencl, the tuner and the tests. A parameter set reads
// "BQ=32,BK=32,TX=16,RQ=4,PAD=4" (the rows variant, attn_flash.cl's defines)
// or "tiles:BQ=64,BK=128,TK=8,TV=8,RM=8,RS=8,PAD=4" (attn_flash_tiles.cl):
// keys not given keep the variant's default. That is also the format of its
// tuning-file entries and of CHIPBENCH_CL_ATTN. Entries are keyed by head dim
// ("d128"): D decides the register and local-memory footprint, the sequence
// length only how many work-groups there are.
#ifndef CHIPBENCH_CL_ATTN_H
#define CHIPBENCH_CL_ATTN_H

#include <stddef.h>

#include "chipbench/cb_kernel.h"
#include "chipbench/cb_status.h"
#include "clrt.h"

// The head of every attention-forward plan (attn_opencl.c, attn_mma_opencl.c):
// the device buffers and the kernel, which all take the same arguments
// (Q, K, V, O, LSE, BH, H, GROUP, Lq, Lk, scale*log2(e), causal) and one
// work-group per (query block, batch x head). run, readback and release are
// shared; the kernel's build is each plan's own.
struct cb_cl_attn_fwd {
    struct cb_cl_plan base;  // first: the shared plan callbacks use it
    cl_mem q, k, v, o, lse;
    cl_kernel kern;
    size_t gws, lws;
};
// Upload Q, K, V (elem-byte elements) and make O and lse, poisoned with NaN.
enum cb_status cb_cl_attn_fwd_buffers(struct cb_cl_attn_fwd *f, const struct cb_attn_args *a,
                                      size_t elem);
// Bind the arguments to f->kern, size the launch (bq query rows and lws
// work-items a group) and wait for the uploads.
enum cb_status cb_cl_attn_fwd_args(struct cb_cl_attn_fwd *f, const struct cb_attn_args *a,
                                   int bq, size_t lws);
enum cb_status cb_cl_attn_fwd_run(void *plan, const struct cb_call *call);
enum cb_status cb_cl_attn_fwd_readback(void *plan, const struct cb_call *call);
void cb_cl_attn_fwd_release(struct cb_cl_attn_fwd *f);

// The head of every attention-backward plan (attn_bwd_opencl.c,
// attn_bwd_mma_opencl.c): two kernels, dQ (which also writes Di =
// rowsum(dO * O)) then dK/dV, taking (Q, K, V, O, dO, LSE, Di, dQ, ...) and
// (Q, K, V, dO, LSE, Di, dK, dV, ...), each followed by (BH or BHKV, H,
// GROUP, Lq, Lk, scale, causal); one work-group per (query block, batch x
// head) and per (key block, batch x kv head).
struct cb_cl_attn_bwd {
    struct cb_cl_plan base;  // first: the shared plan callbacks use it
    cl_mem q, k, v, o, lse, dout, di, dq, dk, dv;
    cl_kernel kdq, kdkdv;
    size_t gws_dq, lws_dq, gws_dkdv, lws_dkdv;
};
// Upload Q, K, V, dO (elem-byte elements), O and lse (f32); make Di, dQ,
// dK, dV, poisoned with NaN.
enum cb_status cb_cl_attn_bwd_buffers(struct cb_cl_attn_bwd *f, const struct cb_attn_bwd_args *ba,
                                      size_t elem);
// Bind both kernels' arguments and size the launches: qbq query rows and
// qnt work-items a dQ group, bkv keys and nt work-items a dK/dV group.
enum cb_status cb_cl_attn_bwd_args(struct cb_cl_attn_bwd *f, const struct cb_attn_args *a,
                                   int qbq, size_t qnt, int bkv, size_t nt);
enum cb_status cb_cl_attn_bwd_run(void *plan, const struct cb_call *call);
enum cb_status cb_cl_attn_bwd_readback(void *plan, const struct cb_call *call);
void cb_cl_attn_bwd_release(struct cb_cl_attn_bwd *f);

// Force a parameter set for every following plan (NULL: back to the tuning
// file and defaults). CB_ERR_PARSE when the text is not a valid set.
enum cb_status cb_cl_attn_force(const char *params);

// Does the set fit the device at head dim d (work-group size, local
// memory)? CB_ERR_UNSUPPORTED with the reason, CB_ERR_PARSE on bad text.
enum cb_status cb_cl_attn_params_fit(const struct cb_clrt *rt, const char *params, int d);

// The parameter text attn_f32_opencl uses on rt at head dim d when nothing
// is forced or tuned: on GPUs the first built-in tiles set that fits, else
// the device type's rows default adapted to d. Reads only rt->info (type,
// local memory, work-group limit), so a test can pass a made-up device.
// CB_ERR_UNSUPPORTED (with buf still filled) when not even that fits.
enum cb_status cb_cl_attn_default(const struct cb_clrt *rt, int d, char *buf, size_t len);

// The tuning file's shape class for head dim d: "d<d>".
void cb_cl_attn_shape_class(int head_dim, char *buf, size_t len);

#endif
