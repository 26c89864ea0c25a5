// cmd_tune.c: `chipbench tune`: autotune the OpenCL GEMM and attention
// forward for one device and save the winners to the tuning file that `run`
// then uses (cb_tune.h).
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
            "usage: chipbench tune [--op OP] [--kernel K] [--device DEV] [--budget SECONDS]\n"
            "                      [--out FILE] [--shape S]...\n"
            "Search the parameters of the OpenCL GEMM (gemm_f32_opencl; gemm_f16_opencl\n"
            "uses the same entries) and attention forward (attn_f32_opencl) on one device,\n"
            "verifying every candidate against float64 before timing it, and save the\n"
            "fastest per shape class: GEMM s, m, l by the geometric mean of m, n, k (<=256,\n"
            "<=1536, larger); attention by head dim (d64, d128, ...).\n\n"
            "  --op OP          gemm (default without --shape), attention, or all; with\n"
            "                   --shape, the ops of the shapes given\n"
            "  --kernel K       the GEMM kernel to tune: gemm_f32_opencl (default), or the\n"
            "                   matrix-unit gemm_bf16_opencl or gemm_tf32_opencl (warp tile\n"
            "                   WM x WN, ldmatrix LDM, cp.async CPA; NVIDIA sm_80+)\n"
            "  --device DEV     opencl:P:D or a name substring (default: first GPU, else\n"
            "                   first device; see `chipbench info`)\n"
            "  --budget S       total search time in seconds (default 120)\n"
            "  --out FILE       tuning file to update (default: $CHIPBENCH_TUNING, else\n"
            "                   ~/.cache/chipbench/opencl-tuning.csv; `run` reads both)\n"
            "  --shape S        representative shape, one per class (repeatable; GEMM\n"
            "                   default 256^3, 1024^3 and 2048^3 on CPUs, 4096^3 elsewhere;\n"
            "                   attention default b=1,h=4,s=512 on CPUs, b=4,h=16,s=2048\n"
            "                   elsewhere, d=64 and d=128)\n"
            "The budget is shared by the classes of all ops tuned.\n");
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
    int nshapes = 0, want_gemm = 0, want_attn = 0, have_op = 0;
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
        // An empty value is a slip (an unset shell variable), never a choice:
        // `--out ''` would otherwise write the default tuning file.
        if (!*v) {
            fprintf(stderr, "chipbench tune: %s needs a value, got an empty one\n", a);
            return 2;
        }
        if (!strcmp(a, "--device")) {
            o.device = v;
        } else if (!strcmp(a, "--out")) {
            o.out = v;
        } else if (!strcmp(a, "--kernel")) {
            if (strcmp(v, "gemm_f32_opencl") && strcmp(v, "gemm_bf16_opencl") &&
                strcmp(v, "gemm_tf32_opencl")) {
                fprintf(stderr, "chipbench tune: --kernel %s is not tunable (gemm_f32_opencl, "
                        "gemm_bf16_opencl or gemm_tf32_opencl)\n", v);
                return 2;
            }
            o.gemm_kernel = v;
        } else if (!strcmp(a, "--op")) {
            have_op = 1;
            want_gemm = !strcmp(v, "gemm") || !strcmp(v, "all");
            want_attn = !strcmp(v, "attention") || !strcmp(v, "all");
            if (!want_gemm && !want_attn) {
                fprintf(stderr, "chipbench tune: --op is gemm, attention or all, got '%s'\n",
                        v);
                return 2;
            }
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
                (shapes[nshapes].op != CB_OP_GEMM && shapes[nshapes].op != CB_OP_ATTN)) {
                fprintf(stderr, "chipbench tune: --shape %s: %s\n", v,
                        cb_error_text()[0] ? cb_error_text()
                                           : "not a GEMM or attention shape");
                return 2;
            }
            nshapes++;
        } else {
            fprintf(stderr, "chipbench tune: unknown option '%s' (see chipbench tune --help)\n",
                    a);
            return 2;
        }
    }
    // Shapes pick the ops; --op with shapes must agree with them.
    struct cb_call by_op[2][8];
    int nby[2] = {0, 0};
    for (int i = 0; i < nshapes; i++) {
        const int at = shapes[i].op == CB_OP_ATTN;
        by_op[at][nby[at]++] = shapes[i];
    }
    if (nshapes) {
        if (have_op && ((nby[0] && !want_gemm) || (nby[1] && !want_attn))) {
            fprintf(stderr, "chipbench tune: --shape gives %s shapes but --op leaves them out\n",
                    nby[0] && !want_gemm ? "GEMM" : "attention");
            return 2;
        }
        want_gemm = nby[0] > 0;
        want_attn = nby[1] > 0;
    } else if (!have_op) {
        want_gemm = 1;
    }
    // The budget is shared in proportion to the classes each op tunes.
    const int classes[2] = {want_gemm ? (nby[0] ? nby[0] : 3) : 0,
                            want_attn ? (nby[1] ? nby[1] : 2) : 0};
    const double total = o.budget_s;
    printf("%-5s %-24s %-48s %12s %12s %8s\n", "class", "shape", "params", "GFLOP/s",
           "default", "tried");
    int saved = 0, rc = 0;
    char path[1024] = "";
    for (int op = 0; op < 2; op++) {
        if (!classes[op])
            continue;
        struct cb_tune_result *res = NULL;
        int n = 0;
        o.shapes = nby[op] ? by_op[op] : NULL;
        o.nshapes = nby[op];
        o.budget_s = total * classes[op] / (classes[0] + classes[1]);
        enum cb_status s = op ? cb_tune_attn(&o, &res, &n, path, sizeof path)
                              : cb_tune_gemm(&o, &res, &n, path, sizeof path);
        if (s != CB_OK) {
            fprintf(stderr, "chipbench tune: %s\n", cb_error_text());
            rc = 1;
            continue;
        }
        for (int i = 0; i < n; i++)
            printf("%-5s %-24s %-48s %12.1f %12.1f %5d/%d\n", res[i].shape_class,
                   res[i].shape, res[i].params, res[i].gflops, res[i].default_gflops,
                   res[i].tried, res[i].tried + res[i].failed);
        saved += n;
        free(res);
    }
    if (saved)
        printf("saved %d entr%s to %s\n", saved, saved == 1 ? "y" : "ies", path);
    return rc;
}
