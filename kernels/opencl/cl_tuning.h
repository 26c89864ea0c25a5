// cl_tuning.h: the OpenCL tuning file. Entries are keyed by device (vendor,
// name, driver version), kernel and shape class, and hold a parameter text
// (cl_gemm.h for GEMM). `chipbench tune` writes them; plans read them.
//
// File format (CSV with a header, RFC 4180 quoting):
//   vendor,device,driver,kernel,shape_class,params,gflops,tuned_utc
// Lookup order: the user's file (cb_tune_default_path: $CHIPBENCH_TUNING,
// else the per-user cache file `tune` writes), then the shipped entries
// embedded in the binary (results/tuning/opencl.csv at build time). A
// device with no entry gets the kernel's defaults for its device type.
#ifndef CHIPBENCH_CL_TUNING_H
#define CHIPBENCH_CL_TUNING_H

#include <stddef.h>
#include "chipbench/cb_status.h"

struct cb_ocl_device;

struct cb_cl_tuning_entry {
    char vendor[128], device[256], driver[128];
    char kernel[64], shape_class[16], params[160];
    double gflops;
    char tuned_utc[32];
};

// Find the entry for (device, kernel, shape class). CB_OK with params and
// *source ("$CHIPBENCH_TUNING" path or "built-in") filled, or
// CB_ERR_UNSUPPORTED when there is none (not an error: defaults apply). A
// malformed file is CB_ERR_PARSE naming the file and line.
enum cb_status cb_cl_tuning_lookup(const struct cb_ocl_device *d, const char *kernel,
                                   const char *shape_class, char *params, size_t len,
                                   const char **source);

// The entry for (device, kernel, shape class) in tuning-file text already in
// memory (what names it in messages): CB_OK, CB_ERR_UNSUPPORTED when there is
// none, CB_ERR_PARSE when the text is not a tuning file. The lookup's core,
// and the fuzz target's entry point.
enum cb_status cb_cl_tuning_find(const char *text, size_t n, const char *what,
                                 const struct cb_ocl_device *d, const char *kernel,
                                 const char *shape_class, char *params, size_t len);

// Merge entries into the file at path (replacing those with the same key),
// written atomically. The file is created with its header if missing.
enum cb_status cb_cl_tuning_save(const char *path, const struct cb_cl_tuning_entry *e, int n);

// The shipped entries (generated from results/tuning/opencl.csv).
extern const char cb_cl_src_tuning_builtin[];

#endif
