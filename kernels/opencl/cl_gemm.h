// cl_gemm.h: parameters of the OpenCL GEMM kernels (private to
// kernels/opencl, the tuner and the tests). A parameter set names a variant
// and its build-time defines; as text it reads
//   "tiled:TM=128,TN=128,TK=8,RM=8,RN=8,LPAD=4,WX=0" (gemm_tiled.cl, GPUs)
//   "reg:MR=8,VW=16,NV=3,LX=1,LY=16"               (gemm_reg.cl, CPU devices)
// which is also the format of the tuning file and of CHIPBENCH_CL_GEMM.
#ifndef CHIPBENCH_CL_GEMM_H
#define CHIPBENCH_CL_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "chipbench/cb_kernel.h"
#include "chipbench/cb_status.h"

enum cb_cl_gemm_variant { CB_CL_GEMM_TILED, CB_CL_GEMM_REG };

struct cb_cl_gemm_params {
    enum cb_cl_gemm_variant variant;
    int tm, tn, tk, rm, rn, lpad, wx;  // tiled
    int mr, vw, nv, lx, ly;        // reg
};

// Text form <-> struct. Parse fills defaults for keys not given and rejects
// unknown keys and values that break the kernel's constraints.
enum cb_status cb_cl_gemm_params_parse(const char *text, struct cb_cl_gemm_params *p);
void cb_cl_gemm_params_str(const struct cb_cl_gemm_params *p, char *buf, size_t len);

// Shape class the tuning file keys GEMM entries by: "s", "m" or "l" from the
// geometric mean of m, n and k (<= 256, <= 1536, larger).
const char *cb_cl_gemm_shape_class(const struct cb_gemm_args *g);

// Force a parameter set for every following plan (NULL: back to tuning file
// and defaults). Used by the tuner; CHIPBENCH_CL_GEMM does the same.
void cb_cl_gemm_force(const struct cb_cl_gemm_params *p);

// Device fit of a parameter set: work-group size and local memory within the
// device's limits. CB_ERR_UNSUPPORTED with the reason otherwise.
struct cb_clrt;
enum cb_status cb_cl_gemm_fits(const struct cb_clrt *rt, const struct cb_cl_gemm_params *p);

#endif
