// cmd_tune.c: `chipbench tune`: autotune the OpenCL GEMM for one device and
// save the winners to the tuning file that `run` then uses (cb_tune.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_shape.h"
#include "chipbench/cb_tune.h"
#include "chipbench/cb_util.h"
#include "commands.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: chipbench tune [--device DEV] [--budget SECONDS] [--out FILE] [--shape S]...\n"
            "Search the OpenCL GEMM's parameters on one device, verifying every candidate\n"
            "against float64 before timing it, and save the fastest per shape class\n"
            "(s, m, l by the geometric mean of m, n, k: <=256, <=1536, larger).\n\n"
            "  --device DEV     opencl:P:D or a name substring (default: first GPU, else\n"
            "                   first device; see `chipbench info`)\n"
            "  --budget S       total search time in seconds (default 120)\n"
            "  --out FILE       tuning file to update (default: $CHIPBENCH_TUNING, else\n"
            "                   ~/.cache/chipbench/opencl-tuning.csv; `run` reads both)\n"
            "  --shape S        representative GEMM shape, one per class (repeatable;\n"
            "                   default 256^3, 1024^3 and 2048^3 on CPUs, 4096^3 elsewhere)\n");
}

static void progress(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "[tune] %s\n", line);
}

int cb_cmd_tune(int argc, char **argv)
{
    struct cb_tune_opts o = {.budget_s = 120.0, .progress = progress};
    struct cb_call shapes[8];
    int nshapes = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc || strncmp(a, "--", 2)) {
            fprintf(stderr, "chipbench tune: %s '%s' (see chipbench tune --help)\n",
                    strncmp(a, "--", 2) ? "unexpected argument" : "missing value for", a);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--device")) {
            o.device = v;
        } else if (!strcmp(a, "--out")) {
            o.out = v;
        } else if (!strcmp(a, "--budget")) {
            if (cb_parse_f64(v, 1.0, 86400.0, &o.budget_s) != CB_OK) {
                fprintf(stderr, "chipbench tune: --budget %s: %s\n", v, cb_error_text());
                return 2;
            }
        } else if (!strcmp(a, "--shape")) {
            if (nshapes == 8) {
                fprintf(stderr, "chipbench tune: at most 8 --shape\n");
                return 2;
            }
            if (cb_shape_parse(v, &shapes[nshapes]) != CB_OK ||
                shapes[nshapes].op != CB_OP_GEMM) {
                fprintf(stderr, "chipbench tune: --shape %s: %s\n", v,
                        cb_error_text()[0] ? cb_error_text() : "not a GEMM shape");
                return 2;
            }
            nshapes++;
        } else {
            fprintf(stderr, "chipbench tune: unknown option '%s' (see chipbench tune --help)\n",
                    a);
            return 2;
        }
    }
    o.shapes = nshapes ? shapes : NULL;
    o.nshapes = nshapes;
    struct cb_tune_result *res = NULL;
    int n = 0;
    char path[1024] = "";
    enum cb_status s = cb_tune_gemm(&o, &res, &n, path, sizeof path);
    if (s != CB_OK) {
        fprintf(stderr, "chipbench tune: %s\n", cb_error_text());
        return 1;
    }
    printf("%-5s %-22s %-48s %12s %12s %8s\n", "class", "shape", "params", "GFLOP/s",
           "default", "tried");
    for (int i = 0; i < n; i++)
        printf("%-5s %-22s %-48s %12.1f %12.1f %5d/%d\n", res[i].shape_class, res[i].shape,
               res[i].params, res[i].gflops, res[i].default_gflops, res[i].tried,
               res[i].tried + res[i].failed);
    printf("saved %d entr%s to %s\n", n, n == 1 ? "y" : "ies", path);
    free(res);
    return 0;
}
