// cl_tune.c: the GEMM autotuner (cb_tune.h). Candidates come from the
// variant the device type calls for ("reg" on CPU devices, "tiled"
// elsewhere), ordered so the likeliest winners go first, and each is run
// through the ordinary harness row (verify against float64, then time) with
// a short sampling budget. The search of a class stops when its share of the
// budget is spent; the winner and the default's speed are both reported so
// the gain from tuning is visible.
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chipbench/cb_bench.h"
#include "chipbench/cb_shape.h"
#include "chipbench/cb_tune.h"
#include "chipbench/cb_util.h"
#include "cl_gemm.h"
#include "cl_tuning.h"
#include "clrt.h"

struct cand {
    struct cb_cl_gemm_params p;
    double rank;  // lower is tried first
};

// Valid per the kernel's constraints (the parser's check).
static enum cb_status params_ok(const struct cb_cl_gemm_params *p)
{
    char text[160];
    struct cb_cl_gemm_params q;
    cb_cl_gemm_params_str(p, text, sizeof text);
    return cb_cl_gemm_params_parse(text, &q);
}

static int cand_cmp(const void *x, const void *y)
{
    const struct cand *a = x, *b = y;
    return (a->rank > b->rank) - (a->rank < b->rank);
}

// Tiled space: TM, TN in {32, 64, 128, 256}, RM, RN in {4, 8}, TK in {8, 16, 32},
// LPAD in {0, 4}, WX in {0, 8}; ranked by how far the work-group is from 256 threads and
// the register tile from 8x8 (what GPUs of the last decade like).
static int tiled_space(const struct cb_clrt *rt, struct cand *out, int cap)
{
    static const int tms[] = {32, 64, 128, 256}, rs[] = {4, 8}, tks[] = {8, 16, 32}, pads[] = {4, 0},
                     wxs[] = {0, 8};
    int n = 0;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 2; c++)
                for (int d = 0; d < 2; d++)
                    for (int e = 0; e < 3; e++)
                        for (int f = 0; f < 2; f++)
                            for (int w = 0; w < 2; w++) {
                                struct cb_cl_gemm_params p = {
                                    .variant = CB_CL_GEMM_TILED, .tm = tms[a], .tn = tms[b],
                                    .rm = rs[c], .rn = rs[d], .tk = tks[e], .lpad = pads[f],
                                    .wx = wxs[w]};
                                int nt = (p.tm / p.rm) * (p.tn / p.rn);
                                if (nt < 32 || params_ok(&p) != CB_OK ||
                                    cb_cl_gemm_fits(rt, &p) != CB_OK) {
                                    cb_clear_error();
                                    continue;
                                }
                                if (n == cap)
                                    return n;
                                out[n].p = p;
                                out[n].rank = fabs(log2((double)nt) - 8.0) +
                                              fabs(log2((double)(p.rm * p.rn)) - 6.0) +
                                              0.5 * fabs(log2((double)p.tk) - 3.5) +
                                              (p.lpad ? 0.0 : 0.25) + (p.wx ? 0.1 : 0.0) +
                                              0.25 * fabs(log2((double)(p.tm * p.tn)) - 14.0);
                                n++;
                            }
    return n;
}

// Reg space: MR rows x NV vectors of VW floats, accumulators within a
// 32-register file, group LX x LY; ranked towards ~24 accumulators.
static int reg_space(const struct cb_clrt *rt, struct cand *out, int cap)
{
    static const int mrs[] = {4, 6, 8, 12, 14}, vws[] = {16, 8}, lxs[] = {1, 2, 4},
                     lys[] = {16, 8, 32};
    int n = 0;
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 2; b++)
            for (int nv = 1; nv <= 4; nv++)
                for (int c = 0; c < 3; c++)
                    for (int d = 0; d < 3; d++) {
                        struct cb_cl_gemm_params p = {.variant = CB_CL_GEMM_REG,
                                                      .mr = mrs[a], .vw = vws[b], .nv = nv,
                                                      .lx = lxs[c], .ly = lys[d]};
                        int acc = p.mr * p.nv;
                        if (acc + p.nv + 1 > 32 || acc < 8)
                            continue;
                        if (cb_cl_gemm_fits(rt, &p) != CB_OK) {
                            cb_clear_error();
                            continue;
                        }
                        if (n == cap)
                            return n;
                        out[n].p = p;
                        out[n].rank = fabs(acc - 24.0) / 4.0 + (p.vw == 16 ? 0.0 : 1.0) +
                                      0.5 * c + 0.3 * d;
                        n++;
                    }
    return n;
}

static double now_s(void)
{
    return cb_now_ns() * 1e-9;
}

static void say(const struct cb_tune_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const struct cb_tune_opts *o, const char *fmt, ...)
{
    if (!o->progress)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->progress(o->progress_ctx, line);
}

// Time one candidate (or the default when p is NULL) through the harness.
static enum cb_status try_params(const struct cb_tune_opts *o, const struct cb_kernel *k,
                                 const struct cb_call *shape,
                                 const struct cb_cl_gemm_params *p, double *gflops)
{
    struct cb_bench_opts bo;
    struct cb_result r;
    cb_bench_opts_default(&bo);
    bo.warmup_s = 0.03;
    bo.min_time_s = 0.1;
    bo.max_time_s = 0.4;
    bo.max_noise = 0.02;
    bo.min_samples = 3;
    bo.max_samples = 30;
    bo.device = o->device;
    cb_cl_gemm_force(p);
    enum cb_status s = cb_bench_row(k, shape, 1, &bo, &r);
    cb_cl_gemm_force(NULL);
    *gflops = s == CB_OK ? r.gflops : 0.0;
    if (s != CB_OK)
        cb_set_error(s, "%s", r.note);
    cb_result_free(&r);
    return s;
}

enum cb_status cb_tune_gemm(const struct cb_tune_opts *o, struct cb_tune_result **results,
                            int *nresults, char *written_path, size_t path_len)
{
    enum cb_status s = CB_OK;
    struct cb_clrt *rt = NULL;
    struct cand *cands = NULL;
    struct cb_tune_result *res = NULL;
    struct cb_cl_tuning_entry *ents = NULL;
    struct cb_call defaults[3];
    const struct cb_kernel *k = cb_registry_find("gemm_f32_opencl");
    *results = NULL;
    *nresults = 0;
    if (!k)
        return cb_set_error(CB_ERR_UNSUPPORTED, "gemm_f32_opencl is not built in");
    if (!(o->budget_s > 0))
        return cb_set_error(CB_ERR_INVALID_ARG, "tune budget must be > 0 seconds");
    CB_TRY(cb_clrt_open(o->device, &rt));
    int cpu = !strcmp(rt->info.type, "cpu");

    const struct cb_call *shapes = o->shapes;
    int nshapes = o->nshapes;
    if (!shapes || nshapes <= 0) {
        // One shape per class; GPUs are tuned for "l" at 4096 (the float64
        // check of every candidate at 8192 would eat the budget).
        static const char *const cpu_shapes[] = {"256x256x256", "1024x1024x1024",
                                                 "2048x2048x2048"};
        static const char *const dev_shapes[] = {"256x256x256", "1024x1024x1024",
                                                 "4096x4096x4096"};
        for (int i = 0; i < 3; i++)
            CB_TRY(cb_shape_parse(cpu ? cpu_shapes[i] : dev_shapes[i], &defaults[i]));
        shapes = defaults;
        nshapes = 3;
    }
    for (int i = 0; i < nshapes; i++)
        if (shapes[i].op != CB_OP_GEMM) {
            s = cb_set_error(CB_ERR_INVALID_ARG, "tune: only GEMM shapes are tuned");
            goto out;
        }
    cands = calloc(1024, sizeof *cands);
    res = calloc((size_t)nshapes, sizeof *res);
    ents = calloc((size_t)nshapes, sizeof *ents);
    if (!cands || !res || !ents) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "tuner state");
        goto out;
    }
    int ncand = cpu ? reg_space(rt, cands, 1024) : tiled_space(rt, cands, 1024);
    qsort(cands, (size_t)ncand, sizeof *cands, cand_cmp);
    say(o, "tuning gemm_f32_opencl on %s (%s, driver %s): %d candidates, %.0f s budget",
        rt->label, rt->info.type, rt->info.driver_version, ncand, o->budget_s);

    time_t now = time(NULL);
    struct tm tmv;
    char stamp[32];
    gmtime_r(&now, &tmv);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tmv);

    if (o->out && *o->out)
        snprintf(written_path, path_len, "%s", o->out);
    else
        CB_TRY(cb_tune_default_path(written_path, path_len));

    double t_start = now_s();
    for (int si = 0; si < nshapes; si++) {
        struct cb_tune_result *tr = &res[si];
        const struct cb_call *shape = &shapes[si];
        snprintf(tr->shape_class, sizeof tr->shape_class, "%s",
                 cb_cl_gemm_shape_class(&shape->u.gemm));
        cb_shape_format(shape, tr->shape, sizeof tr->shape);
        // Each class gets an equal share of what is left.
        double deadline = now_s() + (o->budget_s - (now_s() - t_start)) / (nshapes - si);
        double g;
        if (try_params(o, k, shape, NULL, &g) == CB_OK)
            tr->default_gflops = g;
        else
            cb_clear_error();
        say(o, "class %s %s: default %.1f GFLOP/s", tr->shape_class, tr->shape,
            tr->default_gflops);
        for (int c = 0; c < ncand && now_s() < deadline; c++) {
            char text[160];
            cb_cl_gemm_params_str(&cands[c].p, text, sizeof text);
            if (try_params(o, k, shape, &cands[c].p, &g) != CB_OK) {
                tr->failed++;
                say(o, "  %3d/%d %-48s rejected: %.160s", c + 1, ncand, text, cb_error_text());
                cb_clear_error();
                continue;
            }
            tr->tried++;
            if (g > tr->gflops) {
                tr->gflops = g;
                snprintf(tr->params, sizeof tr->params, "%s", text);
            }
            say(o, "  %3d/%d %-48s %9.1f GFLOP/s  (best %.1f)", c + 1, ncand, text, g,
                tr->gflops);
        }
        if (!tr->params[0]) {
            say(o, "class %s: no candidate passed; nothing saved for it", tr->shape_class);
            continue;
        }
        struct cb_cl_tuning_entry *e = &ents[*nresults];
        snprintf(e->vendor, sizeof e->vendor, "%s", rt->info.vendor);
        snprintf(e->device, sizeof e->device, "%s", rt->info.name);
        snprintf(e->driver, sizeof e->driver, "%s", rt->info.driver_version);
        snprintf(e->kernel, sizeof e->kernel, "gemm_f32_opencl");
        snprintf(e->shape_class, sizeof e->shape_class, "%s", tr->shape_class);
        snprintf(e->params, sizeof e->params, "%s", tr->params);
        e->gflops = tr->gflops;
        snprintf(e->tuned_utc, sizeof e->tuned_utc, "%s", stamp);
        res[*nresults] = *tr;
        ++*nresults;
        // Saved class by class: an interrupted search keeps what it found.
        CB_TRY(cb_cl_tuning_save(written_path, e, 1));
    }
    if (*nresults == 0) {
        s = cb_set_error(CB_ERR_VERIFY, "tune: no candidate passed verification");
        goto out;
    }
    *results = res;
    res = NULL;
out:
    free(cands);
    free(res);
    free(ents);
    if (s != CB_OK)
        *nresults = 0;
    return s;
}
