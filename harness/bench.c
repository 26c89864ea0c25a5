// bench.c: the harness loop. One row = plan, verify once against float64,
// untimed warm-up, calibration of launches per sample, then samples until
// the relative noise is low enough or the time budget runs out.
//
// Not here: data set-up and the float64 checks (bench_<op>.c), CSV and
// console output (csv_row.c, cmd_run.c).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chipbench/cb_bench.h"
#include "chipbench/cb_topo.h"

volatile int cb_interrupted;

void cb_bench_opts_default(struct cb_bench_opts *o)
{
    memset(o, 0, sizeof *o);
    o->warmup_s = 0.1;
    o->min_time_s = 0.5;
    o->max_time_s = 10.0;
    o->max_noise = 0.01;
    o->min_samples = 10;
    o->max_samples = 200;
    o->rotate = 1;
    o->seed = 1;
    cb_power_opts_default(&o->power);
}

void cb_measure_free(struct cb_measure *m)
{
    cb_free(m->samples_ns);
    memset(m, 0, sizeof *m);
}

static enum cb_status run_n(const struct cb_launcher *l, int64_t *next, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        enum cb_status s = l->launch(l->ctx, (*next)++);
        if (s != CB_OK)
            return s;
    }
    return l->sync ? l->sync(l->ctx) : CB_OK;
}

// Every decision below is taken on numbers passed through here: this
// process's own, or with an agree hook (MPI collectives) the maximum over
// the ranks, so all ranks leave each loop after the same launch and an
// interrupt on any rank stops them all.
static enum cb_status agreed(const struct cb_launcher *l, double *v, int n)
{
    return l->agree ? l->agree(l->ctx, v, n) : CB_OK;
}

// An interrupt on any rank is one on every rank: the flag is raised here too
// so the caller's loops over rows stop alike.
static enum cb_status stop_requested(const struct cb_launcher *l, int *stop)
{
    double v = cb_interrupted;
    enum cb_status s = agreed(l, &v, 1);
    *stop = v != 0;
    if (*stop)
        cb_interrupted = 1;
    return s;
}

enum cb_status cb_measure_run(const struct cb_bench_opts *o, const struct cb_launcher *l,
                              struct cb_measure *m)
{
    int stop = 0;
    enum cb_status s = CB_OK;
    memset(m, 0, sizeof *m);
    int cap = o->max_samples > 0 ? o->max_samples : 1;
    m->samples_ns = cb_alloc_array((size_t)cap, sizeof(double));
    if (!m->samples_ns)
        return cb_set_error(CB_ERR_NO_MEMORY, "samples buffer");
    int64_t next = 0;

    // Warm-up: at least two launches (the first often pays for page faults
    // and lazy initialisation) unless one launch alone takes over a second.
    // Calibration uses the fastest warm-up launch: one launch slowed by a
    // page fault or a busy neighbour would otherwise shrink every sample.
    int64_t t0 = cb_now_ns();
    double last = INFINITY;
    for (int count = 0;; count++) {
        CB_TRY(stop_requested(l, &stop));
        if (stop) {
            m->stop_reason = "interrupted";
            return CB_ERR_INTERRUPTED;
        }
        int64_t a = cb_now_ns();
        CB_TRY(run_n(l, &next, 1));
        int64_t b = cb_now_ns();
        double t[2] = {(double)(b - a), (double)(b - t0)};  // this launch, warm-up so far
        CB_TRY(agreed(l, t, 2));
        last = t[0] < last ? t[0] : last;
        double el = t[1] * 1e-9;
        if (el >= o->warmup_s && (count >= 1 || el >= 1.0))
            break;
    }

    // Calibrate: a sample must be long enough for the clock (100 ticks, at
    // least 1 ms) and, for fast kernels, long enough that min_samples of
    // them cover half of min_time.
    double target = 100.0 * (double)cb_timer_resolution_ns();
    if (target < 1e6)
        target = 1e6;
    if (o->min_samples > 0 && o->min_time_s / (2.0 * o->min_samples) * 1e9 > target)
        target = o->min_time_s / (2.0 * o->min_samples) * 1e9;
    // Energy needs the window a source asks for (power.c): stretch samples
    // so that half the sample cap covers it, then keep sampling until it has
    // passed. Only with an active source; otherwise window is 0.
    double window = l->power ? cb_power_min_window_s(l->power) : 0;
    if (window > 0 && cap > 1 && 2.0 * window / cap * 1e9 > target)
        target = 2.0 * window / cap * 1e9;
    int64_t iters = last > 0 && isfinite(last) ? (int64_t)ceil(target / last) : 1;
    if (iters < 1)
        iters = 1;

    if (l->power && cb_power_start(l->power) != CB_OK) {
        cb_clear_error();  // the session says why; the row is timed anyway
        window = 0;
    }
    // Timer resolution and energy windows may differ between ranks' hosts.
    double cal[2] = {(double)iters, window};
    CB_TRY(agreed(l, cal, 2));
    iters = (int64_t)cal[0];
    window = cal[1];
    m->iters_per_sample = iters;
    int64_t start = cb_now_ns(), calls = 0;
    for (;;) {
        CB_TRY(stop_requested(l, &stop));
        if (stop) {
            m->stop_reason = "interrupted";
            s = CB_ERR_INTERRUPTED;
            goto out;
        }
        int64_t a = cb_now_ns();
        CB_TRY(run_n(l, &next, iters));
        int64_t b = cb_now_ns();
        double t[2] = {(double)(b - a), (double)(b - start)};  // this sample, all so far
        CB_TRY(agreed(l, t, 2));
        calls += iters;
        m->samples_ns[m->nsamples++] = t[0] / (double)iters;
        m->measured_s += t[0] * 1e-9;
        CB_TRY(cb_stats_compute(m->samples_ns, m->nsamples, &m->st));
        double elapsed = t[1] * 1e-9;
        if (m->nsamples >= cap) {
            m->stop_reason = "max_samples";
            break;
        }
        if (m->nsamples >= o->min_samples && m->measured_s >= o->min_time_s &&
            m->st.noise <= o->max_noise && elapsed >= window) {
            m->stop_reason = "noise";
            break;
        }
        // Three samples at least, whatever the budget: statistics need them.
        if (elapsed >= o->max_time_s && m->nsamples >= 3 && elapsed >= window) {
            m->stop_reason = "time";
            break;
        }
    }
    // The sample cap came first: more launches, untimed but inside the power
    // window (energy per call divides by every call in it).
    for (;;) {
        double v[2] = {(double)(cb_now_ns() - start), cb_interrupted};
        CB_TRY(agreed(l, v, 2));
        if (v[0] * 1e-9 >= window)
            break;
        if (v[1]) {
            cb_interrupted = 1;
            m->stop_reason = "interrupted";
            s = CB_ERR_INTERRUPTED;
            goto out;
        }
        CB_TRY(run_n(l, &next, iters));
        calls += iters;
    }
    if (l->power) {
        cb_power_stop(l->power, &m->power);
        m->power_calls = calls;
    }
out:
    return s;
}

void cb_result_free(struct cb_result *r)
{
    cb_measure_free(&r->m);
}

enum cb_status cb_result_add_round(struct cb_result *r, struct cb_result *next)
{
    enum cb_status s = CB_OK;
    if (next->status != CB_OK) {
        // The row as a whole failed: a kernel that errs or is refused in a
        // later round has no trustworthy measurement to report.
        cb_result_free(r);
        r->status = next->status;
        snprintf(r->note, sizeof r->note, "round %d of the row: %.480s", r->rounds + 1,
                 next->note);
        goto out;
    }
    if (r->rounds >= CB_MAX_ROUNDS) {
        s = cb_set_error(CB_ERR_INVALID_ARG, "more than %d rounds", CB_MAX_ROUNDS);
        goto out;
    }
    struct cb_measure *m = &r->m, *x = &next->m;
    double *all = cb_alloc_array((size_t)(m->nsamples + x->nsamples), sizeof *all);
    if (!all) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "samples of round %d", r->rounds + 1);
        goto out;
    }
    memcpy(all, m->samples_ns, (size_t)m->nsamples * sizeof *all);
    memcpy(all + m->nsamples, x->samples_ns, (size_t)x->nsamples * sizeof *all);
    cb_free(m->samples_ns);
    m->samples_ns = all;
    m->nsamples += x->nsamples;
    m->measured_s += x->measured_s;
    m->stop_reason = x->stop_reason;
    if ((s = cb_stats_compute(m->samples_ns, m->nsamples, &m->st)) != CB_OK)
        goto out;
    r->round_ns[r->rounds++] = x->st.median;
    // Energy over every round's window: joules, seconds and launches add up;
    // one round without a reading leaves the row without one.
    struct cb_power_result *p = &m->power;
    const struct cb_power_result *q = &x->power;
    if (p->source[0] && p->quality != CB_POWER_UNAVAILABLE) {
        if (q->quality == CB_POWER_UNAVAILABLE) {
            *p = *q;
        } else {
            p->joules += q->joules;
            p->seconds += q->seconds;
            p->watts = p->seconds > 0 ? p->joules / p->seconds : NAN;
            p->nsamples += q->nsamples;
            p->quality = q->quality > p->quality ? q->quality : p->quality;
            m->power_calls += x->power_calls;
        }
    }
    r->peak_rss_bytes = next->peak_rss_bytes > r->peak_rss_bytes ? next->peak_rss_bytes
                                                                  : r->peak_rss_bytes;
    if (isfinite(next->device_time_ns))  // the latest round's, like stop_reason
        r->device_time_ns = next->device_time_ns;
    r->gflops = r->flops / m->st.median;
    r->gbytes_per_s = r->bytes / m->st.median;
    memcpy(r->timestamp, next->timestamp, sizeof r->timestamp);
out:
    cb_result_free(next);
    return s;
}

const char *cb_result_status_word(enum cb_status s)
{
    switch (s) {
    case CB_OK:
        return "ok";
    case CB_ERR_UNSUPPORTED:
        return "skipped";
    case CB_ERR_VERIFY:
        return "verify_failed";
    default:
        return "error";
    }
}

struct row_ctx {
    const struct cb_kernel *k;
    const struct cb_bench *bench;
    void *data;
    void *plan;
    int nbuf;
};

static enum cb_status row_launch(void *ctx, int64_t i)
{
    struct row_ctx *c = ctx;
    return c->k->run(c->plan, c->bench->call(c->data, (int)(i % c->nbuf)));
}

static enum cb_status row_sync(void *ctx)
{
    struct row_ctx *c = ctx;
    return c->k->finish(c->plan);
}

static enum cb_status row_agree(void *ctx, double *v, int n)
{
    struct row_ctx *c = ctx;
    return c->bench->agree(v, n);
}

static int64_t mem_available_bytes(void)
{
    long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return pages > 0 && psz > 0 ? (int64_t)pages * psz : 0;
}

// Peak resident memory of the row: the kernel's workspace plus the
// benchmark's buffers. Linux resets the high-water mark (VmHWM) when "5" is
// written to /proc/self/clear_refs; without that the peak would be the
// process's lifetime maximum, so the row reports nothing instead.
static int rss_peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return 0;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

static double rss_peak_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lf kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024.0;
}

static void stamp_now(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static enum cb_status note_status(struct cb_result *r, enum cb_status s)
{
    r->status = s;
    if (s != CB_OK)
        snprintf(r->note, sizeof r->note, "%s", cb_error_text());
    return s;
}

// Host seconds before timing above which the row notes them
// (CHIPBENCH_HOST_NOTE_S overrides; the tests set 0).
static double host_note_s(void)
{
    const char *e = getenv("CHIPBENCH_HOST_NOTE_S");
    if (!e || !*e)
        return 5.0;
    char *end;
    const double v = strtod(e, &end);
    return *end || !(v >= 0) ? 5.0 : v;
}

enum cb_status cb_bench_row(const struct cb_kernel *k, const struct cb_call *shape, int threads,
                            const struct cb_bench_opts *o, struct cb_result *r)
{
    enum cb_status s = CB_OK;
    struct row_ctx c = {.k = k};
    struct cb_rng rng;
    struct cb_power *pw = NULL;

    memset(r, 0, sizeof *r);
    r->kernel = k;
    r->shape = *shape;
    r->threads = threads;
    r->max_rel_err = NAN;
    r->device_time_ns = NAN;
    r->tolerance = NAN;
    cb_clear_error();

    c.bench = cb_bench_for(k->op);
    if (!c.bench || k->op != shape->op) {
        s = cb_set_error(CB_ERR_INVALID_ARG, "kernel %s is not a %s kernel", k->name,
                         cb_op_name(shape->op));
        goto out;
    }
    CB_TRY(c.bench->check_shape(shape));
    r->flops = cb_call_flops(shape);
    r->bytes = cb_call_bytes(shape, k->dtype);
    if (threads < 1) {
        s = cb_set_error(CB_ERR_INVALID_ARG, "threads must be >= 1");
        goto out;
    }
    if (k->max_threads > 0 && threads > k->max_threads) {
        s = cb_set_error(CB_ERR_UNSUPPORTED, "%s runs on at most %d thread%s", k->name,
                         k->max_threads, k->max_threads == 1 ? "" : "s");
        goto out;
    }
    CB_TRY(cb_kernel_usable(k));

    // Buffer rotation: enough copies that consecutive launches touch
    // different memory and the data set exceeds twice the last-level cache.
    double one = c.bench->set_bytes(shape, k->dtype);
    int64_t llc = cb_topo_llc_bytes();
    c.nbuf = 1;
    // Device kernels keep their inputs in device memory uploaded by the plan
    // (host copies would only be rotated on the host): cache_mode "device".
    int on_device = k->readback != NULL;
    if (!on_device && o->rotate && llc > 0 && one < 2.0 * (double)llc) {
        c.nbuf = (int)ceil(2.0 * (double)llc / one);
        if (c.nbuf > 64)
            c.nbuf = 64;
        while (c.nbuf > 1 && c.nbuf * one > 512.0 * (1 << 20))
            c.nbuf--;
    }
    snprintf(r->cache_mode, sizeof r->cache_mode, "%s",
             on_device ? "device" : !o->rotate ? "hot" : (c.nbuf > 1 ? "rotate" : "cold"));
    r->buffers = c.nbuf;
    r->working_set_bytes = c.nbuf * one;
    int64_t avail = mem_available_bytes();
    if (avail > 0 && r->working_set_bytes > 0.8 * (double)avail) {
        // Refused before any allocation, as a skip: the shape cannot run on
        // this machine now, the kernel is not at fault.
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        s = cb_set_error(CB_ERR_UNSUPPORTED, "needs %.2f GiB of buffers, the machine has "
                         "%.2f GiB available (of %.2f GiB)", r->working_set_bytes / (1 << 30),
                         (double)avail / (1 << 30), (double)pages * (double)psz / (1 << 30));
        goto out;
    }

    // A device kernel's host side (driver threads, the float64 check) gets
    // every core; `threads` is the CPU kernels' knob.
    // Ranks of a collective are placed by their launcher: pinning every rank
    // to the first cores would stack them on one core.
    if (!c.bench->agree &&
        cb_topo_bind_process(on_device ? cb_topo_get()->cores : threads) != CB_OK)
        cb_clear_error();  // binding is best effort; unpinned rows still run

    int rss_reset = rss_peak_reset();
    // Host seconds around the timed part (set-up, plan with its uploads and
    // builds, the float64 check), noted on the row when they pass
    // host_note_s(): a lent GPU's time went mostly there on big shapes.
    const int64_t t_setup = cb_now_ns();
    int64_t t_plan = t_setup, t_verify = t_setup, t_check = t_setup;
    cb_rng_seed(&rng, o->seed);
    CB_TRY(c.bench->setup(shape, k->dtype, c.nbuf, &rng, &c.data));
    t_plan = cb_now_ns();
    if (k->plan) {
        struct cb_plan_req req = {.shape = c.bench->call(c.data, 0), .threads = threads,
                                  .device = o->device};
        CB_TRY(k->plan(k, &req, &c.plan));
    }
    if (k->where && c.plan)
        k->where(c.plan, r->device, (int)sizeof r->device, r->chip_class,
                 (int)sizeof r->chip_class);
    if (k->pci_bus && c.plan)
        k->pci_bus(c.plan, r->pci_bus, (int)sizeof r->pci_bus);
    if (o->power.enabled) {
        // Device rows (OpenCL, CLBlast, cuBLAS: whatever reads its result
        // back) are charged to their device's counter, unless the device is
        // the CPU itself (PoCL): then to the packages, like CPU rows.
        struct cb_power_target t = {0};
        t.device = on_device && strncmp(r->chip_class, "opencl:cpu:", 11) != 0;
        cb_strlcpy(t.pci_bus, r->pci_bus, sizeof t.pci_bus);
        CB_TRY(cb_power_open(&o->power, &t, &pw));
    }

    // Verify first: a wrong kernel gets no timing.
    t_verify = t_check = cb_now_ns();
    if (!o->verified) {
        c.bench->poison(c.data, 0);
        CB_TRY(k->run(c.plan, c.bench->call(c.data, 0)));
        if (k->finish)
            CB_TRY(k->finish(c.plan));
        if (k->readback)
            CB_TRY(k->readback(c.plan, c.bench->call(c.data, 0)));
        t_check = cb_now_ns();
        CB_TRY(c.bench->verify(c.data, 0, &r->max_rel_err, &r->tolerance));
    }

    const int64_t t_timed = cb_now_ns();
    if ((double)(t_timed - t_setup) >= host_note_s() * 1e9) {
        size_t n = strlen(r->note);
        snprintf(r->note + n, sizeof r->note - n,
                 "%shost %.1f s before timing: set-up %.1f, plan %.1f, checked run %.1f, float64 "
                 "check %.1f", n ? "; " : "", (double)(t_timed - t_setup) * 1e-9,
                 (double)(t_plan - t_setup) * 1e-9, (double)(t_verify - t_plan) * 1e-9,
                 (double)(t_check - t_verify) * 1e-9, (double)(t_timed - t_check) * 1e-9);
    }
    struct cb_launcher l = {.launch = row_launch, .sync = k->finish ? row_sync : NULL,
                            .ctx = &c, .power = pw,
                            .agree = c.bench->agree ? row_agree : NULL};
    s = cb_measure_run(o, &l, &r->m);
    if (s == CB_ERR_INTERRUPTED)
        cb_set_error(s, "interrupted by signal");
    if (s != CB_OK)
        goto out;
    r->device_time_ns = k->device_time_ns && c.plan ? k->device_time_ns(c.plan) : NAN;
    r->peak_rss_bytes = rss_reset ? rss_peak_bytes() : 0;
    r->gflops = r->flops / r->m.st.median;
    r->gbytes_per_s = r->bytes / r->m.st.median;
    r->rounds = 1;
    r->round_ns[0] = r->m.st.median;
    if (r->m.power.source[0] && r->m.power.quality == CB_POWER_UNAVAILABLE) {
        size_t n = strlen(r->note);
        snprintf(r->note + n, sizeof r->note - n, "%spower unavailable: %s", n ? "; " : "",
                 r->m.power.reason);
    }

out:
    cb_power_close(pw);
    if (c.plan && k->plan_free)
        k->plan_free(c.plan);
    if (c.data)
        c.bench->teardown(c.data);
    if (s != CB_OK)
        cb_measure_free(&r->m);
    stamp_now(r->timestamp, sizeof r->timestamp);
    return note_status(r, s);
}
