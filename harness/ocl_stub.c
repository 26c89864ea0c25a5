// ocl_stub.c: the parts of cb_ocl.h that need no OpenCL library.
//
// - cb_ocl_chip_class: pure string formatting of a struct cb_ocl_device. It
//   lives here, always compiled, so there is exactly one definition whether
//   or not kernels/opencl/cl_info.c is built.
// - cb_ocl_list fallback, only when chipbench is built without OpenCL
//   (CB_HAVE_OPENCL undefined); with OpenCL the real one is in cl_info.c.
// Not a device query: nothing here talks to a driver.
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_ocl.h"

// Append src to buf[*n..len) with whitespace runs as one '_' and commas,
// quotes and ':' dropped; leading/trailing whitespace is dropped too (driver
// strings are often padded). ':' separates the id's fields, so it must not
// appear inside one.
static void append_clean(char *buf, size_t len, size_t *n, const char *src)
{
    int pending_space = 0;
    for (const char *p = src; *p; p++) {
        char c = *p;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            pending_space = 1;
            continue;
        }
        if (c == ',' || c == '"' || c == '\'' || c == ':')
            continue;
        if (pending_space && *n > 0 && buf[*n - 1] != ':' && *n + 1 < len)
            buf[(*n)++] = '_';
        pending_space = 0;
        if (*n + 1 < len)
            buf[(*n)++] = c;
    }
    buf[*n] = 0;
}

void cb_ocl_chip_class(const struct cb_ocl_device *d, char *buf, size_t len)
{
    if (!buf || !len)
        return;
    size_t n = 0;
    buf[0] = 0;
    const char *fields[3] = {d ? d->type : "", d ? d->vendor : "",
                             d ? d->name : ""};
    append_clean(buf, len, &n, "opencl");
    for (int i = 0; i < 3; i++) {
        if (n + 1 < len)
            buf[n++] = ':';
        buf[n] = 0;
        size_t before = n;
        append_clean(buf, len, &n, fields[i]);
        // An empty field would make "opencl::x" ambiguous to split.
        if (n == before)
            append_clean(buf, len, &n, "unknown");
    }
}

#ifndef CB_HAVE_OPENCL

#include "chipbench/cb_status.h"

enum cb_status cb_ocl_list(struct cb_ocl_device **out, int *count)
{
    if (out)
        *out = NULL;
    if (count)
        *count = 0;
    return cb_set_error(CB_ERR_UNSUPPORTED, "chipbench was built without OpenCL");
}

#include "chipbench/cb_tune.h"

enum cb_status cb_tune_gemm(const struct cb_tune_opts *o, struct cb_tune_result **results,
                            int *nresults, char *written_path, size_t path_len)
{
    (void)o;
    (void)written_path;
    (void)path_len;
    *results = NULL;
    *nresults = 0;
    return cb_set_error(CB_ERR_UNSUPPORTED, "chipbench was built without OpenCL: nothing to tune");
}

enum cb_status cb_tune_attn(const struct cb_tune_opts *o, struct cb_tune_result **results,
                            int *nresults, char *written_path, size_t path_len)
{
    return cb_tune_gemm(o, results, nresults, written_path, path_len);
}

enum cb_status cb_tune_default_path(char *buf, size_t len)
{
    (void)buf;
    (void)len;
    return cb_set_error(CB_ERR_UNSUPPORTED, "chipbench was built without OpenCL");
}

#endif
