// cl_info.c: OpenCL platform and device discovery for `info`, `--device` and
// chip-class ids (cb_ocl_list in cb_ocl.h).
//
// Built only with OpenCL (CB_HAVE_OPENCL; the Makefile defines
// CL_TARGET_OPENCL_VERSION=300). It only asks drivers questions: no context,
// queue or program is created here, that is the OpenCL backend's job. The
// no-OpenCL fallback and cb_ocl_chip_class live in harness/ocl_stub.c.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CL/cl.h>
#include <CL/cl_ext.h>

#include "chipbench/cb_ocl.h"
#include "chipbench/cb_util.h"

// Vendor query ids, spelled out so older or vendor-trimmed headers still build.
#define CB_CL_PLATFORM_NOT_FOUND_KHR (-1001)
#define CB_CL_DEVICE_PCI_BUS_INFO_KHR 0x410F
#define CB_CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV 0x4000
#define CB_CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV 0x4001
#define CB_CL_DEVICE_PCI_BUS_ID_NV 0x4008
#define CB_CL_DEVICE_PCI_SLOT_ID_NV 0x4009
#define CB_CL_DEVICE_PCI_DOMAIN_ID_NV 0x400A
#define CB_CL_DEVICE_TOPOLOGY_AMD 0x4037

// Layouts from the cl_khr_pci_bus_info and cl_amd_device_attribute_query
// specs (identical to cl_ext.h's types, which older headers lack).
struct cb_cl_pci_bus_info {
    cl_uint domain, bus, device, function;
};
union cb_cl_topology_amd {
    struct { cl_uint type; cl_uint data[5]; } raw;
    struct { cl_uint type; cl_char unused[17]; cl_char bus, device, function; } pcie;
};

static const char *cl_err_name(cl_int e)
{
    switch (e) {
    case CL_SUCCESS: return "CL_SUCCESS";
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_DEVICE_TYPE: return "CL_INVALID_DEVICE_TYPE";
    case CL_INVALID_PLATFORM: return "CL_INVALID_PLATFORM";
    case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
    case CB_CL_PLATFORM_NOT_FOUND_KHR: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
}

// Every cl_int is checked through this: any failure is CB_ERR_BACKEND with
// the call, the numeric code and its name.
#define CB_CL_TRY(call)                                                       \
    do {                                                                      \
        cl_int e_ = (call);                                                   \
        if (e_ != CL_SUCCESS) {                                               \
            s = cb_set_error(CB_ERR_BACKEND, "%s: %d (%s)", #call, (int)e_,   \
                             cl_err_name(e_));                                \
            goto out;                                                         \
        }                                                                     \
    } while (0)

// String queries: ask the size first, because a too-small buffer is an
// error (CL_INVALID_VALUE) rather than a truncation. The result is copied
// truncated into dst.
static enum cb_status platform_str(cl_platform_id p, cl_platform_info what,
                                   char *dst, size_t cap)
{
    enum cb_status s = CB_OK;
    char *tmp = NULL;
    size_t n = 0;
    CB_CL_TRY(clGetPlatformInfo(p, what, 0, NULL, &n));
    tmp = malloc(n + 1);
    if (!tmp) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "platform string of %zu bytes", n);
        goto out;
    }
    CB_CL_TRY(clGetPlatformInfo(p, what, n, tmp, NULL));
    tmp[n] = 0;
    cb_strlcpy(dst, tmp, cap);
out:
    free(tmp);
    return s;
}

// As platform_str; dst may be NULL, and *heap, if heap is non-NULL, receives
// the whole malloc'd string (extension lists are longer than any buffer).
static enum cb_status device_str(cl_device_id d, cl_device_info what, char *dst,
                                 size_t cap, char **heap)
{
    enum cb_status s = CB_OK;
    char *tmp = NULL;
    size_t n = 0;
    CB_CL_TRY(clGetDeviceInfo(d, what, 0, NULL, &n));
    tmp = malloc(n + 1);
    if (!tmp) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "device string of %zu bytes", n);
        goto out;
    }
    CB_CL_TRY(clGetDeviceInfo(d, what, n, tmp, NULL));
    tmp[n] = 0;
    if (dst)
        cb_strlcpy(dst, tmp, cap);
    if (heap) {
        *heap = tmp;
        tmp = NULL;
    }
out:
    free(tmp);
    return s;
}

// Whole-token match in a space-separated extension list ("cl_khr_fp16"
// must not match "cl_khr_fp16_foo").
static int has_ext(const char *exts, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = exts; p && (p = strstr(p, name)); p += n) {
        int start = p == exts || p[-1] == ' ';
        int end = p[n] == 0 || p[n] == ' ';
        if (start && end)
            return 1;
    }
    return 0;
}

void cb_ocl_matrix_ext(const char *extensions, char *buf, size_t len)
{
    static const char *const known[] = {
        "cl_intel_subgroup_matrix_multiply_accumulate",
        "cl_intel_subgroup_split_matrix_multiply_accumulate",
    };
    if (len)
        buf[0] = 0;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (has_ext(extensions, known[i])) {
            snprintf(buf, len, "%s", known[i]);
            return;
        }
}

static void type_name(cl_device_type t, char *dst, size_t cap)
{
    const char *name = "other";
    if (t & CL_DEVICE_TYPE_GPU)
        name = "gpu";
    else if (t & CL_DEVICE_TYPE_CPU)
        name = "cpu";
    else if (t & CL_DEVICE_TYPE_ACCELERATOR)
        name = "accelerator";
    else if (t & CL_DEVICE_TYPE_CUSTOM)
        name = "custom";
    cb_strlcpy(dst, name, cap);
}

// PCI address where a vendor extension tells; "" otherwise. Failures here
// are not errors: the address is optional information.
static void pci_bus(cl_device_id d, const char *exts, char *dst, size_t cap)
{
    dst[0] = 0;
    if (has_ext(exts, "cl_khr_pci_bus_info")) {
        struct cb_cl_pci_bus_info pi;
        if (clGetDeviceInfo(d, CB_CL_DEVICE_PCI_BUS_INFO_KHR, sizeof pi, &pi,
                            NULL) == CL_SUCCESS) {
            snprintf(dst, cap, "%04x:%02x:%02x.%x", pi.domain, pi.bus,
                     pi.device, pi.function);
            return;
        }
    }
    if (has_ext(exts, "cl_nv_device_attribute_query")) {
        cl_uint bus = 0, slot = 0, dom = 0;
        if (clGetDeviceInfo(d, CB_CL_DEVICE_PCI_BUS_ID_NV, sizeof bus, &bus,
                            NULL) == CL_SUCCESS &&
            clGetDeviceInfo(d, CB_CL_DEVICE_PCI_SLOT_ID_NV, sizeof slot, &slot,
                            NULL) == CL_SUCCESS) {
            // The domain query is newer than bus/slot; old drivers fail it.
            if (clGetDeviceInfo(d, CB_CL_DEVICE_PCI_DOMAIN_ID_NV, sizeof dom,
                                &dom, NULL) != CL_SUCCESS)
                dom = 0;
            // NVIDIA's slot id packs device (bits 3+) and function (bits 0-2).
            snprintf(dst, cap, "%04x:%02x:%02x.%x", dom, bus, slot >> 3, slot & 7);
            return;
        }
    }
    if (has_ext(exts, "cl_amd_device_attribute_query")) {
        union cb_cl_topology_amd t;
        memset(&t, 0, sizeof t);
        if (clGetDeviceInfo(d, CB_CL_DEVICE_TOPOLOGY_AMD, sizeof t, &t, NULL) ==
                CL_SUCCESS &&
            t.raw.type == 1) {  // CL_DEVICE_TOPOLOGY_TYPE_PCIE_AMD
            snprintf(dst, cap, "0000:%02x:%02x.%x", (unsigned)(unsigned char)t.pcie.bus,
                     (unsigned)(unsigned char)t.pcie.device,
                     (unsigned)(unsigned char)t.pcie.function);
            return;
        }
    }
}

static enum cb_status fill_device(cl_device_id id, struct cb_ocl_device *d)
{
    enum cb_status s = CB_OK;
    char *exts = NULL;
    cl_device_type t = 0;
    cl_uint cu = 0, mhz = 0;
    cl_ulong gmem = 0, lmem = 0, maxalloc = 0;
    size_t wg = 0;

    CB_TRY(device_str(id, CL_DEVICE_NAME, d->name, sizeof d->name, NULL));
    CB_TRY(device_str(id, CL_DEVICE_VENDOR, d->vendor, sizeof d->vendor, NULL));
    CB_TRY(device_str(id, CL_DRIVER_VERSION, d->driver_version,
                      sizeof d->driver_version, NULL));
    CB_TRY(device_str(id, CL_DEVICE_VERSION, d->version, sizeof d->version, NULL));
    CB_TRY(device_str(id, CL_DEVICE_EXTENSIONS, NULL, 0, &exts));
    CB_CL_TRY(clGetDeviceInfo(id, CL_DEVICE_TYPE, sizeof t, &t, NULL));
    CB_CL_TRY(clGetDeviceInfo(id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL));
    CB_CL_TRY(clGetDeviceInfo(id, CL_DEVICE_MAX_CLOCK_FREQUENCY, sizeof mhz, &mhz,
                              NULL));
    CB_CL_TRY(clGetDeviceInfo(id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof gmem, &gmem,
                              NULL));
    CB_CL_TRY(clGetDeviceInfo(id, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lmem, &lmem,
                              NULL));
    CB_CL_TRY(clGetDeviceInfo(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof maxalloc,
                              &maxalloc, NULL));
    CB_CL_TRY(clGetDeviceInfo(id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg,
                              NULL));
    type_name(t, d->type, sizeof d->type);
    d->compute_units = cu;
    d->max_clock_mhz = mhz;
    d->global_mem_bytes = gmem;
    d->local_mem_bytes = lmem;
    d->max_alloc_bytes = maxalloc;
    d->max_work_group = wg;
    d->fp16 = has_ext(exts, "cl_khr_fp16");
    d->fp64 = has_ext(exts, "cl_khr_fp64");
    if (!d->fp64) {
        // Since 1.2 fp64 is an optional core feature that a driver may report
        // only here. A failing query (1.0/1.1 drivers) just means "no".
        cl_device_fp_config cfg = 0;
        if (clGetDeviceInfo(id, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof cfg, &cfg,
                            NULL) == CL_SUCCESS)
            d->fp64 = cfg != 0;
    }
    pci_bus(id, exts, d->pci_bus, sizeof d->pci_bus);
    cb_ocl_matrix_ext(exts, d->matrix_ext, sizeof d->matrix_ext);
    if (has_ext(exts, "cl_nv_device_attribute_query")) {
        // What decides which PTX matrix instructions exist (mma.sync bf16
        // needs 8.0); a failing query leaves 0.0, "unknown".
        cl_uint ma = 0, mi = 0;
        if (clGetDeviceInfo(id, CB_CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV, sizeof ma, &ma,
                            NULL) == CL_SUCCESS &&
            clGetDeviceInfo(id, CB_CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV, sizeof mi, &mi,
                            NULL) == CL_SUCCESS) {
            d->nv_cc_major = (int)ma;
            d->nv_cc_minor = (int)mi;
        }
    }
out:
    free(exts);
    return s;
}

enum cb_status cb_ocl_list(struct cb_ocl_device **out, int *count)
{
    enum cb_status s = CB_OK;
    cl_platform_id *plats = NULL;
    cl_device_id *devs = NULL;
    struct cb_ocl_device *list = NULL;
    int n = 0, cap = 0;
    cl_uint np = 0;

    if (!out || !count)
        return cb_set_error(CB_ERR_INVALID_ARG, "cb_ocl_list: NULL out/count");
    *out = NULL;
    *count = 0;

    cl_int e = clGetPlatformIDs(0, NULL, &np);
    if (e == CB_CL_PLATFORM_NOT_FOUND_KHR || (e == CL_SUCCESS && np == 0)) {
        s = cb_set_error(CB_ERR_UNSUPPORTED,
                         "no OpenCL platform (the ICD loader found none)");
        goto out;
    }
    CB_CL_TRY(e);
    plats = calloc(np, sizeof *plats);
    if (!plats) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "%u platform ids", (unsigned)np);
        goto out;
    }
    CB_CL_TRY(clGetPlatformIDs(np, plats, NULL));

    for (cl_uint pi = 0; pi < np; pi++) {
        char pname[128], pvendor[128], pversion[128];
        CB_TRY(platform_str(plats[pi], CL_PLATFORM_NAME, pname, sizeof pname));
        CB_TRY(platform_str(plats[pi], CL_PLATFORM_VENDOR, pvendor, sizeof pvendor));
        CB_TRY(platform_str(plats[pi], CL_PLATFORM_VERSION, pversion, sizeof pversion));

        cl_uint nd = 0;
        e = clGetDeviceIDs(plats[pi], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
        // A platform with no devices (e.g. a GPU ICD without its GPU) is
        // normal; it just contributes nothing.
        if (e == CL_DEVICE_NOT_FOUND || (e == CL_SUCCESS && nd == 0))
            continue;
        CB_CL_TRY(e);
        free(devs);
        devs = calloc(nd, sizeof *devs);
        if (!devs) {
            s = cb_set_error(CB_ERR_NO_MEMORY, "%u device ids", (unsigned)nd);
            goto out;
        }
        CB_CL_TRY(clGetDeviceIDs(plats[pi], CL_DEVICE_TYPE_ALL, nd, devs, NULL));

        for (cl_uint di = 0; di < nd; di++) {
            if (n == cap) {
                int ncap = cap ? 2 * cap : 4;
                void *p = realloc(list, (size_t)ncap * sizeof *list);
                if (!p) {
                    s = cb_set_error(CB_ERR_NO_MEMORY, "%d device records", ncap);
                    goto out;
                }
                list = p;
                cap = ncap;
            }
            struct cb_ocl_device *d = &list[n];
            memset(d, 0, sizeof *d);
            d->platform_index = (int)pi;
            d->device_index = (int)di;
            cb_strlcpy(d->platform_name, pname, sizeof d->platform_name);
            cb_strlcpy(d->platform_vendor, pvendor, sizeof d->platform_vendor);
            cb_strlcpy(d->platform_version, pversion, sizeof d->platform_version);
            CB_TRY(fill_device(devs[di], d));
            n++;
        }
    }
    if (n == 0) {
        s = cb_set_error(CB_ERR_UNSUPPORTED,
                         "OpenCL platform(s) found but no devices on any of them");
        goto out;
    }
    *out = list;
    *count = n;
    list = NULL;
out:
    free(list);
    free(devs);
    free(plats);
    return s;
}
