// cl_mma.h: what the matrix-unit kernels (gemm_mma_opencl.c,
// attn_mma_opencl.c) share, private to kernels/opencl: whether a device may
// run them, and the emulation test hook.
#ifndef CHIPBENCH_CL_MMA_H
#define CHIPBENCH_CL_MMA_H

#include "clrt.h"

// CHIPBENCH_CL_MMA=emulate: build the kernels with the PTX instructions
// written out (MMA_EMULATE=1), so they run, slowly, on any OpenCL device.
int cb_cl_mma_emulate(void);

// `available` of the matrix-unit kernels: some OpenCL device is NVIDIA's
// with compute capability 8.0+ (or the emulation is on).
enum cb_status cb_cl_mma_available(void);

// Can rt run them: NVIDIA's platform, 8.0+, and the GEMM self-test for the
// input type (bf16, or tf32 when tf32) passing, run once per device and
// remembered (its failure is the reason in every later row).
enum cb_status cb_cl_mma_device_ok(struct cb_clrt *rt, int tf32);

// Build a matrix-unit kernel's source with mma_common.cl (the mma
// instruction, the warp shuffle, their emulation) in front of it; otherwise
// as cb_clrt_program (cached by name and options).
enum cb_status cb_cl_mma_program(struct cb_clrt *rt, const char *name, const char *src,
                                 const char *opts, cl_program *prog);

// Force a parameter set ("WM=64,WN=64,LDM=1,CPA=0") for every following
// matrix-unit GEMM plan (NULL: back to CHIPBENCH_CL_MMA_GEMM, the tuning
// file, the default): the tuner's hook. CB_ERR_PARSE on a bad set.
enum cb_status cb_cl_mma_gemm_force(const char *text);

#endif
