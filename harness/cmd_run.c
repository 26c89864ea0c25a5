// cmd_run.c: `chipbench run`: pick kernels x shapes x threads, run each row
// through the harness, print a table, write the CSV row by row. With
// --rounds N the kernels of one shape and thread count take turns N times
// and their rows are printed and written after the last round.
//
// Exit codes: 0 every row ok or skipped with a reason; 1 a row failed
// verification or errored, or results could not be written; 2 usage error;
// 130 interrupted (every finished row is in the CSV).
//
// Under an MPI launcher (mpirun -np N) every rank runs the same rows, the
// all-reduce rows as one collective; rank 0 alone prints and writes the CSV.
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_bench.h"
#include "chipbench/cb_cpu.h"
#include "chipbench/cb_info.h"
#include "chipbench/cb_mpi.h"
#include "chipbench/cb_power.h"
#include "chipbench/cb_result_csv.h"
#include "chipbench/cb_shape.h"
#include "chipbench/cb_step.h"
#include "chipbench/cb_topo.h"
#include "commands.h"

#define MAX_SHAPES 256
#define MAX_PATTERNS 32
#define MAX_THREADS 16

struct run_cfg {
    const struct cb_suite *suite;
    int have_op, have_dtype;
    enum cb_op op;
    enum cb_dtype dtype;
    const char *patterns[MAX_PATTERNS];
    int npatterns;
    char *pattern_buf;
    struct cb_call shapes[MAX_SHAPES];
    int nshapes;
    int threads[MAX_THREADS];
    int nthreads;
    const char *csv;
    struct cb_bench_opts opts;
    int set_min_time, set_max_time, set_max_noise;
    int have_seed;
    int explicit_threads;
    const char *model;        // --suite training
    int batch, seq;
    int rounds;               // --rounds (1)
};

static void run_usage(FILE *f)
{
    fprintf(f,
        "usage: chipbench run [options]\n"
        "Verify, then time kernels over shapes and thread counts.\n\n"
        "  --suite NAME        shape set: quick (default without --shape), standard, gemm,\n"
        "                      attention (forward and backward kernels), training (the\n"
        "                      distinct shapes of one training step of --model),\n"
        "                      allreduce (4 KiB-256 MiB, under mpirun -np N)\n"
        "  --model NAME|FILE   with --suite training: gpt2-124m, gpt2-1.5b, llama3.2-1b,\n"
        "                      llama3-8b or a model file (README, Cost per training step)\n"
        "  --batch B, --seq T  micro-batch and sequence length of the step (4, min(ctx, 1024))\n"
        "  --op OP             gemm | attention | attention_bwd | stream | allreduce\n"
        "  --kernel PAT[,PAT]  kernel name patterns, '*' and '?' wildcards (repeatable)\n"
        "  --dtype T           f32 | f16 | bf16\n"
        "  --shape S           GEMM MxNxK[:nn|nt|tn|tt][,lda=,ldb=,ldc=,alpha=,beta=]\n"
        "                      attention b=B,h=H,kvh=HKV,s=L|sq=,skv=,d=D,causal=0|1[,scale=]\n"
        "                      stream:n=N; allreduce:bytes=N[K|M|G] (per rank)\n"
        "                      (repeatable; replaces the suite's shapes)\n"
        "  --threads N[,N]     thread counts (default: 1 and the physical core count)\n"
        "  --device DEV        device for OpenCL kernels (e.g. opencl:0:0)\n"
        "  --csv FILE          write results (atomically, row by row)\n"
        "  --min-time S        measured seconds before the noise rule may stop (0.5)\n"
        "  --max-time S        sampling budget per row in seconds (10)\n"
        "  --max-noise F       stop when stddev/mean <= F (0.01)\n"
        "  --min-samples N     samples before the noise rule may stop (10)\n"
        "  --max-samples N     hard cap on samples per row (200)\n"
        "  --rounds N          measure each shape and thread count in N rounds, its\n"
        "                      kernels round-robin (A B C, C B A, ...; each round a\n"
        "                      full sampling under --min/--max-time) and report ours /\n"
        "                      baseline as the median of the rounds' ratios: a drifting\n"
        "                      machine then moves both sides of each ratio (1)\n"
        "  --warmup S          untimed warm-up seconds (0.1)\n"
        "  --cache MODE        rotate (default: inputs rotate through >2x LLC) | hot\n"
        "  --seed N            input data seed (default: fresh each run, recorded)\n"
        "  --power MODE        auto (default: energy from the counter of what the row runs\n"
        "                      on, samples stretched to its minimum window) | off\n"
        "  --power-cmd CMD     external meter: CMD prints \"TIME WATTS\" lines (TIME in\n"
        "                      epoch seconds); integrated over each timed window\n"
        "  --power-window S    minimum energy window in seconds (default: per source)\n"
        "  --idle-seconds S    measure idle power once per source first (idle_power_w,\n"
        "                      dynamic_energy_j); default 0: no idle measurement\n"
        "Environment: CHIPBENCH_ISA=avx2|avx512|ref|... caps the ISA; CHIPBENCH_KERNEL\n"
        "forces the default kernel for its op; CHIPBENCH_POWER=off is --power off.\n");
}

static int usage_error(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "chipbench run: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, " (see chipbench run --help)\n");
    return 2;
}

static int parse_double_opt(const char *name, const char *v, double lo, double hi, double *out)
{
    if (cb_parse_f64(v, lo, hi, out) != CB_OK) {
        fprintf(stderr, "chipbench run: %s: %s (see chipbench run --help)\n", name,
                cb_error_text());
        return 2;
    }
    return 0;
}

static int parse_int_opt(const char *name, const char *v, int64_t lo, int64_t hi, int *out)
{
    int64_t x;
    if (cb_parse_i64(v, lo, hi, &x) != CB_OK) {
        fprintf(stderr, "chipbench run: %s: %s (see chipbench run --help)\n", name,
                cb_error_text());
        return 2;
    }
    *out = (int)x;
    return 0;
}

static int add_threads(struct run_cfg *c, const char *v)
{
    char buf[128];
    size_t n = strlen(v);
    // strtok_r would skip empty items ("1,,2") and a cut copy would change
    // the numbers: both are typos to report.
    if (n >= sizeof buf || v[0] == ',' || (n && v[n - 1] == ',') || strstr(v, ",,"))
        return usage_error("--threads is a list of numbers like 1,2,4, got '%s'%s", v, "");
    cb_strlcpy(buf, v, sizeof buf);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (c->nthreads >= MAX_THREADS)
            return usage_error("too many --threads values (max %s)%s", "16", "");
        if (parse_int_opt("--threads", t, 1, 4096, &c->threads[c->nthreads]))
            return 2;
        c->nthreads++;
    }
    if (!c->nthreads)
        return usage_error("--threads needs a number%s%s", "", "");
    return 0;
}

static int add_patterns(struct run_cfg *c, char *v)
{
    char *save = NULL;
    for (char *p = strtok_r(v, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (c->npatterns >= MAX_PATTERNS)
            return usage_error("too many --kernel patterns%s%s", "", "");
        c->patterns[c->npatterns++] = p;
    }
    return 0;
}

// Returns 0, or an exit code.
static int parse_args(int argc, char **argv, struct run_cfg *c, char **kernel_args, int *nka)
{
    cb_bench_opts_default(&c->opts);
    c->rounds = 1;
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i], *val = NULL;
        char name[64];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            run_usage(stdout);
            return -1;
        }
        if (strncmp(arg, "--", 2) != 0)
            return usage_error("unexpected argument '%s'%s", arg, "");
        char *eq = strchr(arg, '=');
        size_t nl = eq ? (size_t)(eq - arg) : strlen(arg);
        if (nl >= sizeof name)
            return usage_error("unknown option '%s'%s", arg, "");
        memcpy(name, arg, nl);
        name[nl] = 0;
        static const char *const opts[] = {
            "--suite", "--op", "--kernel", "--dtype", "--shape", "--threads", "--device",
            "--csv", "--min-time", "--max-time", "--max-noise", "--min-samples",
            "--max-samples", "--warmup", "--cache", "--seed", "--power", "--power-cmd",
            "--power-window", "--idle-seconds", "--model", "--batch", "--seq", "--rounds",
            NULL};
        int known = 0;
        for (int j = 0; opts[j]; j++)
            known |= !strcmp(name, opts[j]);
        if (!known)
            return usage_error("unknown option '%s'%s", name, "");
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return usage_error("%s needs a value%s", name, "");
        // An empty value is a slip (an unset shell variable), never a choice:
        // `--kernel ''` would otherwise select every kernel.
        if (!*val)
            return usage_error("%s needs a value, got an empty one%s", name, "");

        if (!strcmp(name, "--suite")) {
            c->suite = cb_suite_find(val);
            if (!c->suite)
                return usage_error("unknown suite '%s' (quick, standard, gemm, attention, "
                                   "training, allreduce)%s",
                                   val, "");
        } else if (!strcmp(name, "--op")) {
            if (cb_op_parse(val, &c->op) != CB_OK)
                return usage_error("%s%s", cb_error_text(), "");
            c->have_op = 1;
        } else if (!strcmp(name, "--dtype")) {
            if (cb_dtype_parse(val, &c->dtype) != CB_OK)
                return usage_error("%s%s", cb_error_text(), "");
            c->have_dtype = 1;
        } else if (!strcmp(name, "--kernel")) {
            kernel_args[(*nka)++] = val;
        } else if (!strcmp(name, "--shape")) {
            if (c->nshapes >= MAX_SHAPES)
                return usage_error("too many --shape options%s%s", "", "");
            if (cb_shape_parse(val, &c->shapes[c->nshapes]) != CB_OK)
                return usage_error("%s%s", cb_error_text(), "");
            c->nshapes++;
        } else if (!strcmp(name, "--threads")) {
            if (add_threads(c, val))
                return 2;
        } else if (!strcmp(name, "--device")) {
            c->opts.device = val;
        } else if (!strcmp(name, "--csv")) {
            if (!*val)
                return usage_error("--csv needs a file name%s%s", "", "");
            c->csv = val;
        } else if (!strcmp(name, "--min-time")) {
            if (parse_double_opt(name, val, 0, 3600, &c->opts.min_time_s))
                return 2;
            c->set_min_time = 1;
        } else if (!strcmp(name, "--max-time")) {
            if (parse_double_opt(name, val, 0.001, 86400, &c->opts.max_time_s))
                return 2;
            c->set_max_time = 1;
        } else if (!strcmp(name, "--max-noise")) {
            if (parse_double_opt(name, val, 0, 1, &c->opts.max_noise))
                return 2;
            c->set_max_noise = 1;
        } else if (!strcmp(name, "--min-samples")) {
            if (parse_int_opt(name, val, 1, 100000, &c->opts.min_samples))
                return 2;
        } else if (!strcmp(name, "--max-samples")) {
            if (parse_int_opt(name, val, 3, 100000, &c->opts.max_samples))
                return 2;
        } else if (!strcmp(name, "--rounds")) {
            if (parse_int_opt(name, val, 1, CB_MAX_ROUNDS, &c->rounds))
                return 2;
        } else if (!strcmp(name, "--warmup")) {
            if (parse_double_opt(name, val, 0, 3600, &c->opts.warmup_s))
                return 2;
        } else if (!strcmp(name, "--cache")) {
            if (strcmp(val, "rotate") && strcmp(val, "hot"))
                return usage_error("--cache is rotate or hot, got '%s'%s", val, "");
            c->opts.rotate = !strcmp(val, "rotate");
        } else if (!strcmp(name, "--power")) {
            if (strcmp(val, "auto") && strcmp(val, "off"))
                return usage_error("--power is auto or off, got '%s'%s", val, "");
            c->opts.power.enabled = !strcmp(val, "auto");
        } else if (!strcmp(name, "--power-cmd")) {
            if (!*val)
                return usage_error("--power-cmd needs a command%s%s", "", "");
            c->opts.power.cmd = val;
            c->opts.power.enabled = 1;
        } else if (!strcmp(name, "--power-window")) {
            if (parse_double_opt(name, val, 0, 86400, &c->opts.power.min_window_s))
                return 2;
        } else if (!strcmp(name, "--idle-seconds")) {
            if (parse_double_opt(name, val, 0, 3600, &c->opts.power.idle_s))
                return 2;
        } else if (!strcmp(name, "--model")) {
            c->model = val;
        } else if (!strcmp(name, "--batch")) {
            if (parse_int_opt(name, val, 1, 1 << 20, &c->batch))
                return 2;
        } else if (!strcmp(name, "--seq")) {
            if (parse_int_opt(name, val, 1, 1 << 24, &c->seq))
                return 2;
        } else if (!strcmp(name, "--seed")) {
            int64_t x;
            if (cb_parse_i64(val, 0, INT64_MAX, &x) != CB_OK)
                return usage_error("--seed: %s%s", cb_error_text(), "");
            c->opts.seed = (uint64_t)x;
            c->have_seed = 1;
        }
    }
    if (c->opts.min_samples > c->opts.max_samples)
        return usage_error("--min-samples is larger than --max-samples%s%s", "", "");
    int training = c->suite && !strcmp(c->suite->name, "training");
    if (training != (c->model != NULL))
        return usage_error("%s%s", training ? "--suite training needs --model NAME"
                           : "--model, --batch and --seq go with --suite training", "");
    if (!training && (c->batch || c->seq))
        return usage_error("--batch and --seq go with --suite training%s%s", "", "");
    return 0;
}

// --suite training: the distinct GEMM and attention shapes of the model's
// step (an attention shape feeds the forward and the backward kernels),
// each timed once; stderr says how often the step calls it.
static int training_shapes(struct run_cfg *c)
{
    struct cb_model m;
    static struct cb_step st;  // large; one per process
    if (cb_model_load(c->model, &m) != CB_OK) {
        fprintf(stderr, "chipbench run: %s\n", cb_error_text());
        return 2;
    }
    int64_t T = c->seq ? c->seq : (m.ctx < 1024 ? m.ctx : 1024), B = c->batch ? c->batch : 4;
    if (cb_step_build(&m, B, T, c->have_dtype ? c->dtype : CB_DTYPE_F32, &st) != CB_OK) {
        fprintf(stderr, "chipbench run: %s\n", cb_error_text());
        return 2;
    }
    fprintf(stderr, "training step of %s, B=%lld T=%lld: identical layers are timed once "
            "and counted %lld times\n", m.name, (long long)B, (long long)T,
            (long long)m.n_layer);
    for (int i = 0; i < st.n; i++) {
        if (!cb_step_first_of_shape(&st, i))
            continue;
        char text[160];
        int64_t calls = 0;
        cb_shape_format(&st.items[i].call, text, sizeof text);
        for (int j = 0; j < st.n; j++) {
            char other[160];
            if (!st.items[j].compute || st.items[j].call.op != st.items[i].call.op)
                continue;
            cb_shape_format(&st.items[j].call, other, sizeof other);
            calls += strcmp(text, other) ? 0 : st.items[j].count;
        }
        fprintf(stderr, "  %-36s %-10s x%-4lld (%s)\n", text, cb_op_name(st.items[i].call.op),
                (long long)calls, st.items[i].name);
        int dup = 0;
        for (int j = 0; j < c->nshapes; j++) {
            char have[160];
            cb_shape_format(&c->shapes[j], have, sizeof have);
            dup |= !strcmp(have, text);
        }
        if (!dup && c->nshapes < MAX_SHAPES && cb_shape_parse(text, &c->shapes[c->nshapes]) == CB_OK)
            c->nshapes++;
    }
    return 0;
}

// The first SIGINT/SIGTERM asks the run to stop after the current sample
// (the rows so far are kept). A second one kills at once, as users expect of
// a second Ctrl-C, but first removes the temp file of a results publish it
// may have interrupted (the previous results file is intact either way).
static void on_signal(int sig)
{
    if (!cb_interrupted) {
        cb_interrupted = 1;
        return;
    }
    cb_csv_signal_cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

static int kernel_selected(const struct run_cfg *c, const struct cb_kernel *k)
{
    if (c->have_op && k->op != c->op)
        return 0;
    if (c->have_dtype && k->dtype != c->dtype)
        return 0;
    if (!c->npatterns)
        return 1;
    for (int i = 0; i < c->npatterns; i++)
        if (cb_name_match(c->patterns[i], k->name))
            return 1;
    return 0;
}

// With the default thread list, single-threaded kernels (the references)
// run once at 1 thread instead of filling the table with skips; an explicit
// --threads still gets a visible skip row.
static int implicit_skip(const struct run_cfg *c, const struct cb_kernel *k, int threads)
{
    return !c->explicit_threads && k->max_threads > 0 && threads > k->max_threads;
}

static int named_exactly(const struct run_cfg *c, const struct cb_kernel *k)
{
    for (int i = 0; i < c->npatterns; i++)
        if (!strcmp(c->patterns[i], k->name))
            return 1;
    return 0;
}

static void print_header(void)
{
    printf("%-22s %-34s %3s %11s %10s %7s %5s %9s  %s\n", "kernel", "shape", "thr", "median_ms",
           "GFLOP/s", "noise%", "n", "max_err", "status");
}

static void print_row(const struct cb_result *r)
{
    char shape[160];
    cb_shape_format(&r->shape, shape, sizeof shape);
    if (r->status == CB_OK && r->shape.op == CB_OP_ALLREDUCE)  // no flops: bandwidths
        printf("%-22s %-34s %3d %11.4f %10s %7.2f %5d %9.2e  ok (algbw %.3f GB/s, busbw "
               "%.3f GB/s, %d ranks)\n", r->kernel->name, shape, r->threads,
               r->m.st.median * 1e-6, "-", r->m.st.noise * 100, r->m.nsamples, r->max_rel_err,
               r->gbytes_per_s, r->gbytes_per_s * cb_allreduce_bus_factor(cb_mpi_size()),
               cb_mpi_size());
    else if (r->status == CB_OK)
        printf("%-22s %-34s %3d %11.4f %10.2f %7.2f %5d %9.2e  ok\n", r->kernel->name, shape,
               r->threads, r->m.st.median * 1e-6, r->gflops, r->m.st.noise * 100,
               r->m.nsamples, r->max_rel_err);
    else
        printf("%-22s %-34s %3d %11s %10s %7s %5s %9s  %s: %s\n", r->kernel->name, shape,
               r->threads, "-", "-", "-", "-", "-", cb_result_status_word(r->status), r->note);
    fflush(stdout);
}

static int is_baseline(const struct cb_kernel *k)
{
    return k->backend == CB_BACKEND_OPENBLAS || k->backend == CB_BACKEND_ONEDNN ||
           k->backend == CB_BACKEND_CLBLAST;
}

// The ok row of baseline back-end `be` for the same op, dtype, shape and
// threads as r, or NULL.
static const struct cb_result *baseline_row(const struct cb_result *rows, int n,
                                            const struct cb_result *r, enum cb_backend be)
{
    char s1[160], s2[160];
    cb_shape_format(&r->shape, s1, sizeof s1);
    for (int j = 0; j < n; j++) {
        const struct cb_result *b = &rows[j];
        if (b->status != CB_OK || b->kernel->backend != be || b->kernel->op != r->kernel->op ||
            b->kernel->dtype != r->kernel->dtype || b->threads != r->threads)
            continue;
        cb_shape_format(&b->shape, s2, sizeof s2);
        if (!strcmp(s1, s2))
            return b;
    }
    return NULL;
}

// Baselines a kernel is measured against: the CPU libraries for CPU
// kernels, CLBlast (same device) for OpenCL kernels; a device row's
// `threads` says nothing about the cores it used.
static const enum cb_backend bl[] = {CB_BACKEND_OPENBLAS, CB_BACKEND_ONEDNN, CB_BACKEND_CLBLAST};
#define NBL 3

static const struct cb_result *baseline_for(const struct cb_result *rows, int n,
                                            const struct cb_result *r, int b)
{
    int device = r->kernel->backend == CB_BACKEND_OPENCL;
    if (device != (bl[b] == CB_BACKEND_CLBLAST))
        return NULL;
    return baseline_row(rows, n, r, bl[b]);
}

// ours / baseline: with rounds on both rows, the median over the rounds of
// each round's ratio (the two ran seconds apart, so the machine's drift
// over the run cancels); otherwise the ratio of the rows' medians.
static double ours_over_base(const struct cb_result *ours, const struct cb_result *base)
{
    int n = ours->rounds < base->rounds ? ours->rounds : base->rounds;
    if (n < 2)
        return ours->gflops / base->gflops;
    double q[CB_MAX_ROUNDS];
    for (int i = 0; i < n; i++)
        q[i] = base->round_ns[i] / ours->round_ns[i];
    return cb_median(q, n);
}

// Every ok row of our own kernels against its baselines of the same op,
// dtype, shape and threads in this run, then the worst and the geometric
// mean per kernel and thread count.
static void print_ratios(const struct cb_result *rows, int n, int rounds)
{
    int header = 0;
    for (int i = 0; i < n; i++) {
        const struct cb_result *r = &rows[i];
        if (r->status != CB_OK || is_baseline(r->kernel))
            continue;
        const struct cb_result *base[NBL];
        int any = 0;
        for (int b = 0; b < NBL; b++)
            any |= (base[b] = baseline_for(rows, n, r, b)) != NULL;
        if (!any)
            continue;
        if (!header) {
            if (rounds > 1)
                printf("\nours / baseline in this run (median over %d rounds of each round's "
                       "ratio; > 1 means ours is faster):\n", rounds);
            else
                printf("\nours / baseline in this run (GFLOP/s of medians; > 1 means ours is "
                       "faster):\n");
            printf("  %-24s %-34s %3s %12s %12s %12s\n", "kernel", "shape", "thr", "/ openblas",
                   "/ onednn", "/ clblast");
            header = 1;
        }
        char shape[160], x[NBL][16];
        cb_shape_format(&r->shape, shape, sizeof shape);
        for (int b = 0; b < NBL; b++) {
            if (base[b])
                snprintf(x[b], sizeof x[b], "%.3f", ours_over_base(r, base[b]));
            else
                snprintf(x[b], sizeof x[b], "-");
        }
        printf("  %-24s %-34s %3d %12s %12s %12s\n", r->kernel->name, shape, r->threads, x[0],
               x[1], x[2]);
    }
    if (!header)
        return;
    printf("\nsummary per kernel and threads: min and geometric mean of the ratios\n");
    for (int i = 0; i < n; i++) {
        const struct cb_result *r = &rows[i];
        int first = 1;
        if (r->status != CB_OK || is_baseline(r->kernel))
            continue;
        for (int j = 0; j < i; j++)  // report each (kernel, threads) once
            if (rows[j].status == CB_OK && rows[j].kernel == r->kernel &&
                rows[j].threads == r->threads)
                first = 0;
        if (!first)
            continue;
        printf("  %-24s t=%-3d", r->kernel->name, r->threads);
        for (int b = 0; b < NBL; b++) {
            double lmin = 1e300, lsum = 0;
            int cnt = 0;
            for (int j = 0; j < n; j++) {
                const struct cb_result *x = &rows[j];
                if (x->status != CB_OK || x->kernel != r->kernel || x->threads != r->threads)
                    continue;
                const struct cb_result *base = baseline_for(rows, n, x, b);
                if (!base)
                    continue;
                double q = ours_over_base(x, base);
                lmin = q < lmin ? q : lmin;
                lsum += log(q);
                cnt++;
            }
            if (cnt)
                printf("  / %-8s min %.3f gmean %.3f (%d shapes)", cb_backend_name(bl[b]), lmin,
                       exp(lsum / cnt), cnt);
        }
        printf("\n");
    }
}

// One (kernel, shape, threads) measurement into r. In a suite, reference
// kernels above its flop bound are skipped unless named; OpenBLAS rows
// carry blas_note (said once on stderr).
static void measure_row(const struct run_cfg *c, int from_suite, const struct cb_kernel *k,
                        const struct cb_call *shape, int threads, const struct cb_bench_opts *o,
                        const char *blas_note, int *blas_said, struct cb_result *r)
{
    if (from_suite && k->backend == CB_BACKEND_REF && !named_exactly(c, k) &&
        cb_call_flops(shape) > c->suite->ref_max_flops) {
        memset(r, 0, sizeof *r);
        r->kernel = k;
        r->shape = *shape;
        r->threads = threads;
        r->status = CB_ERR_UNSUPPORTED;
        snprintf(r->note, sizeof r->note, "reference kernel skipped in suites above "
                 "%.3g flops per call; name it with --kernel to run it",
                 c->suite->ref_max_flops);
    } else {
        cb_bench_row(k, shape, threads, o, r);
    }
    if (k->backend == CB_BACKEND_OPENBLAS && blas_note[0] && r->status == CB_OK) {
        if (!(*blas_said)++)
            fprintf(stderr, "chipbench run: note: %s\n", blas_note);
        // Before what the note held (e.g. why no power reading), which
        // the note's size may cut short.
        char had[sizeof r->note];
        memcpy(had, r->note, sizeof had);
        size_t n = strlen(blas_note);
        memcpy(r->note, blas_note, n + 1);
        if (had[0] && n + 2 < sizeof r->note) {
            memcpy(r->note + n, "; ", 3);
            n += 2;
            size_t m = strnlen(had, sizeof had - 1);
            m = m < sizeof r->note - 1 - n ? m : sizeof r->note - 1 - n;
            memcpy(r->note + n, had, m);
            r->note[n + m] = 0;
        }
    }
}

struct row_out {
    struct cb_csv_writer *w;
    const struct cb_context *ctx;
    struct cb_strbuf *arena;
    const char **cells;
    int failed, skipped, halt;  // halt: the CSV could not be written
};

// A finished row: counted in *nrows, printed, written.
static void emit_row(struct row_out *o, const struct cb_result *r, int *nrows)
{
    (*nrows)++;
    print_row(r);
    o->failed += r->status != CB_OK && r->status != CB_ERR_UNSUPPORTED;
    o->skipped += r->status == CB_ERR_UNSUPPORTED;
    if (o->w && (cb_result_cells(o->ctx, r, o->arena, o->cells) != CB_OK ||
                 cb_csv_write_row(o->w, o->cells, cb_result_ncolumns) != CB_OK)) {
        fprintf(stderr, "chipbench run: cannot write results: %s\n", cb_error_text());
        o->halt = 1;  // the next row's agreement stops every rank
    }
}

int cb_cmd_run(int argc, char **argv)
{
    struct run_cfg *c = calloc(1, sizeof *c);
    char **kernel_args = calloc((size_t)argc + 1, sizeof *kernel_args);
    struct cb_result *rows = NULL;
    struct cb_csv_writer *w = NULL;
    struct cb_strbuf arena = {0};
    const char **cells = NULL;
    int nka = 0, rc = 0, nrows = 0, failed = 0, skipped = 0;
    if (!c || !kernel_args) {
        fprintf(stderr, "chipbench run: out of memory\n");
        free(c);
        free(kernel_args);
        return 1;
    }
    rc = parse_args(argc, argv, c, kernel_args, &nka);
    if (rc) {
        rc = rc < 0 ? 0 : rc;
        goto out;
    }
    size_t plen = 0;
    for (int i = 0; i < nka; i++)
        plen += strlen(kernel_args[i]) + 1;
    c->pattern_buf = malloc(plen + 1);
    if (!c->pattern_buf) {
        rc = 1;
        goto out;
    }
    for (int i = 0, off = 0; i < nka; i++) {
        strcpy(c->pattern_buf + off, kernel_args[i]);
        if (add_patterns(c, c->pattern_buf + off)) {
            rc = 2;
            goto out;
        }
        off += (int)strlen(kernel_args[i]) + 1;
    }
    if (cb_cpu_env_cap_status() != CB_OK) {
        fprintf(stderr, "chipbench run: %s\n", cb_error_text());
        rc = 2;
        goto out;
    }
    // Started by mpirun/srun: join the job. Ranks other than 0 run every row
    // (the collectives need them) but print and write nothing.
    if (cb_mpi_launched()) {
        if (cb_mpi_init() != CB_OK) {
            fprintf(stderr, "chipbench run: %s\n", cb_error_text());
            rc = 1;
            goto out;
        }
        if (cb_mpi_rank() != 0) {
            c->csv = NULL;
            if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
                clearerr(stdout);  // output stays where it was; nothing to undo
        }
    }

    // Shapes: explicit --shape, else the suite's (quick by default).
    int from_suite = c->nshapes == 0;
    if (from_suite && c->model) {
        if ((rc = training_shapes(c)) != 0)
            goto out;
    } else if (from_suite) {
        if (!c->suite)  // --op allreduce alone: its own sizes
            c->suite = cb_suite_find(c->have_op && c->op == CB_OP_ALLREDUCE ? "allreduce"
                                                                            : "quick");
        for (const char *const *s = c->suite->shapes; *s && c->nshapes < MAX_SHAPES; s++)
            if (cb_shape_parse(*s, &c->shapes[c->nshapes]) == CB_OK)
                c->nshapes++;
    }
    if (c->suite) {
        if (!c->set_min_time)
            c->opts.min_time_s = c->suite->min_time_s;
        if (!c->set_max_time)
            c->opts.max_time_s = c->suite->max_time_s;
        if (!c->set_max_noise)
            c->opts.max_noise = c->suite->max_noise;
    }
    c->explicit_threads = c->nthreads > 0;
    if (!c->nthreads) {
        c->threads[c->nthreads++] = 1;
        int cores = cb_topo_get()->cores;
        if (cores > 1)
            c->threads[c->nthreads++] = cores > MAX_THREADS ? MAX_THREADS : cores;
    }
    if (!c->have_seed)
        c->opts.seed = cb_fresh_seed() & INT64_MAX;

    // Which kernels: the patterns must each match something.
    int nk = cb_registry_count(), any = 0;
    for (int i = 0; i < c->npatterns; i++) {
        int hit = 0;
        for (int j = 0; j < nk; j++)
            hit |= cb_name_match(c->patterns[i], cb_registry_get(j)->name);
        if (!hit) {
            rc = usage_error("--kernel '%s' matches no kernel; chipbench list shows them%s",
                             c->patterns[i], "");
            goto out;
        }
    }
    int total = 0;
    for (int s = 0; s < c->nshapes; s++)
        for (int j = 0; j < nk; j++) {
            const struct cb_kernel *k = cb_registry_get(j);
            for (int t = 0; t < c->nthreads; t++)
            {
                struct cb_call as;
                total += cb_shape_as_op(&c->shapes[s], k->op, &as) && kernel_selected(c, k) &&
                         !implicit_skip(c, k, c->threads[t]);
            }
        }
    for (int j = 0; j < nk; j++)
        any |= kernel_selected(c, cb_registry_get(j));
    if (!total) {
        rc = usage_error(any ? "no selected kernel fits the selected shapes%s%s"
                             : "no kernel matches the filters%s%s", "", "");
        goto out;
    }

    rows = calloc((size_t)total, sizeof *rows);
    cells = calloc((size_t)cb_result_ncolumns, sizeof *cells);
    if (!rows || !cells) {
        fprintf(stderr, "chipbench run: out of memory\n");
        rc = 1;
        goto out;
    }
    struct cb_context ctx;
    cb_context_init(&ctx, c->opts.seed);
    if (c->csv && cb_csv_open(c->csv, cb_result_columns, cb_result_ncolumns, &w) != CB_OK) {
        fprintf(stderr, "chipbench run: cannot write results: %s\n", cb_error_text());
        rc = 1;
        goto out;
    }

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;  // a second Ctrl-C kills at once (on_signal)
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    fprintf(stderr, "chipbench %s: %d rows, seed %s, %s; %s\n", CB_VERSION, total, ctx.seed,
            ctx.chip_class, c->csv ? c->csv : "no --csv: results not saved");
    print_header();
    // The loops stop on `stop` alone, which every rank agrees on before each
    // row (cb_mpi_max; this process's own flags without MPI): a rank that saw
    // Ctrl-C, or rank 0 failing to write, must not leave the others waiting
    // in a collective.
    int stop = 0, halt = 0;  // halt: results not writable or MPI failed: exit 1
    // OpenBLAS on narrower vectors than the CPU has (cb_blas_core_note): said
    // once on stderr and kept in each OpenBLAS row's note, so a CSV read on
    // another machine still says what its baseline ran on.
    char blas_note[400];
    int blas_said = 0;
    cb_blas_core_note(cb_blas_core(), cb_cpu_features(), blas_note, sizeof blas_note);
    struct row_out ro = {.w = w, .ctx = &ctx, .arena = &arena, .cells = cells};
    int *group = calloc((size_t)nk, sizeof *group), *done = calloc((size_t)nk, sizeof *done);
    struct cb_call *gshape = calloc((size_t)nk, sizeof *gshape);
    if (!group || !done || !gshape) {
        free(group);
        free(done);
        free(gshape);
        fprintf(stderr, "chipbench run: out of memory\n");
        rc = 1;
        goto out;
    }
    for (int s = 0; s < c->nshapes && !stop; s++)
        for (int t = 0; t < c->nthreads && !stop; t++) {
            // The group: every selected kernel that takes this shape and
            // thread count. Its rows are rows[g0 .. g0+ng); with --rounds
            // they are printed and written once the last round is done.
            int ng = 0;
            const int g0 = nrows;
            for (int j = 0; j < nk; j++) {
                const struct cb_kernel *k = cb_registry_get(j);
                if (cb_shape_as_op(&c->shapes[s], k->op, &gshape[ng]) && kernel_selected(c, k) &&
                    !implicit_skip(c, k, c->threads[t]))
                    group[ng++] = j;
            }
            memset(done, 0, (size_t)nk * sizeof *done);
            for (int round = 0; round < c->rounds && !stop; round++)
                for (int x = 0; x < ng && !stop; x++) {
                    // Odd rounds run the group backwards: a steady drift of
                    // the machine's speed then favours no kernel.
                    const int g = round % 2 ? ng - 1 - x : x;
                    const struct cb_kernel *k = cb_registry_get(group[g]);
                    struct cb_result *r = &rows[g0 + g];
                    if (round > 0 && (!done[g] || r->status != CB_OK))
                        continue;  // skipped or failed: one round says it
                    double why[2] = {cb_interrupted, halt};
                    if (cb_mpi_max(why, 2) != CB_OK) {
                        fprintf(stderr, "chipbench run: %s\n", cb_error_text());
                        why[1] = 1;
                    }
                    if (why[0] || why[1]) {
                        cb_interrupted |= why[0] != 0;
                        halt |= why[1] != 0;
                        stop = 1;
                        break;
                    }
                    char shape[160];
                    cb_shape_format(&gshape[g], shape, sizeof shape);
                    if (c->rounds > 1)
                        fprintf(stderr, "[%d/%d] %s %s threads=%d round %d/%d\n", g0 + g + 1,
                                total, k->name, shape, c->threads[t], round + 1, c->rounds);
                    else
                        fprintf(stderr, "[%d/%d] %s %s threads=%d\n", g0 + g + 1, total,
                                k->name, shape, c->threads[t]);
                    struct cb_result next, *into = round ? &next : r;
                    struct cb_bench_opts o = c->opts;
                    o.verified = round > 0;
                    measure_row(c, from_suite, k, &gshape[g], c->threads[t], &o, blas_note,
                                &blas_said, into);
                    if (into->status == CB_ERR_INTERRUPTED) {  // agreed inside the row
                        cb_result_free(into);
                        stop = 1;
                        break;
                    }
                    enum cb_status ms = round ? cb_result_add_round(r, &next) : CB_OK;
                    if (ms != CB_OK) {  // out of memory merging the samples
                        cb_result_free(r);
                        r->status = ms;
                        snprintf(r->note, sizeof r->note, "%s", cb_error_text());
                    }
                    done[g] = 1;
                    if (c->rounds == 1)
                        emit_row(&ro, r, &nrows);
                }
            // --rounds: the rows each in place, in the group's order; an
            // interrupted run keeps those with at least one finished round.
            for (int g = 0; c->rounds > 1 && g < ng; g++)
                if (done[g]) {
                    if (g0 + g != nrows)
                        rows[nrows] = rows[g0 + g];
                    emit_row(&ro, &rows[nrows], &nrows);
                }
        }
    free(group);
    free(done);
    free(gshape);
    failed = ro.failed;
    skipped = ro.skipped;
    halt |= ro.halt;
    if (halt && !cb_interrupted) {
        rc = 1;
        goto out;
    }
    print_ratios(rows, nrows, c->rounds);
    fflush(stdout);
    fprintf(stderr, "\n%d rows: %d ok, %d skipped, %d failed%s%s%s\n", nrows,
            nrows - failed - skipped, skipped, failed, cb_interrupted ? " (interrupted)" : "",
            c->csv ? "; results in " : "", c->csv ? c->csv : "");
    rc = cb_interrupted ? 130 : failed ? 1 : 0;
out:
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    cb_power_shutdown();  // NVML, counters, the --power-cmd child
    cb_mpi_finalize();
    cb_csv_close(w);
    for (int i = 0; rows && i < nrows; i++)
        cb_result_free(&rows[i]);
    free(rows);
    free((void *)cells);
    cb_strbuf_free(&arena);
    if (c)
        free(c->pattern_buf);
    free(c);
    free(kernel_args);
    return rc;
}
