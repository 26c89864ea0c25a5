// result_csv.c: the result CSV schema and row formatting. The column list is
// the schema: append only, never rename or reorder (results/README.md says
// what each means; tests/test_schema.c checks the README lists them all).
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_info.h"
#include "chipbench/cb_mpi.h"
#include "chipbench/cb_result_csv.h"
#include "chipbench/cb_topo.h"

const char *const cb_result_columns[] = {
    "schema_version", "timestamp_utc", "host", "chip_class", "cpu_vendor", "cpu_model",
    "cpu_codename", "isa_features", "isa_cap", "cores", "device", "compiler", "build_flags",
    "git_commit", "chipbench_version", "blas", "seed",
    "kernel", "op", "dtype", "backend", "isa", "trans", "m", "n", "k", "lda", "ldb", "ldc",
    "alpha", "beta", "batch", "heads", "kv_heads", "seq_q", "seq_kv", "head_dim", "causal",
    "threads", "cache_mode", "buffers", "working_set_bytes",
    "samples", "iters_per_sample", "stop_reason", "time_ns_min", "time_ns_median",
    "time_ns_mean", "time_ns_stddev", "noise_rel", "ci95_lo_ns", "ci95_hi_ns",
    "flops", "bytes", "gflops", "gbytes_per_s", "max_rel_err", "tolerance", "status", "note",
    "samples_ns",
    "energy_j", "avg_power_w", "gflops_per_w", "power_source", "power_scope", "power_quality",
    "device_time_ns_median", "idle_power_w", "dynamic_energy_j", "peak_rss_bytes",
    "ranks", "bus_gbytes_per_s", "rounds", "round_medians_ns",
};
const int cb_result_ncolumns = (int)(sizeof cb_result_columns / sizeof cb_result_columns[0]);

void cb_context_init(struct cb_context *c, uint64_t seed)
{
    const struct cb_cpu_info *ci = cb_cpu_info();
    memset(c, 0, sizeof *c);
    cb_host_name(c->host, sizeof c->host);
    cb_cpu_chip_class(c->chip_class, sizeof c->chip_class);
    snprintf(c->cpu_vendor, sizeof c->cpu_vendor, "%s", ci->vendor);
    snprintf(c->cpu_model, sizeof c->cpu_model, "%s", ci->brand);
    snprintf(c->cpu_codename, sizeof c->cpu_codename, "%s", ci->codename);
    cb_cpu_features_str(cb_cpu_features(), c->isa_features, sizeof c->isa_features);
    const char *cap = getenv("CHIPBENCH_ISA");
    snprintf(c->isa_cap, sizeof c->isa_cap, "%s", cap ? cap : "");
    snprintf(c->cores, sizeof c->cores, "%d", cb_topo_get()->cores);
    cb_blas_describe(c->blas, sizeof c->blas);
    snprintf(c->seed, sizeof c->seed, "%llu", (unsigned long long)seed);
}

// Cells are appended NUL-separated to the arena; offsets are turned into
// pointers at the end because the arena may move while it grows.
struct cellw {
    struct cb_strbuf *b;
    size_t off[128];
    int n;
    enum cb_status s;
};

static void put(struct cellw *w, const char *text)
{
    if (w->s != CB_OK || w->n >= 128)
        return;
    w->off[w->n++] = w->b->len;
    w->s = cb_strbuf_append(w->b, text ? text : "", strlen(text ? text : "") + 1);
}

static void putf(struct cellw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct cellw *w, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(w, tmp);
}

// Empty for "not applicable / not measured", never a made-up number.
static void put_num(struct cellw *w, const char *fmt, double v, int valid)
{
    if (!valid || !isfinite(v))
        put(w, "");
    else
        putf(w, fmt, v);
}

// n numbers (ns, one decimal) space separated in one cell; empty when n is 0.
static void put_list(struct cellw *w, const double *v, int n)
{
    if (w->s != CB_OK || w->n >= 128)
        return;
    w->off[w->n++] = w->b->len;
    for (int i = 0; i < n && w->s == CB_OK; i++)
        w->s = cb_strbuf_printf(w->b, i ? " %.1f" : "%.1f", v[i]);
    if (w->s == CB_OK)
        w->s = cb_strbuf_append(w->b, "", 1);
}

enum cb_status cb_result_cells(const struct cb_context *ctx, const struct cb_result *r,
                               struct cb_strbuf *arena, const char **cells)
{
    struct cellw w = {.b = arena};
    const struct cb_kernel *k = r->kernel;
    int gemm = r->shape.op == CB_OP_GEMM, ok = r->status == CB_OK;
    const struct cb_gemm_args *g = &r->shape.u.gemm;
    const struct cb_attn_args *a = &r->shape.u.attn;
    const struct cb_stats *st = &r->m.st;
    char isa[256];

    arena->len = 0;
    putf(&w, "%d", CB_CSV_SCHEMA_VERSION);
    put(&w, r->timestamp);
    put(&w, ctx->host);
    put(&w, r->chip_class[0] ? r->chip_class : ctx->chip_class);
    put(&w, ctx->cpu_vendor);
    put(&w, ctx->cpu_model);
    put(&w, ctx->cpu_codename);
    put(&w, ctx->isa_features);
    put(&w, ctx->isa_cap);
    put(&w, ctx->cores);
    put(&w, r->device);
    put(&w, cb_compiler);
    put(&w, cb_build_flags);
    put(&w, cb_git_commit);
    put(&w, CB_VERSION);
    put(&w, ctx->blas);
    put(&w, ctx->seed);

    put(&w, k->name);
    put(&w, cb_op_name(k->op));
    put(&w, cb_dtype_name(k->dtype));
    put(&w, cb_backend_name(k->backend));
    cb_cpu_features_str(k->isa, isa, sizeof isa);
    put(&w, isa);
    if (r->shape.op == CB_OP_ALLREDUCE) {  // elements per rank in n; bytes says the payload
        put(&w, "");
        put(&w, "");
        putf(&w, "%lld", (long long)(r->shape.u.allreduce.bytes / cb_dtype_size(k->dtype)));
        for (int i = 0; i < 13; i++)
            put(&w, "");
    } else if (r->shape.op == CB_OP_STREAM) {  // n in the n column, nothing else
        put(&w, "");
        put(&w, "");
        putf(&w, "%lld", (long long)r->shape.u.stream.n);
        for (int i = 0; i < 13; i++)
            put(&w, "");
    } else if (gemm) {
        putf(&w, "%c%c", g->trans_a ? 't' : 'n', g->trans_b ? 't' : 'n');
        putf(&w, "%lld", (long long)g->m);
        putf(&w, "%lld", (long long)g->n);
        putf(&w, "%lld", (long long)g->k);
        putf(&w, "%lld", (long long)g->lda);
        putf(&w, "%lld", (long long)g->ldb);
        putf(&w, "%lld", (long long)g->ldc);
        putf(&w, "%.9g", g->alpha);
        putf(&w, "%.9g", g->beta);
        for (int i = 0; i < 7; i++)
            put(&w, "");
    } else {
        for (int i = 0; i < 9; i++)
            put(&w, "");
        putf(&w, "%lld", (long long)a->batch);
        putf(&w, "%lld", (long long)a->heads);
        putf(&w, "%lld", (long long)a->kv_heads);
        putf(&w, "%lld", (long long)a->seq_q);
        putf(&w, "%lld", (long long)a->seq_kv);
        putf(&w, "%lld", (long long)a->head_dim);
        putf(&w, "%d", a->causal ? 1 : 0);
    }

    putf(&w, "%d", r->threads);
    put(&w, r->cache_mode);
    put_num(&w, "%.0f", r->buffers, r->buffers > 0);
    put_num(&w, "%.0f", r->working_set_bytes, r->buffers > 0);
    put_num(&w, "%.0f", r->m.nsamples, ok);
    put_num(&w, "%.0f", (double)r->m.iters_per_sample, ok);
    put(&w, ok ? r->m.stop_reason : "");
    put_num(&w, "%.1f", st->min, ok);
    put_num(&w, "%.1f", st->median, ok);
    put_num(&w, "%.1f", st->mean, ok);
    put_num(&w, "%.1f", st->stddev, ok);
    put_num(&w, "%.6f", st->noise, ok);
    put_num(&w, "%.1f", st->ci_lo, ok);
    put_num(&w, "%.1f", st->ci_hi, ok);
    put_num(&w, "%.0f", r->flops, r->flops > 0);
    put_num(&w, "%.0f", r->bytes, r->bytes > 0);
    put_num(&w, "%.6g", r->gflops, ok && r->flops > 0);
    put_num(&w, "%.6g", r->gbytes_per_s, ok);
    put_num(&w, "%.3g", r->max_rel_err, 1);
    put_num(&w, "%.3g", r->tolerance, 1);
    put(&w, cb_result_status_word(r->status));
    put(&w, r->note);

    // Raw per-call times, space separated: the compare tool needs them.
    put_list(&w, r->m.samples_ns, ok ? r->m.nsamples : 0);
    // Energy (cb_power.h): all empty when it was not attempted (--power
    // off); source, scope and quality (unavailable) when nothing could be
    // read, the reason being in note; numbers only from a real reading.
    const struct cb_power_result *pr = &r->m.power;
    int tried = ok && pr->source[0];
    int have = tried && pr->quality != CB_POWER_UNAVAILABLE && r->m.power_calls > 0;
    double per_call = have ? pr->joules / (double)r->m.power_calls : NAN;
    put_num(&w, "%.6g", per_call, have);
    put_num(&w, "%.6g", pr->watts, have);
    put_num(&w, "%.6g", r->flops * 1e-9 / per_call, have && r->flops > 0);
    put(&w, tried ? pr->source : "");
    put(&w, tried ? pr->scope : "");
    put(&w, tried ? cb_power_quality_name(pr->quality) : "");
    put_num(&w, "%.1f", r->device_time_ns, ok && r->device_time_ns >= 0);
    put_num(&w, "%.6g", pr->idle_watts, have);
    put_num(&w, "%.6g", have ? (pr->joules - pr->idle_watts * pr->seconds) / (double)r->m.power_calls
                             : NAN, have);
    put_num(&w, "%.0f", r->peak_rss_bytes, r->peak_rss_bytes > 0);
    // All-reduce rows: the ranks of the job (this process's MPI world) and
    // nccl-tests' bus bandwidth, gbytes_per_s * 2 (N - 1) / N.
    int ar = r->shape.op == CB_OP_ALLREDUCE;
    put_num(&w, "%.0f", cb_mpi_size(), ar);
    put_num(&w, "%.6g", r->gbytes_per_s * cb_allreduce_bus_factor(cb_mpi_size()), ar && ok);
    // run --rounds: each round's own median, so that a ratio to a baseline
    // can be taken round by round (the rounds ran interleaved).
    put_num(&w, "%.0f", r->rounds, ok);
    put_list(&w, r->round_ns, ok ? r->rounds : 0);

    if (w.s != CB_OK)
        return w.s;
    if (w.n != cb_result_ncolumns)
        return cb_set_error(CB_ERR_INVALID_ARG, "row has %d cells, schema %d", w.n,
                            cb_result_ncolumns);
    for (int i = 0; i < w.n; i++)
        cells[i] = arena->data + w.off[i];
    return CB_OK;
}
