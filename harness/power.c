// power.c: the power layer's front: discovery of every source once per
// process (the back-ends in power_<source>.c), the choice of a source for a
// row, the probe of its update period, the idle measurement, and the
// session: a sampler thread reading (time, value) during the timed region,
// then the energy of the window (counter difference or trapezoid).
//
// Method (the power-and-cost design note, section 2.4): an energy counter is
// read at the start and the end of the window and in between at ~20 Hz (so
// a 32-bit counter can be unwrapped); the window must last at least
// max(2 s, 20 update periods), the quantisation bound there being 2 periods.
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chipbench/cb_stats.h"
#include "chipbench/cb_util.h"
#include "power_src.h"

#define MAX_SRC 32
#define MAX_INFO 64

struct cb_power_reg {
    struct cb_power_src *src[MAX_SRC];
    int n;
    struct cb_power_info info[MAX_INFO];
    int ninfo;
    int done;
    int have_cmd;
};

// Discovery and the sources are process-wide and touched only by the thread
// that runs rows (the sampler reads one source while that thread waits).
static struct cb_power_reg g_reg;

void cb_power_opts_default(struct cb_power_opts *o)
{
    const char *e = getenv("CHIPBENCH_POWER");
    memset(o, 0, sizeof *o);
    o->enabled = !(e && !strcmp(e, "off"));
    // 20 Hz: inside the note's 10-50 Hz, and far below a wrap period.
    o->interval_s = 0.05;
    o->min_window_s = -1;
}

void cb_power_reg_add(struct cb_power_reg *r, struct cb_power_src *s)
{
    if (r->n >= MAX_SRC) {
        if (s->close)
            s->close(s);
        free(s);
        return;
    }
    s->idle_w = NAN;
    r->src[r->n++] = s;
}

void cb_power_reg_info(struct cb_power_reg *r, const char *source, const char *scope,
                       const char *target, const char *where, int readable,
                       const char *fmt, ...)
{
    if (r->ninfo >= MAX_INFO)
        return;
    struct cb_power_info *i = &r->info[r->ninfo++];
    memset(i, 0, sizeof *i);
    snprintf(i->source, sizeof i->source, "%s", source);
    snprintf(i->scope, sizeof i->scope, "%s", scope ? scope : "");
    snprintf(i->target, sizeof i->target, "%s", target ? target : "");
    snprintf(i->where, sizeof i->where, "%s", where ? where : "");
    i->readable = readable;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(i->detail, sizeof i->detail, fmt, ap);
    va_end(ap);
}

static void discover(const struct cb_power_opts *o)
{
    if (!g_reg.done) {
        g_reg.done = 1;
        cb_power_rapl_discover(&g_reg);
        cb_power_perf_discover(&g_reg);
        cb_power_msr_discover(&g_reg);
        cb_power_hwmon_discover(&g_reg);
        cb_power_nvml_discover(&g_reg);
    }
    if (o && o->cmd && *o->cmd && !g_reg.have_cmd) {
        g_reg.have_cmd = 1;
        cb_power_cmd_discover(&g_reg, o->cmd);
    }
}

void cb_power_shutdown(void)
{
    for (int i = 0; i < g_reg.n; i++) {
        if (g_reg.src[i]->close)
            g_reg.src[i]->close(g_reg.src[i]);
        free(g_reg.src[i]);
    }
    memset(&g_reg, 0, sizeof g_reg);
}

int cb_power_list(const struct cb_power_opts *o, struct cb_power_info *out, int max)
{
    discover(o);
    for (int i = 0; i < g_reg.ninfo && i < max; i++)
        out[i] = g_reg.info[i];
    return g_reg.ninfo;
}

struct cb_power {
    struct cb_power_src *src;  // NULL: unavailable, reason says why
    struct cb_power_opts o;
    char reason[400];
    pthread_t th;
    int running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    double *t, *v;             // the window's readings (s, J or W)
    int n, cap;
    char err[200];             // first read error of the window
    double t0, t1;
};

static double now_s(void)
{
    return (double)cb_now_ns() * 1e-9;
}

static int matches(const struct cb_power_src *s, const struct cb_power_target *t)
{
    char bus[32];
    if (s->target == CB_PF_ANY)
        return 1;
    if (!t->device)
        return s->target == CB_PF_CPU;
    return s->target == CB_PF_DEVICE && cb_pci_bus_normalize(t->pci_bus, bus, sizeof bus) &&
           !strcmp(bus, s->pci_bus);
}

// Poll for up to half a second; the median interval between changes is the
// update period (the note's 2.4 step 1, shortened: rows must stay quick).
static void probe_period(struct cb_power_src *s)
{
    double prev = NAN, last_change = NAN, iv[8];
    int ni = 0;
    s->probed = 1;
    if (s->kind == CB_PK_SERIES) {
        if (s->probe)
            s->probe(s);
        return;
    }
    if (!s->read)
        return;
    double start = now_s();
    while (ni < 8 && now_s() - start < 0.5) {
        double v;
        if (s->read(s, &v) != CB_OK)
            return;
        double t = now_s();
        if (!isnan(prev) && v != prev) {
            if (!isnan(last_change))
                iv[ni++] = t - last_change;
            last_change = t;
        }
        prev = v;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (ni >= 2)
        s->period_s = cb_median(iv, ni);
}

static double min_window(const struct cb_power_opts *o, const struct cb_power_src *s)
{
    if (o->min_window_s >= 0)
        return o->min_window_s;
    double w = 20.0 * s->period_s;
    // A slow meter needs enough readings, not only enough periods: MLPerf's
    // training rules ask for 60 samples (the note's 2.1).
    if (s->min_samples * s->period_s > w)
        w = s->min_samples * s->period_s;
    return w > 2.0 ? w : 2.0;
}

static void *sampler(void *arg);

// "no readable CPU package energy counter (rapl-powercap: ...; rapl-perf:
// ...)": the reasons discovery recorded for sources of this target.
static void why_none(const struct cb_power_target *t, char *buf, size_t len)
{
    char bus[32] = "";
    cb_pci_bus_normalize(t->pci_bus, bus, sizeof bus);
    int n = snprintf(buf, len, "no readable %s energy or power counter",
                     t->device ? "device" : "CPU package");
    const char *sep = " (";
    for (int i = 0; i < g_reg.ninfo && n > 0 && (size_t)n < len; i++) {
        const struct cb_power_info *in = &g_reg.info[i];
        int mine = t->device ? !strcmp(in->target, "device") ||
                                   (!strncmp(in->target, "device ", 7) && !strcmp(in->target + 7, bus))
                             : !strcmp(in->target, "cpu");
        if (in->readable || !mine)
            continue;
        n += snprintf(buf + n, len - (size_t)n, "%s%s: %s", sep, in->source, in->detail);
        sep = "; ";
    }
    if (n > 0 && (size_t)n < len && sep[0] == ';')
        snprintf(buf + n, len - (size_t)n, ")");
}

static enum cb_status session_new(const struct cb_power_opts *o, struct cb_power_src *src,
                                  struct cb_power **out)
{
    struct cb_power *p = calloc(1, sizeof *p);
    if (!p)
        return cb_set_error(CB_ERR_NO_MEMORY, "power session");
    p->o = *o;
    if (p->o.interval_s <= 0)
        p->o.interval_s = 0.05;
    p->src = src;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = p;
    return CB_OK;
}

// Idle power of a source, once per process: the same session over
// --idle-seconds with nothing running.
static void measure_idle(const struct cb_power_opts *o, struct cb_power_src *s)
{
    struct cb_power *p = NULL;
    struct cb_power_result r;
    if (session_new(o, s, &p) != CB_OK)
        return;
    if (cb_power_start(p) == CB_OK) {
        struct timespec ts = {(time_t)o->idle_s,
                              (long)((o->idle_s - floor(o->idle_s)) * 1e9)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        cb_power_stop(p, &r);
        if (r.quality != CB_POWER_UNAVAILABLE)
            s->idle_w = r.watts;
    }
    cb_power_close(p);
}

enum cb_status cb_power_open(const struct cb_power_opts *o, const struct cb_power_target *t,
                             struct cb_power **out)
{
    struct cb_power_src *best = NULL;
    *out = NULL;
    if (!o || !t)
        return cb_set_error(CB_ERR_INVALID_ARG, "power: no options or target");
    if (o->enabled) {
        discover(o);
        for (int i = 0; i < g_reg.n; i++)
            if (matches(g_reg.src[i], t) && (!best || g_reg.src[i]->rank < best->rank))
                best = g_reg.src[i];
    }
    enum cb_status s = session_new(o, best, out);
    if (s != CB_OK)
        return s;
    struct cb_power *p = *out;
    if (!o->enabled) {
        snprintf(p->reason, sizeof p->reason, "power measurement off (--power off)");
    } else if (!best && t->device && !t->pci_bus[0]) {
        snprintf(p->reason, sizeof p->reason,
                 "device has no PCI bus id (no cl_khr_pci_bus_info), so no power counter "
                 "can be matched to it");
    } else if (!best) {
        why_none(t, p->reason, sizeof p->reason);
    } else {
        if (!best->probed && o->min_window_s < 0)
            probe_period(best);
        if (o->idle_s > 0 && isnan(best->idle_w))
            measure_idle(o, best);
    }
    return CB_OK;
}

double cb_power_min_window_s(const struct cb_power *p)
{
    return p && p->src ? min_window(&p->o, p->src) : 0;
}

static int append(struct cb_power *p, double t, double v)
{
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 256;
        double *nt = realloc(p->t, (size_t)cap * sizeof *nt);
        if (nt)
            p->t = nt;
        double *nv = nt ? realloc(p->v, (size_t)cap * sizeof *nv) : NULL;
        if (nv)
            p->v = nv;
        if (!nt || !nv)
            return -1;
        p->cap = cap;
    }
    p->t[p->n] = t;
    p->v[p->n] = v;
    p->n++;
    return 0;
}

// One reading; the first error is kept (the message is thread-local).
static void take(struct cb_power *p)
{
    double v;
    if (p->err[0])
        return;
    if (p->src->read(p->src, &v) != CB_OK)
        snprintf(p->err, sizeof p->err, "%s", cb_error_text());
    else if (append(p, now_s(), v) != 0)
        snprintf(p->err, sizeof p->err, "out of memory for power samples");
}

static void *sampler(void *arg)
{
    struct cb_power *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double ns = ts.tv_nsec + p->o.interval_s * 1e9;
        ts.tv_sec += (time_t)(ns / 1e9);
        ts.tv_nsec = (long)fmod(ns, 1e9);
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        if (p->stop)
            break;
        pthread_mutex_unlock(&p->mu);
        take(p);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

enum cb_status cb_power_start(struct cb_power *p)
{
    if (!p->src)
        return CB_OK;
    p->n = 0;
    p->err[0] = 0;
    p->stop = 0;
    p->t0 = now_s();
    if (p->src->kind == CB_PK_SERIES)
        return CB_OK;
    take(p);
    if (pthread_create(&p->th, NULL, sampler, p) != 0) {
        snprintf(p->reason, sizeof p->reason, "power sampler thread could not start");
        p->src = NULL;
        return cb_set_error(CB_ERR_BACKEND, "%s", p->reason);
    }
    p->running = 1;
    return CB_OK;
}

void cb_power_unavailable(const struct cb_power *p, struct cb_power_result *r)
{
    memset(r, 0, sizeof *r);
    r->quality = CB_POWER_UNAVAILABLE;
    r->joules = r->seconds = r->watts = r->idle_watts = NAN;
    snprintf(r->source, sizeof r->source, "%s", p && p->src ? p->src->source : "none");
    snprintf(r->scope, sizeof r->scope, "%s", p && p->src ? p->src->scope : "");
    snprintf(r->reason, sizeof r->reason, "%s",
             p ? p->reason : "power measurement off (--power off)");
}

static void fail(struct cb_power_result *r, const char *fmt, const char *a, const char *b)
{
    r->quality = CB_POWER_UNAVAILABLE;
    r->joules = r->watts = NAN;
    snprintf(r->reason, sizeof r->reason, fmt, a, b);
}

enum cb_status cb_power_stop(struct cb_power *p, struct cb_power_result *r)
{
    cb_power_unavailable(p, r);
    if (!p->src)
        return CB_OK;
    struct cb_power_src *s = p->src;
    if (p->running) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->th, NULL);
        p->running = 0;
    }
    p->t1 = now_s();
    r->seconds = p->t1 - p->t0;
    r->idle_watts = s->idle_w;
    r->reason[0] = 0;
    if (s->kind == CB_PK_SERIES) {
        double *t = NULL, *w = NULL;
        int n = 0;
        enum cb_status st;
        // The window closes with the meter's first reading after it: wait
        // for that reading, up to three of its periods (at least a second).
        double wait = 3 * s->period_s > 1 ? 3 * s->period_s : 1, until = p->t1 + wait;
        while ((st = s->series(s, &t, &w, &n)) == CB_OK && (n == 0 || t[n - 1] < p->t1) &&
               now_s() < until) {
            free(t);
            free(w);
            t = w = NULL;
            struct timespec ts = {0, 5000000};
            nanosleep(&ts, NULL);
        }
        if (st != CB_OK) {
            fail(r, "%s: %s", s->source, cb_error_text());
        } else {
            r->joules = cb_power_window_integral(t, w, n, p->t0, p->t1);
            for (int i = 0; i < n; i++)
                r->nsamples += t[i] >= p->t0 && t[i] <= p->t1;
            if (isnan(r->joules))
                fail(r, "%s: the meter's readings do not cover the timed window (%s)",
                     s->source, n ? "it printed too few lines" : "it printed no readings");
            else
                r->quality = CB_POWER_INTEGRATED;
        }
        free(t);
        free(w);
    } else {
        take(p);
        r->nsamples = p->n;
        if (p->err[0]) {
            fail(r, "%s: %s", s->source, p->err);
        } else if (p->n < 2) {
            fail(r, "%s: fewer than 2 readings in the window%s", s->source, "");
        } else if (s->kind == CB_PK_ENERGY) {
            r->joules = p->v[p->n - 1] - p->v[0];
            r->seconds = p->t[p->n - 1] - p->t[0];
            if (r->joules <= 0)
                fail(r, "%s: counter did not advance (%s)", s->source, s->where);
            else
                r->quality = CB_POWER_MEASURED;
        } else {
            r->joules = cb_power_trapezoid(p->t, p->v, p->n);
            r->seconds = p->t[p->n - 1] - p->t[0];
            r->quality = CB_POWER_INTEGRATED;
        }
    }
    if (r->quality != CB_POWER_UNAVAILABLE)
        r->watts = r->seconds > 0 ? r->joules / r->seconds : NAN;
    return CB_OK;
}

void cb_power_close(struct cb_power *p)
{
    if (!p)
        return;
    if (p->running) {
        struct cb_power_result r;
        cb_power_stop(p, &r);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->t);
    free(p->v);
    free(p);
}
