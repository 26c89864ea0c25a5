// clrt.c: the shared OpenCL runtime (see clrt.h): device selection, the one
// open context and profiling queue, the program cache with build logs,
// buffers and event timing. Kernels live in gemm_opencl.c, attn_opencl.c and
// the .cl files; discovery for `info` in cl_info.c.
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clrt.h"

const char *cb_cl_err_name(cl_int e)
{
    switch (e) {
    case CL_SUCCESS: return "CL_SUCCESS";
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_COMPILER_NOT_AVAILABLE: return "CL_COMPILER_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_PROFILING_INFO_NOT_AVAILABLE: return "CL_PROFILING_INFO_NOT_AVAILABLE";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST:
        return "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_DEVICE_TYPE: return "CL_INVALID_DEVICE_TYPE";
    case CL_INVALID_PLATFORM: return "CL_INVALID_PLATFORM";
    case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
    case CL_INVALID_CONTEXT: return "CL_INVALID_CONTEXT";
    case CL_INVALID_COMMAND_QUEUE: return "CL_INVALID_COMMAND_QUEUE";
    case CL_INVALID_MEM_OBJECT: return "CL_INVALID_MEM_OBJECT";
    case CL_INVALID_BUILD_OPTIONS: return "CL_INVALID_BUILD_OPTIONS";
    case CL_INVALID_PROGRAM: return "CL_INVALID_PROGRAM";
    case CL_INVALID_PROGRAM_EXECUTABLE: return "CL_INVALID_PROGRAM_EXECUTABLE";
    case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
    case CL_INVALID_KERNEL: return "CL_INVALID_KERNEL";
    case CL_INVALID_ARG_INDEX: return "CL_INVALID_ARG_INDEX";
    case CL_INVALID_ARG_VALUE: return "CL_INVALID_ARG_VALUE";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_WORK_DIMENSION: return "CL_INVALID_WORK_DIMENSION";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_WORK_ITEM_SIZE: return "CL_INVALID_WORK_ITEM_SIZE";
    case CL_INVALID_GLOBAL_OFFSET: return "CL_INVALID_GLOBAL_OFFSET";
    case CL_INVALID_EVENT_WAIT_LIST: return "CL_INVALID_EVENT_WAIT_LIST";
    case CL_INVALID_EVENT: return "CL_INVALID_EVENT";
    case CL_INVALID_OPERATION: return "CL_INVALID_OPERATION";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_GLOBAL_WORK_SIZE: return "CL_INVALID_GLOBAL_WORK_SIZE";
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
}

// Set when a command failed in a way that kills the queue or context (a
// faulting kernel): the next cb_clrt_open starts over with a fresh context
// instead of failing every later row.
static int g_rt_broken;

// Test hook: CHIPBENCH_CL_FAULT=open|build|enqueue|finish makes that step
// fail the way a missing or broken device does (open: clCreateContext gives
// CL_DEVICE_NOT_AVAILABLE; build: CL_BUILD_PROGRAM_FAILURE; enqueue, the
// uploads: CL_OUT_OF_RESOURCES; finish: CL_OUT_OF_RESOURCES, a device lost
// mid-run), so tests/test_faults.sh can check that each gives a row with the
// reason and the run goes on. Always compiled in; inert unless set.
static int cl_fault(const char *step)
{
    const char *f = getenv("CHIPBENCH_CL_FAULT");
    return f && !strcmp(f, step);
}

enum cb_status cb_cl_fail(cl_int e, const char *what)
{
    if (e == CL_INVALID_COMMAND_QUEUE || e == CL_OUT_OF_RESOURCES || e == CL_INVALID_CONTEXT ||
        e == CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        g_rt_broken = 1;
    // A device that is not there (unplugged, taken by another process, or
    // reset) or that stops working mid-run (its queue or context lost, out
    // of resources) cannot run the row: a skip with the reason, like no
    // device, and the run goes on. Other errors are our misuse of the API:
    // failed rows.
    enum cb_status s = (e == CL_MEM_OBJECT_ALLOCATION_FAILURE || e == CL_OUT_OF_HOST_MEMORY)
                           ? CB_ERR_NO_MEMORY
                       : (e == CL_DEVICE_NOT_AVAILABLE || e == CL_DEVICE_NOT_FOUND ||
                          e == CL_INVALID_COMMAND_QUEUE || e == CL_OUT_OF_RESOURCES ||
                          e == CL_INVALID_CONTEXT ||
                          e == CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
                           ? CB_ERR_UNSUPPORTED
                           : CB_ERR_BACKEND;
    return cb_set_error(s, "%s: %d (%s)", what, (int)e, cb_cl_err_name(e));
}

// Program cache -------------------------------------------------------------

struct prog_entry {
    char *name, *options;
    cl_program prog;   // NULL when the build failed
    char *failure;     // the recorded error text of a failed build
};

#define PROG_CACHE_MAX 256

static struct cb_clrt *g_rt;
static struct prog_entry g_progs[PROG_CACHE_MAX];
static int g_nprogs;

static void prog_entry_free(struct prog_entry *e)
{
    if (e->prog)
        clReleaseProgram(e->prog);
    free(e->name);
    free(e->options);
    free(e->failure);
    memset(e, 0, sizeof *e);
}

static void rt_close(void)
{
    for (int i = 0; i < g_nprogs; i++)
        prog_entry_free(&g_progs[i]);
    g_nprogs = 0;
    if (g_rt) {
        if (g_rt->queue)
            clReleaseCommandQueue(g_rt->queue);
        if (g_rt->ctx)
            clReleaseContext(g_rt->ctx);
        free(g_rt);
        g_rt = NULL;
    }
}

// Device selection ------------------------------------------------------------

static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return n == 0;
}

enum cb_status cb_clrt_resolve(const char *spec, const struct cb_ocl_device *devs, int n,
                               int *index)
{
    if (n <= 0)
        return cb_set_error(CB_ERR_UNSUPPORTED, "no OpenCL device found");
    if (!spec || !*spec || !strcmp(spec, "opencl")) {
        static const char *const order[] = {"gpu", "accelerator"};
        for (int o = 0; o < 2; o++)
            for (int i = 0; i < n; i++)
                if (!strcmp(devs[i].type, order[o])) {
                    *index = i;
                    return CB_OK;
                }
        *index = 0;
        return CB_OK;
    }
    const char *p = spec;
    if (!strncmp(p, "opencl:", 7))
        p += 7;
    int pi, di, used = 0;
    if (sscanf(p, "%d:%d%n", &pi, &di, &used) == 2 && p[used] == 0) {
        for (int i = 0; i < n; i++)
            if (devs[i].platform_index == pi && devs[i].device_index == di) {
                *index = i;
                return CB_OK;
            }
        return cb_set_error(CB_ERR_UNSUPPORTED,
                            "--device %s: no OpenCL device %d on platform %d (`chipbench "
                            "info` lists them)",
                            spec, di, pi);
    }
    for (int i = 0; i < n; i++)
        if (contains_ci(devs[i].name, p) || contains_ci(devs[i].vendor, p) ||
            contains_ci(devs[i].platform_name, p)) {
            *index = i;
            return CB_OK;
        }
    return cb_set_error(CB_ERR_UNSUPPORTED,
                        "--device %s: no OpenCL device name, vendor or platform contains "
                        "'%s' (`chipbench info` lists them)",
                        spec, p);
}

static enum cb_status device_id(int pi, int di, cl_platform_id *plat, cl_device_id *dev)
{
    enum cb_status s = CB_OK;
    cl_uint np = 0, nd = 0;
    cl_platform_id *ps = NULL;
    cl_device_id *ds = NULL;
    cl_int e = clGetPlatformIDs(0, NULL, &np);
    if (e != CL_SUCCESS || (cl_uint)pi >= np)
        return cb_set_error(CB_ERR_UNSUPPORTED, "OpenCL platform %d is gone", pi);
    ps = calloc(np, sizeof *ps);
    if (!ps)
        return cb_set_error(CB_ERR_NO_MEMORY, "platform list");
    if ((e = clGetPlatformIDs(np, ps, NULL)) != CL_SUCCESS) {
        s = cb_cl_fail(e, "clGetPlatformIDs");
        goto out;
    }
    if ((e = clGetDeviceIDs(ps[pi], CL_DEVICE_TYPE_ALL, 0, NULL, &nd)) != CL_SUCCESS ||
        (cl_uint)di >= nd) {
        s = cb_set_error(CB_ERR_UNSUPPORTED, "OpenCL device %d:%d is gone", pi, di);
        goto out;
    }
    ds = calloc(nd, sizeof *ds);
    if (!ds) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "device list");
        goto out;
    }
    if ((e = clGetDeviceIDs(ps[pi], CL_DEVICE_TYPE_ALL, nd, ds, NULL)) != CL_SUCCESS) {
        s = cb_cl_fail(e, "clGetDeviceIDs");
        goto out;
    }
    *plat = ps[pi];
    *dev = ds[di];
out:
    free(ps);
    free(ds);
    return s;
}

enum cb_status cb_clrt_open(const char *spec, struct cb_clrt **out)
{
    enum cb_status s = CB_OK;
    struct cb_ocl_device *devs = NULL;
    int n = 0, idx = 0;
    cl_int e;
    if (!spec || !*spec)
        spec = getenv("CHIPBENCH_OPENCL_DEVICE");
    if (!spec)
        spec = "";
    if (g_rt && !strcmp(g_rt->spec, spec) && !g_rt_broken) {
        *out = g_rt;
        return CB_OK;
    }
    rt_close();
    g_rt_broken = 0;
    CB_TRY(cb_ocl_list(&devs, &n));
    CB_TRY(cb_clrt_resolve(spec, devs, n, &idx));
    struct cb_clrt *rt = calloc(1, sizeof *rt);
    if (!rt) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "OpenCL runtime state");
        goto out;
    }
    g_rt = rt;
    rt->info = devs[idx];
    snprintf(rt->spec, sizeof rt->spec, "%s", spec);
    snprintf(rt->label, sizeof rt->label, "opencl:%d:%d %s", rt->info.platform_index,
             rt->info.device_index, rt->info.name);
    cb_ocl_chip_class(&rt->info, rt->chip_class, sizeof rt->chip_class);
    CB_TRY(device_id(rt->info.platform_index, rt->info.device_index, &rt->platform,
                     &rt->device));
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)rt->platform,
                                     0};
    if (cl_fault("open"))
        e = CL_DEVICE_NOT_AVAILABLE;
    else
        rt->ctx = clCreateContext(props, 1, &rt->device, NULL, NULL, &e);
    if (e != CL_SUCCESS) {
        s = cb_cl_fail(e, "clCreateContext");
        goto out;
    }
    cl_queue_properties qp[] = {CL_QUEUE_PROPERTIES, CL_QUEUE_PROFILING_ENABLE, 0};
    rt->queue = clCreateCommandQueueWithProperties(rt->ctx, rt->device, qp, &e);
    if (e != CL_SUCCESS) {
        s = cb_cl_fail(e, "clCreateCommandQueueWithProperties");
        goto out;
    }
    *out = rt;
out:
    if (s != CB_OK)
        rt_close();
    free(devs);
    return s;
}

// Programs ------------------------------------------------------------------

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

// The build failure message: the options and the tail of the log (the first
// error is usually near the end on NVIDIA and PoCL alike, and the message
// buffer is small).
static enum cb_status build_failure(struct cb_clrt *rt, cl_program p, cl_int e,
                                    const char *name, const char *options)
{
    size_t n = 0;
    char *log = NULL;
    if (clGetProgramBuildInfo(p, rt->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) ==
            CL_SUCCESS &&
        n > 0 && (log = malloc(n + 1)) &&
        clGetProgramBuildInfo(p, rt->device, CL_PROGRAM_BUILD_LOG, n, log, NULL) ==
            CL_SUCCESS)
        log[n] = 0;
    else if (log)
        log[0] = 0;
    const char *tail = log ? log : "";
    size_t len = strlen(tail);
    while (len > 0 && isspace((unsigned char)tail[len - 1]))
        len--;
    if (!len) {
        tail = "(the build log is empty)";
        len = strlen(tail);
    }
    size_t from = len > 600 ? len - 600 : 0;
    // A kernel this device's compiler cannot build cannot run here: a
    // skipped row whose note carries the log (never a crash).
    enum cb_status s =
        cb_set_error(CB_ERR_UNSUPPORTED, "OpenCL build of %s failed (%s) with options '%s': %.*s",
                     name, cb_cl_err_name(e), options, (int)(len - from), tail + from);
    free(log);
    return s;
}

// A successful build's log on stderr (CHIPBENCH_CL_BUILD_LOG=1): with
// NVIDIA's -cl-nv-verbose in CHIPBENCH_CL_BUILD_OPTS it holds ptxas's
// registers, spill stores and shared memory per kernel.
static void print_build_log(struct cb_clrt *rt, cl_program p, const char *name,
                            const char *options)
{
    size_t n = 0;
    char *log = NULL;
    if (clGetProgramBuildInfo(p, rt->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) != CL_SUCCESS ||
        n == 0 || !(log = malloc(n + 1)))
        return;
    if (clGetProgramBuildInfo(p, rt->device, CL_PROGRAM_BUILD_LOG, n, log, NULL) == CL_SUCCESS) {
        log[n] = 0;
        size_t len = strlen(log);
        while (len > 0 && isspace((unsigned char)log[len - 1]))
            log[--len] = 0;
        fprintf(stderr, "[cl-build] %s (%s): %s\n", name, options, len ? log : "(empty log)");
    }
    free(log);
}

enum cb_status cb_clrt_program(struct cb_clrt *rt, const char *name, const char *src,
                               const char *options_in, cl_program *out)
{
    *out = NULL;
    // CHIPBENCH_CL_BUILD_OPTS: options added to every build (diagnostics
    // such as -cl-nv-verbose); part of the cache key like the kernel's own.
    char options[1024];
    const char *extra = getenv("CHIPBENCH_CL_BUILD_OPTS");
    if (snprintf(options, sizeof options, "%s%s%s", options_in, extra && *extra ? " " : "",
                 extra && *extra ? extra : "") >= (int)sizeof options)
        return cb_set_error(CB_ERR_INVALID_ARG, "OpenCL build options of %s too long (%zu + %zu)",
                            name, strlen(options_in), extra ? strlen(extra) : (size_t)0);
    for (int i = 0; i < g_nprogs; i++) {
        struct prog_entry *pe = &g_progs[i];
        if (!strcmp(pe->name, name) && !strcmp(pe->options, options)) {
            if (!pe->prog)
                return cb_set_error(CB_ERR_UNSUPPORTED, "%s", pe->failure);
            *out = pe->prog;
            return CB_OK;
        }
    }
    cl_int e;
    enum cb_status s = CB_OK;
    cl_program p = clCreateProgramWithSource(rt->ctx, 1, &src, NULL, &e);
    if (e != CL_SUCCESS)
        return cb_cl_fail(e, "clCreateProgramWithSource");
    e = clBuildProgram(p, 1, &rt->device, options, NULL, NULL);
    if (e == CL_SUCCESS && cl_fault("build"))
        e = CL_BUILD_PROGRAM_FAILURE;
    if (e != CL_SUCCESS) {
        s = build_failure(rt, p, e, name, options);
        clReleaseProgram(p);
        p = NULL;
    } else {
        const char *show = getenv("CHIPBENCH_CL_BUILD_LOG");
        if (show && !strcmp(show, "1"))
            print_build_log(rt, p, name, options);
    }
    if (g_nprogs == PROG_CACHE_MAX) {  // evict the oldest
        prog_entry_free(&g_progs[0]);
        memmove(g_progs, g_progs + 1, (PROG_CACHE_MAX - 1) * sizeof g_progs[0]);
        g_nprogs--;
        memset(&g_progs[g_nprogs], 0, sizeof g_progs[0]);
    }
    struct prog_entry *pe = &g_progs[g_nprogs];
    pe->name = dup_str(name);
    pe->options = dup_str(options);
    pe->failure = s != CB_OK ? dup_str(cb_error_text()) : NULL;
    if (!pe->name || !pe->options || (s != CB_OK && !pe->failure)) {
        free(pe->name);
        free(pe->options);
        free(pe->failure);
        memset(pe, 0, sizeof *pe);
    } else {
        pe->prog = p;
        g_nprogs++;
        p = NULL;  // owned by the cache
    }
    if (s != CB_OK)
        return s;
    *out = pe->prog ? pe->prog : p;
    return CB_OK;
}

enum cb_status cb_clrt_kernel(cl_program p, const char *name, cl_kernel *out)
{
    cl_int e;
    *out = clCreateKernel(p, name, &e);
    if (e != CL_SUCCESS) {
        char what[128];
        snprintf(what, sizeof what, "clCreateKernel(%s)", name);
        return cb_cl_fail(e, what);
    }
    return CB_OK;
}

enum cb_status cb_clrt_buffer(struct cb_clrt *rt, size_t bytes, cl_mem_flags flags, cl_mem *out)
{
    cl_int e;
    *out = NULL;
    if (bytes == 0)
        bytes = 4;
    if (bytes > rt->info.max_alloc_bytes)
        return cb_set_error(CB_ERR_NO_MEMORY,
                            "%.1f MiB buffer exceeds the device's largest allocation "
                            "(%.1f MiB of %.1f GiB)",
                            bytes / 1048576.0, rt->info.max_alloc_bytes / 1048576.0,
                            rt->info.global_mem_bytes / 1073741824.0);
    *out = clCreateBuffer(rt->ctx, flags, bytes, NULL, &e);
    if (e != CL_SUCCESS) {
        char what[96];
        snprintf(what, sizeof what, "clCreateBuffer(%.1f MiB)", bytes / 1048576.0);
        return cb_cl_fail(e, what);
    }
    return CB_OK;
}

enum cb_status cb_clrt_arg(cl_kernel k, cl_uint i, size_t size, const void *value)
{
    cl_int e = clSetKernelArg(k, i, size, value);
    if (e != CL_SUCCESS) {
        char what[64];
        snprintf(what, sizeof what, "clSetKernelArg(%u)", i);
        return cb_cl_fail(e, what);
    }
    return CB_OK;
}

double cb_clrt_event_span_ns(cl_event first, cl_event last)
{
    cl_ulong t0 = 0, t1 = 0;
    if (!first || !last ||
        clGetEventProfilingInfo(first, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) !=
            CL_SUCCESS ||
        clGetEventProfilingInfo(last, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) !=
            CL_SUCCESS ||
        t1 < t0)
        return -1.0;
    return (double)(t1 - t0);
}

enum cb_status cb_clrt_fill_nan(struct cb_clrt *rt, cl_mem buf, size_t floats)
{
    float nan = NAN;
    cl_int e = clEnqueueFillBuffer(rt->queue, buf, &nan, sizeof nan, 0, floats * sizeof nan, 0,
                                   NULL, NULL);
    return e == CL_SUCCESS ? CB_OK : cb_cl_fail(e, "clEnqueueFillBuffer");
}


void cb_cl_timing_begin(struct cb_cl_timing *t)
{
    if (t->first && t->first != t->last)
        clReleaseEvent(t->first);
    if (t->last)
        clReleaseEvent(t->last);
    t->first = t->last = NULL;
}

void cb_cl_timing_event(struct cb_cl_timing *t, cl_event e)
{
    if (!t->first) {
        t->first = t->last = e;
        return;
    }
    if (t->last != t->first)
        clReleaseEvent(t->last);
    t->last = e;
}

enum cb_status cb_cl_timing_record(struct cb_cl_timing *t)
{
    double ns = cb_clrt_event_span_ns(t->first, t->last);
    if (ns < 0)
        return CB_OK;  // no profiling info: the column stays empty
    return cb_call_times_add(&t->times, ns);
}

double cb_cl_timing_median(struct cb_cl_timing *t)
{
    return cb_call_times_median(&t->times);
}

void cb_cl_timing_free(struct cb_cl_timing *t)
{
    cb_cl_timing_begin(t);
    cb_call_times_free(&t->times);
    memset(t, 0, sizeof *t);
}

enum cb_status cb_clrt_upload_elems(struct cb_clrt *rt, const void *host, int64_t rows,
                                    int64_t cols, int64_t ld, size_t elem, cl_mem *out)
{
    size_t n = (size_t)((rows - 1) * ld + cols);
    enum cb_status s = cb_clrt_buffer(rt, n * elem, CL_MEM_READ_WRITE, out);
    if (s != CB_OK)
        return s;
    cl_int e = cl_fault("enqueue") ? CL_OUT_OF_RESOURCES
                                   : clEnqueueWriteBuffer(rt->queue, *out, CL_TRUE, 0,
                                                          n * elem, host, 0, NULL, NULL);
    return e == CL_SUCCESS ? CB_OK : cb_cl_fail(e, "clEnqueueWriteBuffer");
}

enum cb_status cb_clrt_upload(struct cb_clrt *rt, const float *host, int64_t rows,
                              int64_t cols, int64_t ld, cl_mem *out)
{
    return cb_clrt_upload_elems(rt, host, rows, cols, ld, sizeof(float), out);
}

enum cb_status cb_clrt_download(struct cb_clrt *rt, cl_mem buf, float *host, int64_t rows,
                                int64_t cols, int64_t ld)
{
    size_t pitch = (size_t)ld * sizeof(float);
    size_t origin[3] = {0, 0, 0}, region[3] = {(size_t)cols * sizeof(float), (size_t)rows, 1};
    cl_int e = clEnqueueReadBufferRect(rt->queue, buf, CL_TRUE, origin, origin, region, pitch,
                                       0, pitch, 0, host, 0, NULL, NULL);
    return e == CL_SUCCESS ? CB_OK : cb_cl_fail(e, "clEnqueueReadBufferRect");
}

enum cb_status cb_cl_plan_finish(void *plan)
{
    struct cb_cl_plan *b = plan;
    cl_int e = cl_fault("finish") ? CL_OUT_OF_RESOURCES : clFinish(b->rt->queue);
    if (e != CL_SUCCESS)
        return cb_cl_fail(e, "clFinish");
    return cb_cl_timing_record(&b->t);
}

double cb_cl_plan_device_ns(void *plan)
{
    return cb_cl_timing_median(&((struct cb_cl_plan *)plan)->t);
}

void cb_cl_plan_where(void *plan, char *device, int dlen, char *chip_class, int clen)
{
    struct cb_cl_plan *b = plan;
    if (b->origin[0])
        snprintf(device, (size_t)dlen, "%s [%s, %s]", b->rt->label, b->params, b->origin);
    else
        snprintf(device, (size_t)dlen, "%s [%s]", b->rt->label, b->params);
    snprintf(chip_class, (size_t)clen, "%s", b->rt->chip_class);
}

void cb_cl_plan_pci_bus(void *plan, char *buf, int len)
{
    struct cb_cl_plan *b = plan;
    snprintf(buf, (size_t)len, "%s", b->rt->info.pci_bus);
}

void cb_cl_plan_release(struct cb_cl_plan *b)
{
    if (b->rt)
        clFinish(b->rt->queue);
    cb_cl_timing_free(&b->t);
}

enum cb_status cb_cl_available(void)
{
    struct cb_ocl_device *d = NULL;
    int n = 0;
    enum cb_status s = cb_ocl_list(&d, &n);
    free(d);
    if (s == CB_OK && n == 0)
        s = cb_set_error(CB_ERR_UNSUPPORTED, "no OpenCL device found");
    return s;
}
