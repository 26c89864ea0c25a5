// cmd_cost.c: `chipbench cost`: a model's training step as measured kernel
// calls, then seconds, joules and money per step for each chip class found
// in the result CSVs (formulas in cb_cost.h and the README).
//
// Exit codes: 0 done; 1 the step fits on none of the chip classes whose
// memory is known, or the output CSV could not be written; 2 bad input
// (usage, unknown model, bad model file, unreadable CSV or price table), or
// --chips for a chip class without allreduce rows and no --allreduce-busbw.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_cost.h"
#include "chipbench/cb_csv.h"
#include "chipbench/cb_shape.h"
#include "chipbench/cb_util.h"
#include "commands.h"

#define MAX_FROM 32
#define MAX_PAT 16
#define MAX_CHIPS 16

struct pat_val { const char *pattern; double v; };  // "PATTERN=X" or "X" (all)

struct cost_cfg {
    const char *model, *prices, *csv, *roofs;
    const char *from[MAX_FROM];
    int nfrom, explain, breakdown;
    int64_t batch, seq;
    enum cb_dtype dtype;
    struct pat_val bw[MAX_PAT], mem[MAX_PAT];
    int nbw, nmem;
    struct cb_cost_opts opts;
    // --chips: data-parallel extrapolation (cost_dp.c)
    int chips[MAX_CHIPS], nchips, zero1, set_dp;
    double overlap, ar_busbw;  // ar_busbw NAN: from allreduce rows
    enum cb_dtype grad_dtype;
};

static void cost_usage(FILE *f)
{
    fprintf(f,
        "usage: chipbench cost --model NAME|FILE [options]\n"
        "One training step (forward, backward, AdamW) of a model as kernel calls, and\n"
        "what it costs per chip class from measured result CSVs.\n\n"
        "  --model NAME|FILE    gpt2-124m, gpt2-1.5b, llama3.2-1b, llama3-8b, or a model\n"
        "                       file of key = value lines (README, Cost per training step)\n"
        "  --batch B, --seq T   micro-batch and sequence length (4, min(ctx, 1024))\n"
        "  --dtype f32|bf16     dtype of the timed rows and activations (f32)\n"
        "  --explain            print every call of the step with FLOPs and bytes\n"
        "  --breakdown          per chip class, every measured shape: the kernel whose row\n"
        "                       times it (the fastest ok one), calls, seconds, share\n"
        "  --from FILE.csv      result CSV(s) with the measured rows (repeatable)\n"
        "  --prices FILE        price table (default results/prices.csv when present)\n"
        "  --bandwidth [PAT=]GB/s  memory bandwidth for the memory-bound ops of the chip\n"
        "                       classes matching PAT; wins over measured rows (repeatable)\n"
        "  --roofs FILE         bandwidth from a roofs CSV (STREAM triad, best row per class)\n"
        "                       for classes without --bandwidth or a `stream` row in the\n"
        "                       --from CSVs (bytes / median time), which comes second\n"
        "  --memory-gb [PAT=]GB  memory of one chip, overriding the price table's\n"
        "  --usd-per-kwh X      electricity price (price table, else 0.10)\n"
        "  --pue Y              facility overhead on energy (price table, else 1.0)\n"
        "  --tokens N           training tokens (default 20 per parameter)\n"
        "  --chips N[,N]        data-parallel over N chips: + gradient all-reduce at the bus\n"
        "                       bandwidth of the `allreduce` rows in --from (README, Fleet\n"
        "                       runs and multi-chip cost)\n"
        "  --overlap F          fraction of the all-reduce hidden behind backward (0)\n"
        "  --grad-dtype f32|bf16  all-reduce payload per parameter (f32)\n"
        "  --zero1              shard AdamW state over the chips (ZeRO-1)\n"
        "  --allreduce-busbw GBPS  bus bandwidth to use instead of allreduce rows\n"
        "  --csv OUT            write the per-chip-class results\n");
}

static int bad(const char *fmt, const char *a)
{
    fprintf(stderr, "chipbench cost: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, " (see chipbench cost --help)\n");
    return 2;
}

static int add_pat(struct pat_val *pv, int *n, const char *name, const char *v)
{
    const char *eq = strrchr(v, '=');
    if (*n >= MAX_PAT)
        return bad("too many %s options", name);
    pv[*n].pattern = "*";
    if (eq) {
        static char pats[2 * MAX_PAT][160];
        static int used;
        if (used >= 2 * MAX_PAT || (size_t)(eq - v) >= sizeof pats[0])
            return bad("%s pattern too long", name);
        memcpy(pats[used], v, (size_t)(eq - v));
        pats[used][eq - v] = 0;
        pv[*n].pattern = pats[used++];
        v = eq + 1;
    }
    if (cb_parse_f64(v, 1e-6, 1e9, &pv[*n].v) != CB_OK)
        return bad("%s needs a positive number ([PATTERN=]X)", name);
    (*n)++;
    return 0;
}

static int parse(int argc, char **argv, struct cost_cfg *c)
{
    cb_cost_opts_default(&c->opts);
    c->ar_busbw = NAN;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cost_usage(stdout);
            return -1;
        }
        if (!strcmp(a, "--explain")) {
            c->explain = 1;
            continue;
        }
        if (!strcmp(a, "--breakdown")) {
            c->breakdown = 1;
            continue;
        }
        if (!strcmp(a, "--zero1")) {
            c->zero1 = c->set_dp = 1;
            continue;
        }
        static const char *const opts[] = {"--model", "--batch", "--seq", "--dtype", "--from",
                                           "--prices", "--bandwidth", "--roofs", "--memory-gb",
                                           "--usd-per-kwh", "--pue", "--tokens", "--csv",
                                           "--chips", "--overlap", "--grad-dtype",
                                           "--allreduce-busbw", NULL};
        int k = -1;
        for (int j = 0; opts[j]; j++)
            if (!strcmp(a, opts[j]))
                k = j;
        if (k < 0)
            return bad("unknown option '%s'", a);
        if (i + 1 >= argc)
            return bad("%s needs a value", a);
        const char *v = argv[++i];
        int64_t x;
        double d;
        // An empty value is a slip (an unset shell variable), never a choice.
        if (!*v)
            return bad("%s needs a value, got an empty one", a);
        switch (k) {
        case 0: c->model = v; break;
        case 1: case 2:
            if (cb_parse_i64(v, 1, 1 << 24, &x) != CB_OK)
                return bad("%s needs a whole number >= 1", a);
            *(k == 1 ? &c->batch : &c->seq) = x;
            break;
        case 3:
            if (cb_dtype_parse(v, &c->dtype) != CB_OK ||
                (c->dtype != CB_DTYPE_F32 && c->dtype != CB_DTYPE_BF16))
                return bad("--dtype is f32 or bf16, got '%s'", v);
            break;
        case 4:
            if (c->nfrom >= MAX_FROM)
                return bad("too many %s files", a);
            c->from[c->nfrom++] = v;
            break;
        case 5: c->prices = v; break;
        case 6: if (add_pat(c->bw, &c->nbw, a, v)) return 2; break;
        case 7: c->roofs = v; break;
        case 8: if (add_pat(c->mem, &c->nmem, a, v)) return 2; break;
        case 9: case 10:
            if (cb_parse_f64(v, 0, k == 9 ? 100 : 10, &d) != CB_OK)
                return bad("%s: bad number", a);
            *(k == 9 ? &c->opts.usd_per_kwh : &c->opts.pue) = d;
            break;
        case 11:
            if (cb_parse_f64(v, 1, 1e18, &c->opts.train_tokens) != CB_OK)
                return bad("--tokens needs a number >= 1, got '%s'", v);
            break;
        case 12: c->csv = v; break;
        case 13: {
            char buf[128], *save = NULL;
            // strtok_r would fold empty items away and the copy would cut a
            // long list: both are slips to report, not to guess around.
            if (strlen(v) >= sizeof buf || v[0] == ',' || v[strlen(v) - 1] == ',' ||
                strstr(v, ",,"))
                return bad("--chips needs up to 16 whole numbers >= 1, got '%s'", v);
            cb_strlcpy(buf, v, sizeof buf);
            for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (c->nchips >= MAX_CHIPS || cb_parse_i64(t, 1, 1 << 20, &x) != CB_OK)
                    return bad("--chips needs up to 16 whole numbers >= 1, got '%s'", v);
                c->chips[c->nchips++] = (int)x;
            }
            if (!c->nchips)
                return bad("--chips needs a number, got '%s'", v);
            break;
        }
        case 14:
            if (cb_parse_f64(v, 0, 1, &c->overlap) != CB_OK)
                return bad("--overlap is a fraction in [0, 1], got '%s'", v);
            c->set_dp = 1;
            break;
        case 15:
            if (cb_dtype_parse(v, &c->grad_dtype) != CB_OK ||
                (c->grad_dtype != CB_DTYPE_F32 && c->grad_dtype != CB_DTYPE_BF16))
                return bad("--grad-dtype is f32 or bf16, got '%s'", v);
            c->set_dp = 1;
            break;
        case 16:
            if (cb_parse_f64(v, 1e-6, 1e9, &c->ar_busbw) != CB_OK)
                return bad("--allreduce-busbw needs GB/s > 0, got '%s'", v);
            c->set_dp = 1;
            break;
        }
    }
    if (!c->model)
        return bad("--model is required%s", "");
    if (c->set_dp && !c->nchips)
        return bad("--overlap, --grad-dtype, --zero1 and --allreduce-busbw go with --chips N%s",
                   "");
    if (c->nchips && !c->nfrom)
        return bad("--chips needs --from FILE.csv (the single-chip rows)%s", "");
    if (!c->nfrom && !c->explain)
        return bad("nothing to do: give --from FILE.csv (measured rows) and/or --explain%s", "");
    // Without measured rows these would be silently ignored.
    if (!c->nfrom && (c->csv || c->prices || c->roofs || c->nbw || c->nmem))
        return bad("--csv, --prices, --roofs, --bandwidth and --memory-gb need --from "
                   "FILE.csv%s", "");
    return 0;
}

static void explain(const struct cb_step *st)
{
    struct cb_param_count pc;
    struct cb_step_memory mem;
    cb_model_params(&st->model, &pc);
    cb_step_memory(st, &mem);
    printf("%-3s %-18s %-4s %-13s %-38s %6s %12s %12s\n", "#", "call", "ph", "op", "shape",
           "count", "GFLOP/call", "MB/call");
    for (int i = 0; i < st->n; i++) {
        const struct cb_step_item *it = &st->items[i];
        char shape[160] = "-";
        if (it->compute)
            cb_shape_format(&it->call, shape, sizeof shape);
        printf("%-3d %-18s %-4s %-13s %-38s %6lld %12.3f %12.3f\n", i + 1, it->name,
               cb_step_phase_name(it->phase), it->compute ? cb_op_name(it->call.op) : "memory",
               shape, (long long)it->count, it->flops * 1e-9, it->bytes * 1e-6);
    }
    double tok = (double)st->batch * (double)st->seq, attn = cb_step_attn_flops(st);
    printf("totals: model FLOPs %.6g per step (GEMM %.6g + attention %.6g), memory-bound "
           "%.6g bytes\n", cb_step_flops(st), cb_step_flops(st) - attn, attn,
           cb_step_mem_bytes(st));
    printf("check:  6 N tokens + attention = %.6g (N = %lld = non-embedding %lld + LM head "
           "%lld)\n", 6.0 * (double)(pc.non_embedding + pc.lm_head) * tok + attn,
           (long long)(pc.non_embedding + pc.lm_head), (long long)pc.non_embedding,
           (long long)pc.lm_head);
    printf("memory: %.3f GB = weights %.3f + grads %.3f + AdamW %.3f + activations %.3f\n",
           mem.total * 1e-9, mem.weights * 1e-9, mem.grads * 1e-9, mem.optimizer * 1e-9,
           mem.activations * 1e-9);
}

static double pat_lookup(const struct pat_val *pv, int n, const char *chip)
{
    for (int i = n - 1; i >= 0; i--)  // the last matching option wins
        if (cb_name_match(pv[i].pattern, chip))
            return pv[i].v;
    return NAN;
}

// Best STREAM triad per chip class in a roofs CSV (scripts/roofs.c).
static double roofs_bw(const struct cb_csv_table *t, const char *chip)
{
    int cc = cb_csv_col(t, "chip_class"), bc = cb_csv_col(t, "triad_gbytes_per_s");
    double best = NAN, v;
    for (int r = 0; t && r < t->nrows; r++)
        if (!strcmp(cb_csv_cell(t, r, cc), chip) &&
            cb_parse_f64(cb_csv_cell(t, r, bc), 0, 1e9, &v) == CB_OK && !(v <= best))
            best = v;
    return best;
}

static void fmt(char *b, size_t n, const char *f, double v, const char *none)
{
    if (isnan(v))
        snprintf(b, n, "%s", none);
    else
        snprintf(b, n, f, v);
}

static void fmt_time(char *b, size_t n, double s)
{
    if (isnan(s))
        snprintf(b, n, "-");
    else if (s < 3600 * 48)
        snprintf(b, n, "%.1f h", s / 3600);
    else if (s < 86400 * 365 * 3)
        snprintf(b, n, "%.1f d", s / 86400);
    else
        snprintf(b, n, "%.1f y", s / (86400 * 365.25));
}

static int by_time(const void *a, const void *b)
{
    const struct cb_cost_result *x = a, *y = b;
    int cx = x->n_missing == 0 && !isnan(x->t_mem), cy = y->n_missing == 0 && !isnan(y->t_mem);
    if (cx != cy)
        return cy - cx;  // complete rows first
    return (x->t_step > y->t_step) - (x->t_step < y->t_step);
}

static const char *const csv_cols[] = {
    "model", "batch", "seq", "dtype", "chip_class", "shapes", "missing_shapes", "complete",
    "t_compute_s", "t_mem_s", "t_step_s", "bandwidth_gbs", "tokens_per_s", "model_flops",
    "tflops", "mfu_datasheet", "mfu_measured_peak", "best_gemm_gflops", "energy_j",
    "mem_need_gb", "mem_have_gb", "fits", "rent_usd_step", "own_hw_usd_step",
    "energy_usd_step", "own_usd_step", "rent_usd_per_mtok", "own_usd_per_mtok",
    "energy_usd_per_mtok", "train_tokens", "train_steps", "train_s", "train_rent_usd",
    "train_own_usd", "kernels"};
#define NCSV ((int)(sizeof csv_cols / sizeof *csv_cols))

// "gemm_f32_opencl 15, attn_f32_opencl 1": the kernels the step's measured
// shapes are timed at, with how many shapes each, first use first.
static void kernel_summary(const struct cb_cost_result *x, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < x->n_picks && n < len; i++) {
        int seen = 0, count = 0;
        for (int j = 0; j < x->n_picks; j++) {
            seen |= j < i && !strcmp(x->picks[j].kernel, x->picks[i].kernel);
            count += !strcmp(x->picks[j].kernel, x->picks[i].kernel);
        }
        if (!seen)
            n += (size_t)snprintf(buf + n, len - n, "%s%s %d", n ? ", " : "", x->picks[i].kernel,
                                  count);
    }
}

static enum cb_status write_csv(const char *path, const struct cb_step *st,
                                const struct cb_cost_result *r, int n, const double *bw)
{
    struct cb_csv_writer *w = NULL;
    enum cb_status s = cb_csv_open(path, csv_cols, NCSV, &w);
    for (int i = 0; s == CB_OK && i < n; i++) {
        const struct cb_cost_result *x = &r[i];
        double mt = 1e6 / x->tokens_per_step;
        double v[] = {NAN, (double)st->batch, (double)st->seq, NAN, NAN, x->n_shapes,
                      x->n_missing, x->n_missing == 0 && !isnan(x->t_mem), x->t_compute,
                      x->t_mem, x->t_step, bw[i], x->tokens_per_s, x->flops, x->tflops,
                      x->mfu_peak, x->mfu_measured, x->best_gemm_gflops, x->energy_j,
                      x->mem_need_gb, x->mem_have_gb, x->fits < 0 ? NAN : x->fits,
                      x->rent_step, x->own_hw_step, x->energy_step, x->own_step,
                      x->rent_step * mt, x->own_step * mt, x->energy_step * mt,
                      x->train_tokens, x->train_steps, x->train_s,
                      x->rent_step * x->train_steps, x->own_step * x->train_steps};
        char buf[NCSV][48];
        const char *cells[NCSV];
        for (int c = 0; c < NCSV - 1; c++) {  // the last column is text
            fmt(buf[c], sizeof buf[c], "%.9g", v[c], "");
            cells[c] = buf[c];
        }
        char kernels[512];
        kernel_summary(x, kernels, sizeof kernels);
        cells[0] = st->model.name, cells[3] = cb_dtype_name(st->dtype), cells[4] = x->chip;
        cells[NCSV - 1] = kernels;
        s = cb_csv_write_row(w, cells, NCSV);
    }
    cb_csv_close(w);
    return s;
}

static void print_table(const struct cb_step *st, const struct cb_cost_result *r, int n,
                        const double *bw, const char *const *bw_src, int breakdown)
{
    printf("%-9s %9s %7s %7s %6s %9s %12s %11s %11s %11s %9s %12s  %s\n", "step_s", "tok/s",
           "TFLOP/s", "MFU_ds", "MFU_me", "E_step_J", "memory_GB", "rent$/Mtok", "own$/Mtok",
           "energy$/Mt", "train", "train_rent$", "chip class");
    for (int i = 0; i < n; i++) {
        const struct cb_cost_result *x = &r[i];
        int complete = x->n_missing == 0 && !isnan(x->t_mem);
        double mt = 1e6 / x->tokens_per_step;
        char t[24], tok[24], tf[24], m1[16], m2[16], e[24], mem[32], c1[24], c2[24], c3[24],
            tr[24], trc[24];
        const char *lb = complete ? "" : ">=";  // partial sums are lower bounds
        double tc = isnan(x->t_step) ? x->t_compute : x->t_step;
        snprintf(t, sizeof t, "%s%.4g", lb, tc);
        snprintf(tok, sizeof tok, "%s%.4g", complete ? "" : "<=", x->tokens_per_step / tc);
        snprintf(tf, sizeof tf, "%s%.3g", complete ? "" : "<=", x->flops / tc * 1e-12);
        fmt(m1, sizeof m1, "%.1f%%", x->mfu_peak * 100, "-");
        fmt(m2, sizeof m2, "%.1f%%", x->mfu_measured * 100, "-");
        if (!complete) {
            snprintf(m1, sizeof m1, "-");
            snprintf(m2, sizeof m2, "-");
        }
        fmt(e, sizeof e, "%.4g", x->energy_j, "unavail");
        if (x->fits < 0)
            snprintf(mem, sizeof mem, "%.2f (?)", x->mem_need_gb);
        else
            snprintf(mem, sizeof mem, "%.2f/%.0f%s", x->mem_need_gb, x->mem_have_gb,
                     x->fits ? "" : "!");
        double rent = x->rent_step * mt, own = x->own_step * mt, en = x->energy_step * mt;
        fmt(c1, sizeof c1, "%.4g", rent, "no price");
        fmt(c2, sizeof c2, "%.4g", own, isnan(x->own_hw_step) ? "no price" : "no energy");
        fmt(c3, sizeof c3, "%.4g", en, "unavail");
        fmt_time(tr, sizeof tr, tc * x->train_steps);
        fmt(trc, sizeof trc, "%.4g", rent * x->train_tokens / 1e6, "no price");
        if (!complete) {
            char tmp[32];
            snprintf(tmp, sizeof tmp, ">=%s", tr);
            cb_strlcpy(tr, tmp, sizeof tr);
        }
        if (x->n_missing == x->n_shapes) {  // nothing measured: no bound either
            snprintf(t, sizeof t, "-"), snprintf(tok, sizeof tok, "-");
            snprintf(tf, sizeof tf, "-"), snprintf(tr, sizeof tr, "-");
        }
        if (x->fits == 0)
            snprintf(c1, sizeof c1, "no fit"), snprintf(c2, sizeof c2, "no fit"),
                snprintf(trc, sizeof trc, "no fit");
        printf("%-9s %9s %7s %7s %6s %9s %12s %11s %11s %11s %9s %12s  %s\n", t, tok, tf, m1,
               m2, e, mem, c1, c2, c3, tr, trc, x->chip);
    }
    printf("\n");
    for (int i = 0; i < n; i++) {
        const struct cb_cost_result *x = &r[i];
        printf("%s: %d of %d distinct shapes measured; compute %.4g s", x->chip,
               x->n_shapes - x->n_missing, x->n_shapes, x->t_compute);
        if (isnan(bw[i]))
            printf("; memory-bound ops: no bandwidth (no stream row, --bandwidth or "
                   "--roofs), time not included\n");
        else
            printf("; memory-bound %.4g s at %.4g GB/s (%s)\n", x->t_mem, bw[i], bw_src[i]);
        if (x->fits == 0)
            printf("  does not fit: needs %.2f GB > %.0f GB on one chip\n", x->mem_need_gb,
                   x->mem_have_gb);
        if (x->n_picks) {
            char kernels[512];
            kernel_summary(x, kernels, sizeof kernels);
            printf("  timed with (shapes): %s\n", kernels);
        }
        for (int j = 0; breakdown && j < x->n_picks; j++) {
            const struct cb_cost_pick *pk = &x->picks[j];
            const struct cb_step_item *it = &st->items[pk->item];
            char shape[160];
            cb_shape_format(&it->call, shape, sizeof shape);
            printf("  %-13s %-38s x%-4lld %-24s %9.4g s %5.1f%%  (%s)\n",
                   cb_op_name(it->call.op), shape, (long long)pk->calls, pk->kernel,
                   pk->seconds, 100.0 * pk->seconds / x->t_compute, it->name);
        }
        for (int j = 0; j < x->n_missing && j < CB_COST_MAX_MISSING; j++) {
            const struct cb_step_item *it = &st->items[x->missing[j]];
            char shape[160];
            cb_shape_format(&it->call, shape, sizeof shape);
            printf("  missing: %-13s %-38s (%s)\n", cb_op_name(it->call.op), shape, it->name);
        }
    }
}

// --chips: the step over N chips for every chip class with an all-reduce
// bandwidth; the assumptions are printed with the numbers. Returns 0, or 2
// when a class has neither allreduce rows nor --allreduce-busbw.
static int print_dp(const struct cost_cfg *c, const struct cb_step *st,
                    const struct cb_measurements *meas, const struct cb_cost_result *res, int n)
{
    struct cb_param_count pc;
    struct cb_step_memory mem;
    int rc = 0;
    cb_model_params(&st->model, &pc);
    cb_step_memory(st, &mem);
    double S = (double)pc.total * cb_dtype_size(c->grad_dtype);
    printf("\ndata-parallel training (README \"Fleet runs and multi-chip cost\"); assumptions:\n"
           "  each chip runs the single-chip step above on its own B=%lld x T=%lld tokens "
           "(global batch N x %lld tokens)\n"
           "  gradients: %.4g M parameters x %d B (%s) = %.4g MB all-reduced once per step, "
           "t = S x 2(N-1)/N / busbw (nccl-tests)\n"
           "  overlap with backward: %.0f%% of the all-reduce hidden (--overlap)\n"
           "  AdamW m and v (f32): %s; weights and gradients f32 on every chip\n"
           "  energy: N x the single chip's timed kernels; the all-reduce's own energy is not "
           "measured\n", (long long)st->batch, (long long)st->seq,
           (long long)(st->batch * st->seq), pc.total * 1e-6, cb_dtype_size(c->grad_dtype),
           cb_dtype_name(c->grad_dtype), S * 1e-6, c->overlap * 100,
           c->zero1 ? "sharded over the N chips (--zero1)" : "replicated on every chip");
    for (int i = 0; i < n; i++) {
        const struct cb_cost_result *one = &res[i];
        const struct cb_meas *lo = NULL, *hi = NULL;
        double busbw = c->ar_busbw;
        if (one->n_missing == one->n_shapes)
            continue;  // nothing measured for this class: no single-chip step
        printf("\n%s:\n", one->chip);
        if (!isnan(busbw)) {
            printf("  all-reduce busbw %.4g GB/s: given (--allreduce-busbw)\n", busbw);
        } else {
            busbw = cb_allreduce_busbw_at(meas, one->chip, c->grad_dtype, S, &lo, &hi);
            if (isnan(busbw)) {
                printf("  no %s allreduce rows for this chip class in the --from CSVs: no "
                       "multi-chip numbers (measure: mpirun -np N chipbench run --op allreduce "
                       "--csv F, or give --allreduce-busbw GBPS)\n",
                       cb_dtype_name(c->grad_dtype));
                rc = 2;
                continue;
            }
            if (lo == hi)
                printf("  all-reduce busbw %.4g GB/s at %.4g MB: row %s bytes=%.0f (%d ranks)%s\n",
                       busbw, S * 1e-6, lo->kernel, lo->bytes, lo->ranks,
                       lo->bytes == S ? "" : lo->bytes < S ? ", the largest measured size: "
                       "held constant beyond it" : ", the smallest measured size: held "
                       "constant below it");
            else
                printf("  all-reduce busbw %.4g GB/s at %.4g MB: interpolated on log size "
                       "between %s bytes=%.0f (%.4g GB/s, %d ranks) and bytes=%.0f (%.4g GB/s, "
                       "%d ranks)\n", busbw, S * 1e-6, lo->kernel, lo->bytes, lo->bus_gbs,
                       lo->ranks, hi->bytes, hi->bus_gbs, hi->ranks);
            printf("  measured with %d ranks: ranks on one host exchange through shared "
                   "memory, not a network; N chips extrapolate that bandwidth\n", lo->ranks);
        }
        printf("  %6s %10s %11s %10s %11s %7s %10s %11s %11s %11s %13s\n", "chips", "step_s",
               "allreduce_s", "exposed_s", "tok/s", "eff", "E_step_J", "rent$/step",
               "own$/step", "rent$/Mtok", "mem/chip_GB");
        int ns = c->nchips + 1;
        for (int k = 0; k < ns; k++) {
            struct cb_dp_opts o = {.chips = k ? c->chips[k - 1] : 1, .overlap = c->overlap,
                                   .grad_dtype = c->grad_dtype, .zero1 = c->zero1};
            struct cb_dp_result r;
            if (k && o.chips == 1)
                continue;  // the reference row is printed already
            cb_dp_compute(st, one, &o, busbw, &r);
            const char *lb = r.lower_bound ? ">=" : "";
            char t[24], tok[24], e[24], r1[24], r2[24], r3[24], mm[32];
            snprintf(t, sizeof t, "%s%.4g", lb, r.t_step);
            snprintf(tok, sizeof tok, "%s%.4g", r.lower_bound ? "<=" : "", r.tokens_per_s);
            fmt(e, sizeof e, "%.4g", r.energy_j, "unavail");
            fmt(r1, sizeof r1, "%.4g", r.rent_step, "no price");
            fmt(r2, sizeof r2, "%.4g", r.own_step, "no price");
            fmt(r3, sizeof r3, "%.4g", r.rent_step / r.tokens_per_step * 1e6, "no price");
            if (r.fits < 0)
                snprintf(mm, sizeof mm, "%.3f (?)", r.mem_per_chip_gb);
            else
                snprintf(mm, sizeof mm, "%.3f/%.0f%s", r.mem_per_chip_gb, one->mem_have_gb,
                         r.fits ? "" : "!");
            printf("  %6d %10s %11.4g %10.4g %11s %6.1f%% %10s %11s %11s %11s %13s\n", r.chips,
                   t, r.t_allreduce, r.t_exposed, tok, r.efficiency * 100, e, r1, r2, r3, mm);
        }
        printf("  memory per chip = weights %.3f + gradients %.3f + AdamW %.3f%s + activations "
               "%.3f GB\n", mem.weights * 1e-9, mem.grads * 1e-9, mem.optimizer * 1e-9,
               c->zero1 ? " / N" : "", mem.activations * 1e-9);
    }
    return rc;
}

int cb_cmd_cost(int argc, char **argv)
{
    struct cost_cfg c = {.dtype = CB_DTYPE_F32};
    struct cb_model m;
    static struct cb_step st;
    struct cb_measurements meas = {0};
    struct cb_prices prices = {0};
    struct cb_csv_table roofs = {0};
    struct cb_cost_result *res = NULL;
    double *bw = NULL;
    const char **bw_src = NULL;
    char (*bw_note)[288] = NULL;  // "from stream rows: ..." per chip class
    int rc = parse(argc, argv, &c);
    if (rc)
        return rc < 0 ? 0 : rc;
    rc = 2;
    if (cb_model_load(c.model, &m) != CB_OK) {
        fprintf(stderr, "chipbench cost: %s\n", cb_error_text());
        goto out;
    }
    int64_t T = c.seq ? c.seq : (m.ctx < 1024 ? m.ctx : 1024), B = c.batch ? c.batch : 4;
    if (cb_step_build(&m, B, T, c.dtype, &st) != CB_OK) {
        fprintf(stderr, "chipbench cost: %s\n", cb_error_text());
        goto out;
    }
    // Every input is read before anything is printed: a bad --from, price
    // table or roofs file gives one error line and no partial table.
    for (int i = 0; i < c.nfrom; i++)
        if (cb_meas_load(c.from[i], &meas) != CB_OK) {
            fprintf(stderr, "chipbench cost: %s\n", cb_error_text());
            goto out;
        }
    const char *pp = c.prices ? c.prices : "results/prices.csv";
    FILE *probe = c.prices || !c.nfrom ? NULL : fopen(pp, "r");
    int have_prices = c.prices || probe;
    if (probe)
        fclose(probe);
    if (have_prices && cb_prices_load(pp, &prices) != CB_OK) {
        fprintf(stderr, "chipbench cost: %s\n", cb_error_text());
        goto out;
    }
    if (c.roofs && cb_csv_read(c.roofs, &roofs) != CB_OK) {
        fprintf(stderr, "chipbench cost: %s: %s\n", c.roofs, cb_error_text());
        goto out;
    }
    struct cb_param_count pc;
    cb_model_params(&m, &pc);
    printf("%s: %lld layers, d %lld, %lld heads (%lld kv, dim %lld), ff %lld, vocab %lld, "
           "%s, %s; %.4g M parameters; B=%lld T=%lld (%lld tokens/step), %s\n", m.name,
           (long long)m.n_layer, (long long)m.d_model, (long long)m.n_head,
           (long long)m.n_kv_head, (long long)m.head_dim, (long long)m.d_ff, (long long)m.vocab,
           m.mlp == CB_MLP_SWIGLU ? "swiglu" : "gelu", m.tied ? "tied" : "untied",
           (double)pc.total * 1e-6, (long long)B, (long long)T, (long long)(B * T),
           cb_dtype_name(c.dtype));
    if (c.explain)
        explain(&st);
    if (!c.nfrom) {
        rc = 0;
        goto out;
    }
    if (have_prices)
        printf("prices: %s (%d rows)\n", pp, prices.n);
    else
        printf("prices: none (results/prices.csv not found here; --prices FILE)\n");
    // Chip classes in order of first appearance.
    res = calloc((size_t)meas.n + 1, sizeof *res);
    bw = calloc((size_t)meas.n + 1, sizeof *bw);
    bw_src = calloc((size_t)meas.n + 1, sizeof *bw_src);
    bw_note = calloc((size_t)meas.n + 1, sizeof *bw_note);
    if (!res || !bw || !bw_src || !bw_note) {
        fprintf(stderr, "chipbench cost: out of memory\n");
        rc = 1;
        goto out;
    }
    int n = 0, fits_somewhere = 0, known = 0;
    for (int i = 0; i < meas.n; i++) {
        int seen = 0;
        for (int j = 0; j < n; j++)
            seen |= !strcmp(res[j].chip, meas.rows[i].chip);
        if (seen)
            continue;
        const char *chip = meas.rows[i].chip;
        struct cb_price pr, *p = NULL;
        const struct cb_price *mp = cb_prices_match(&prices, chip);
        if (mp)
            pr = *mp, p = &pr;
        double memgb = pat_lookup(c.mem, c.nmem, chip);
        if (!isnan(memgb)) {
            if (!p) {
                memset(&pr, 0, sizeof pr);
                pr.rent_hr = pr.capex = pr.life_yr = pr.util = pr.opex_hr = NAN;
                pr.usd_per_kwh = pr.pue = pr.peak_fp32 = pr.peak_bf16 = NAN;
            }
            pr.memory_gb = memgb;
            p = &pr;
        }
        struct cb_cost_opts o = c.opts;
        // The user's --bandwidth wins (they know their machine); then the
        // best stream row of this class in the --from CSVs; then --roofs.
        o.bandwidth_gbs = pat_lookup(c.bw, c.nbw, chip);
        o.bandwidth_src = "--bandwidth, given by the user";
        int sb = isnan(o.bandwidth_gbs) ? cb_meas_stream_best(&meas, chip, &o.bandwidth_gbs) : -1;
        if (sb >= 0) {
            snprintf(bw_note[n], sizeof bw_note[n], "from stream rows: %s %s, %d thread%s",
                     meas.rows[sb].kernel, meas.rows[sb].shape, meas.rows[sb].threads,
                     meas.rows[sb].threads == 1 ? "" : "s");
            o.bandwidth_src = bw_note[n];
        }
        if (isnan(o.bandwidth_gbs) && c.roofs) {
            o.bandwidth_gbs = roofs_bw(&roofs, chip);
            o.bandwidth_src = "STREAM triad from --roofs";
        }
        bw[n] = o.bandwidth_gbs, bw_src[n] = o.bandwidth_src;
        cb_cost_compute(&st, &meas, chip, p, &o, &res[n]);
        // A price row matched only through --memory-gb carries no prices.
        res[n].priced = mp != NULL;
        if (!mp)
            res[n].rent_step = res[n].own_hw_step = res[n].own_step = NAN;
        fits_somewhere |= res[n].fits != 0;
        known |= res[n].fits >= 0;
        n++;
    }
    // Sort results with their bandwidth labels (a permutation keeps them paired).
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (by_time(&res[i], &res[j]) > 0) {
                struct cb_cost_result t = res[i];
                double tb = bw[i];
                const char *ts = bw_src[i];
                res[i] = res[j], res[j] = t, bw[i] = bw[j], bw[j] = tb;
                bw_src[i] = bw_src[j], bw_src[j] = ts;
            }
    printf("model FLOPs per step %.6g (GEMM + attention, FlashAttention convention); "
           "memory-bound %.6g bytes; training %.4g tokens\n", cb_step_flops(&st),
           cb_step_mem_bytes(&st), n ? res[0].train_tokens : 0.0);
    print_table(&st, res, n, bw, bw_src, c.breakdown);
    rc = 0;
    if (c.nchips)
        rc = print_dp(&c, &st, &meas, res, n);
    if (n && known && !fits_somewhere) {
        fprintf(stderr, "chipbench cost: %s at B=%lld T=%lld fits on none of these chips "
                "(needs %.2f GB on one chip)\n", m.name, (long long)B, (long long)T,
                res[0].mem_need_gb);
        rc = rc ? rc : 1;  // a missing all-reduce bandwidth (2) says more
    }
    if (!n)
        printf("no ok rows in the --from files\n");
    if (c.csv && write_csv(c.csv, &st, res, n, bw) != CB_OK) {
        fprintf(stderr, "chipbench cost: %s\n", cb_error_text());
        rc = 1;
    }
out:
    free(res);
    free(bw);
    free(bw_src);
    free(bw_note);
    cb_meas_free(&meas);
    cb_prices_free(&prices);
    cb_csv_table_free(&roofs);
    return rc;
}
