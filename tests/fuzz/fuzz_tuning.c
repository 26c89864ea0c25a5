// fuzz_tuning.c: libFuzzer target for the OpenCL tuning file
// (kernels/opencl/cl_tuning.c: cb_cl_tuning_find, the core of
// cb_cl_tuning_lookup) and for the parameter text an entry holds
// ("tiled:TM=128,..." / "reg:MR=8,...": cb_cl_params_parse with the GEMM
// keys of cl_gemm.h). Builds without OpenCL headers or libraries.
//
// Properties (abort() reports a violation, as libFuzzer expects): when the
// text parses as a CSV with the tuning columns, looking up the key of its
// last row finds an entry, and its params are those of the first row with
// that key (when the key's cells fit cb_ocl_device's fields untruncated).
// What it is not: a test of cb_cl_gemm_params_parse's constraint checks,
// which live in gemm_opencl.c with the OpenCL host code.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_csv.h"
#include "chipbench/cb_ocl.h"
#include "../../kernels/opencl/cl_params.h"
#include "../../kernels/opencl/cl_tuning.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// cl_tuning.c's lookup falls back to the shipped table; the target never
// calls the lookup, but the symbol must link.
const char cb_cl_src_tuning_builtin[] = "";

static void parse_params(const char *text)
{
    static const char *const tiled_keys[] = {"TM", "TN", "TK", "RM", "RN", "LPAD", "WX"};
    static const char *const reg_keys[] = {"MR", "VW", "NV", "LX", "LY"};
    int v[7] = {0};
    int *vals[] = {&v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]};
    const char *colon = strchr(text, ':');
    int tiled = colon && colon - text == 5 && !strncmp(text, "tiled", 5);
    cb_cl_params_parse("GEMM parameters ", text, colon ? colon + 1 : text,
                       tiled ? tiled_keys : reg_keys, vals, tiled ? 7 : 5);
}

// Copy a cell into a device field; 0 when it does not fit.
static int fits(char *dst, size_t cap, const char *src)
{
    return snprintf(dst, cap, "%s", src) < (int)cap;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cb_ocl_device d;
    char params[160], kernel[64], shape[16];
    memset(&d, 0, sizeof d);
    snprintf(d.vendor, sizeof d.vendor, "AuthenticAMD");
    snprintf(d.name, sizeof d.name, "pthread-skylake-avx512-AMD EPYC");
    snprintf(d.driver_version, sizeof d.driver_version, "3.1+debian");
    if (cb_cl_tuning_find((const char *)data, size, "fuzz.csv", &d, "gemm_f32_opencl", "m",
                          params, sizeof params) == CB_OK)
        parse_params(params);

    // The differential check: a key taken from the table must be found.
    struct cb_csv_table t;
    if (cb_csv_parse((const char *)data, size, &t) != CB_OK)
        return 0;
    static const char *const cols[] = {"vendor", "device", "driver", "kernel", "shape_class",
                                       "params"};
    int ix[6], ok = t.nrows > 0;
    for (int i = 0; i < 6 && ok; i++)
        ok = (ix[i] = cb_csv_col(&t, cols[i])) >= 0;
    int last = t.nrows - 1;
    if (ok && fits(d.vendor, sizeof d.vendor, cb_csv_cell(&t, last, ix[0])) &&
        fits(d.name, sizeof d.name, cb_csv_cell(&t, last, ix[1])) &&
        fits(d.driver_version, sizeof d.driver_version, cb_csv_cell(&t, last, ix[2])) &&
        fits(kernel, sizeof kernel, cb_csv_cell(&t, last, ix[3])) &&
        fits(shape, sizeof shape, cb_csv_cell(&t, last, ix[4]))) {
        int first = 0;
        while (strcmp(cb_csv_cell(&t, first, ix[0]), d.vendor) ||
               strcmp(cb_csv_cell(&t, first, ix[1]), d.name) ||
               strcmp(cb_csv_cell(&t, first, ix[2]), d.driver_version) ||
               strcmp(cb_csv_cell(&t, first, ix[3]), kernel) ||
               strcmp(cb_csv_cell(&t, first, ix[4]), shape))
            first++;
        enum cb_status s = cb_cl_tuning_find((const char *)data, size, "fuzz.csv", &d, kernel,
                                             shape, params, sizeof params);
        char want[160];
        snprintf(want, sizeof want, "%s", cb_csv_cell(&t, first, ix[5]));
        // The lookup also needs the gflops and tuned_utc columns.
        int full = cb_csv_col(&t, "gflops") >= 0 && cb_csv_col(&t, "tuned_utc") >= 0;
        if (full && (s != CB_OK || strcmp(params, want))) {
            fprintf(stderr, "tuning: key of row %d not found (%s) or wrong params '%s'\n",
                    last, cb_error_msg(), s == CB_OK ? params : "");
            abort();
        }
        if (s == CB_OK)
            parse_params(params);
    }
    cb_csv_table_free(&t);
    return 0;
}
