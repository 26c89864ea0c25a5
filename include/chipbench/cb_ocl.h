// cb_ocl.h: OpenCL platform and device discovery (for `info`, `--device` and
// chip-class ids). Kernel execution lives in the OpenCL backend, not here.
// Built only with OpenCL; without it cb_ocl_list reports CB_ERR_UNSUPPORTED.
#ifndef CHIPBENCH_CB_OCL_H
#define CHIPBENCH_CB_OCL_H

#include <stddef.h>
#include <stdint.h>
#include "cb_status.h"

struct cb_ocl_device {
    int platform_index, device_index;
    char platform_name[128], platform_vendor[128], platform_version[128];
    char name[256], vendor[128], driver_version[128], version[128];
    char type[32];              // "cpu", "gpu", "accelerator", ...
    unsigned compute_units;
    unsigned max_clock_mhz;
    uint64_t global_mem_bytes, local_mem_bytes, max_alloc_bytes;
    size_t max_work_group;
    int fp16, fp64;             // cl_khr_fp16 / cl_khr_fp64 (or version-core)
    char pci_bus[32];           // "0000:17:00.0" where an extension tells, else ""
    int nv_cc_major, nv_cc_minor;  // NVIDIA compute capability (9.0 = Hopper), 0.0 elsewhere
    char matrix_ext[64];        // a vendor matrix-unit extension it lists (cb_ocl_matrix_ext), or ""
};

// The first vendor extension in `extensions` (the CL_DEVICE_EXTENSIONS
// text) that exposes matrix units to OpenCL C, e.g. Intel's
// cl_intel_subgroup_matrix_multiply_accumulate; "" when none. chipbench
// detects and reports these; its matrix-unit kernels use NVIDIA's inline PTX
// only, until a device to test another path on is at hand.
void cb_ocl_matrix_ext(const char *extensions, char *buf, size_t len);

// Enumerate every device of every platform. *out is malloc'd (free()).
// Zero platforms is CB_ERR_UNSUPPORTED with the reason, not an error.
enum cb_status cb_ocl_list(struct cb_ocl_device **out, int *count);

// Chip-class id of one device for CSV rows: "opencl:<type>:<vendor>:<name>",
// whitespace runs turned into '_', commas and quotes removed, so the id is
// one CSV field without quoting. Always NUL-terminates (truncates to len).
void cb_ocl_chip_class(const struct cb_ocl_device *d, char *buf, size_t len);

#endif
