// cl_operand.h: a GEMM operand on an OpenCL device as our GEMM kernels take
// it (private to kernels/opencl): the user's buffer, or a zero-padded (and
// optionally transposed) copy that pad.cl makes on the device inside every
// timed call, so awkward shapes pay for themselves; plus the argument list
// all our GEMM kernels share.
#ifndef CHIPBENCH_CL_OPERAND_H
#define CHIPBENCH_CL_OPERAND_H

#include "chipbench/cb_kernel.h"
#include "clrt.h"

struct cb_cl_operand {
    cl_mem user;        // user layout, uploaded by the plan
    cl_mem padded;      // NULL when the user buffer is used directly
    cl_kernel pad;      // the pad kernel bound to user -> padded
    size_t pad_gws[2];
    int ld;             // leading dimension the GEMM kernel reads
};

// Bind pad.cl's `kname` (pad_copy, pad_copy_h, pad_copy_hf, pad_copy_u16) to
// copy the user's matrix, stored (rows, cols) with stride ld, into a new
// (prow, pcol) buffer of `elem`-byte elements, transposed when trans (rows
// and cols are then those of the destination's orientation, swapped).
enum cb_status cb_cl_operand_pad(struct cb_clrt *rt, struct cb_cl_operand *o, cl_program padp,
                                 const char *kname, size_t elem, int rows, int cols, int ld,
                                 int trans, int prow, int pcol);

void cb_cl_operand_free(struct cb_cl_operand *o);

// Enqueue the pad copies of the n operands that have one, their events
// recorded in t (the call's device time includes them).
enum cb_status cb_cl_operands_pad(struct cb_clrt *rt, struct cb_cl_timing *t,
                                  struct cb_cl_operand *const *ops, int n);

// The part of a GEMM plan that run, readback and release share; the plans
// of gemm_opencl.c and gemm_mma_opencl.c start with it.
struct cb_cl_gemm_plan {
    struct cb_cl_plan base;  // first: the shared plan callbacks use it
    struct cb_cl_operand a, b;
    cl_mem c;
    cl_kernel gemm;
    size_t gws[2], lws[2];
};

// run: the pad copies, then the GEMM kernel, all in the call's device time.
enum cb_status cb_cl_gemm_run(void *plan, const struct cb_call *call);
// readback: C into the call's host C (rows with stride ldc, padding kept).
enum cb_status cb_cl_gemm_readback(void *plan, const struct cb_call *call);
// plan_free of both GEMM plans (malloc'd blocks that start with the head).
void cb_cl_gemm_plan_free(void *plan);

// The arguments every GEMM kernel here takes: (M, N, K, alpha, beta, A, lda,
// B, ldb, C, ldc), A and B the padded copies where there are any.
enum cb_status cb_cl_gemm_args(cl_kernel k, int m, int n, int kdim, float alpha, float beta,
                               const struct cb_cl_operand *a, const struct cb_cl_operand *b,
                               cl_mem c, int ldc);

#endif
