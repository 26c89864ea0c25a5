// clrt.h: the OpenCL runtime the OpenCL kernels share (private to
// kernels/opencl and the tests): one open device with its context and
// profiling queue, programs built from the embedded .cl sources with their
// build logs kept for errors, device buffers, and event timing.
//
// Not discovery (cl_info.c answers `info`), not kernels. One device is open
// at a time per process: the harness runs one row at a time, and reopening
// only happens when --device names another device.
#ifndef CHIPBENCH_CLRT_H
#define CHIPBENCH_CLRT_H

#include <stddef.h>
#include <stdint.h>
#include <CL/cl.h>

#include "chipbench/cb_ocl.h"
#include "chipbench/cb_stats.h"
#include "chipbench/cb_status.h"

struct cb_clrt {
    cl_platform_id platform;
    cl_device_id device;
    cl_context ctx;
    cl_command_queue queue;       // in order, CL_QUEUE_PROFILING_ENABLE
    struct cb_ocl_device info;    // names, limits, fp16/fp64
    char spec[128];               // the --device text it was opened for
    char label[300];              // "opencl:P:D <device name>" for CSV rows
    char chip_class[160];         // cb_ocl_chip_class of the device
};

// Name of an OpenCL error code ("CL_OUT_OF_RESOURCES"), never NULL.
const char *cb_cl_err_name(cl_int e);

// Records "<what>: <code> (<name>)" and returns CB_ERR_BACKEND, or
// CB_ERR_NO_MEMORY for the allocation failures.
enum cb_status cb_cl_fail(cl_int e, const char *what);

// Device selection. spec: NULL, "" or "opencl" = the first GPU, else the
// first accelerator, else the first device; "opencl:P:D" or "P:D" = platform
// P, device D; anything else = the first device whose name, vendor or
// platform name contains it (case-insensitive). CHIPBENCH_OPENCL_DEVICE
// stands in for a NULL spec. No platform or no match is CB_ERR_UNSUPPORTED
// with the reason (the row is skipped, the suite goes on).
enum cb_status cb_clrt_open(const char *spec, struct cb_clrt **out);

// Resolve a spec to (platform, device) indices without opening anything.
enum cb_status cb_clrt_resolve(const char *spec, const struct cb_ocl_device *devs, int n,
                               int *index);

// Build (or fetch from the per-device cache) `src` with `options`
// ("-D TM=64 ..."); `name` identifies the source in messages. A failed build
// is CB_ERR_UNSUPPORTED whose message carries the compiler's log (the tail, if
// long), and is remembered so a tuner does not rebuild a known-bad variant.
// The environment adds to every build: CHIPBENCH_CL_BUILD_OPTS (options
// appended, e.g. NVIDIA's -cl-nv-verbose) and CHIPBENCH_CL_BUILD_LOG=1 (a
// successful build's log on stderr, "[cl-build] name (options): log").
enum cb_status cb_clrt_program(struct cb_clrt *rt, const char *name, const char *src,
                               const char *options, cl_program *out);

// Kernel object from a built program (caller releases it).
enum cb_status cb_clrt_kernel(cl_program p, const char *name, cl_kernel *out);

// Device buffer of `bytes` (> 0); failure names the size and the device's
// limits (max single allocation, global memory).
enum cb_status cb_clrt_buffer(struct cb_clrt *rt, size_t bytes, cl_mem_flags flags,
                              cl_mem *out);

// Set kernel argument i from a value; keeps call sites to one line each.
enum cb_status cb_clrt_arg(cl_kernel k, cl_uint i, size_t size, const void *value);

// Device time between the start of `first` and the end of `last` (profiling
// counters), in ns; negative when the driver gives no profiling info.
double cb_clrt_event_span_ns(cl_event first, cl_event last);

// Per-call device timing of a plan: run() notes the first and last event of
// a call; finish() (after clFinish) records their span; the kernel's
// device_time_ns reports the median, leaving out the first (verification)
// call when timed ones exist.
struct cb_cl_timing {
    cl_event first, last;
    struct cb_call_times times;
};
void cb_cl_timing_begin(struct cb_cl_timing *t);            // release last call's events
void cb_cl_timing_event(struct cb_cl_timing *t, cl_event e); // takes ownership
enum cb_status cb_cl_timing_record(struct cb_cl_timing *t);
double cb_cl_timing_median(struct cb_cl_timing *t);
void cb_cl_timing_free(struct cb_cl_timing *t);

// The head every OpenCL kernel plan starts with (first member), so that one
// set of plan callbacks serves them all: finish (clFinish, then the call's
// device time is recorded), device_time_ns, where, and availability.
struct cb_cl_plan {
    struct cb_clrt *rt;
    struct cb_cl_timing t;
    char params[160];  // parameter text for the CSV's device column
    char origin[96];   // where the parameters came from; "" for libraries
};
enum cb_status cb_cl_plan_finish(void *plan);
double cb_cl_plan_device_ns(void *plan);
void cb_cl_plan_where(void *plan, char *device, int dlen, char *chip_class, int clen);
// The device's PCI address from cl_khr_pci_bus_info (or AMD's query), "" if none.
void cb_cl_plan_pci_bus(void *plan, char *buf, int len);
// Release the timing state after waiting for the queue (plan_free's start).
void cb_cl_plan_release(struct cb_cl_plan *b);
// `available` of every OpenCL kernel: at least one device is present.
enum cb_status cb_cl_available(void);

// Upload a host matrix of `rows` rows with stride ld (only the used part,
// (rows-1)*ld + cols floats) into a new device buffer (blocking).
enum cb_status cb_clrt_upload(struct cb_clrt *rt, const float *host, int64_t rows,
                              int64_t cols, int64_t ld, cl_mem *out);
// The same for elements of `elem` bytes (f16 and bf16 storage).
enum cb_status cb_clrt_upload_elems(struct cb_clrt *rt, const void *host, int64_t rows,
                                    int64_t cols, int64_t ld, size_t elem, cl_mem *out);
// Read rows x cols floats with row stride ld from buf into host (blocking).
enum cb_status cb_clrt_download(struct cb_clrt *rt, cl_mem buf, float *host, int64_t rows,
                                int64_t cols, int64_t ld);

// Fill a float buffer with quiet NaN (poison before a verification launch).
enum cb_status cb_clrt_fill_nan(struct cb_clrt *rt, cl_mem buf, size_t floats);

// Round x up to a multiple of m (m > 0).
static inline size_t cb_round_up(size_t x, size_t m)
{
    return (x + m - 1) / m * m;
}

// Embedded .cl sources (generated from kernels/opencl/*.cl by the Makefile).
extern const char cb_cl_src_gemm_tiled[];
extern const char cb_cl_src_gemm_reg[];
extern const char cb_cl_src_pad[];

#endif
