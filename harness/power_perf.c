// power_perf.c: RAPL through the perf_event "power" PMU
// (/sys/bus/event_source/devices/power): energy-pkg counted system-wide on
// one CPU per package (the PMU's cpumask). The kernel accumulates the 32-bit
// hardware counter into 64 bits, so there is no wrap to handle; the count
// times the event's .scale is in its .unit (Joules). Needs
// perf_event_paranoid <= 0 or CAP_PERFMON, not root: the non-root route
// when powercap's energy_uj is root-only.
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "power_src.h"

#define MAX_PKG 16

struct perf {
    int n;
    int fd[MAX_PKG];
    double scale;
    double base_j;
};

// "event=0x02" (maybe with other terms) -> 0x02; -1 if absent.
long long cb_power_perf_event_config(const char *text)
{
    const char *p = strstr(text, "event=");
    if (!p)
        return -1;
    char *end;
    long long v = strtoll(p + 6, &end, 0);
    return end == p + 6 ? -1 : v;
}

// "0", "0,28", "0-1,4" -> cpu ids; returns the count.
int cb_power_perf_cpumask(const char *text, int *cpus, int max)
{
    int n = 0;
    const char *p = text;
    while (*p && n < max) {
        char *end;
        long a = strtol(p, &end, 10), b;
        if (end == p)
            break;
        b = a;
        if (*end == '-') {
            p = end + 1;
            b = strtol(p, &end, 10);
        }
        for (long c = a; c <= b && n < max; c++)
            cpus[n++] = (int)c;
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' )
            break;
    }
    return n;
}

static enum cb_status perf_total(struct perf *pf, double *j)
{
    double sum = 0;
    for (int i = 0; i < pf->n; i++) {
        uint64_t c;
        if (read(pf->fd[i], &c, sizeof c) != (ssize_t)sizeof c)
            return cb_set_error(CB_ERR_IO, "reading the energy-pkg counter: %s", strerror(errno));
        sum += (double)c * pf->scale;
    }
    *j = sum;
    return CB_OK;
}

static enum cb_status perf_read(struct cb_power_src *s, double *v)
{
    struct perf *pf = s->priv;
    double j;
    enum cb_status st = perf_total(pf, &j);
    if (st == CB_OK)
        *v = j - pf->base_j;
    return st;
}

static void perf_close(struct cb_power_src *s)
{
    struct perf *pf = s->priv;
    for (int i = 0; pf && i < pf->n; i++)
        close(pf->fd[i]);
    free(pf);
    s->priv = NULL;
}

void cb_power_perf_discover(struct cb_power_reg *reg)
{
    char dir[1024], path[1100], buf[256], unit[64], par[32];
    struct perf *pf = NULL;
    cb_sysfs_path(dir, sizeof dir, "/sys/bus/event_source/devices/power");
    snprintf(path, sizeof path, "%s/type", dir);
    int e = cb_sysfs_read(path, buf, sizeof buf);
    if (e) {
        cb_power_reg_info(reg, "rapl-perf", "package", "cpu", dir, 0,
                          "no perf power PMU (%s): kernel without RAPL perf events, or a VM",
                          cb_power_errno_hint(e));
        return;
    }
    int type = atoi(buf);
    snprintf(path, sizeof path, "%s/events/energy-pkg", dir);
    long long config = cb_sysfs_read(path, buf, sizeof buf) ? -1 : cb_power_perf_event_config(buf);
    if (config < 0) {
        cb_power_reg_info(reg, "rapl-perf", "package", "cpu", path, 0,
                          "the power PMU has no energy-pkg event");
        return;
    }
    snprintf(path, sizeof path, "%s/events/energy-pkg.scale", dir);
    double scale = cb_sysfs_read(path, buf, sizeof buf) ? 0 : strtod(buf, NULL);
    snprintf(path, sizeof path, "%s/events/energy-pkg.unit", dir);
    if (cb_sysfs_read(path, unit, sizeof unit))
        unit[0] = 0;
    if (scale <= 0 || strcmp(unit, "Joules")) {
        cb_power_reg_info(reg, "rapl-perf", "package", "cpu", path, 0,
                          "energy-pkg has scale '%g' and unit '%s' (expected Joules)", scale,
                          unit);
        return;
    }
    int cpus[MAX_PKG], ncpu = 0;
    snprintf(path, sizeof path, "%s/cpumask", dir);
    if (!cb_sysfs_read(path, buf, sizeof buf))
        ncpu = cb_power_perf_cpumask(buf, cpus, MAX_PKG);
    if (!ncpu) {
        cb_power_reg_info(reg, "rapl-perf", "package", "cpu", path, 0, "no cpumask");
        return;
    }
    char ppath[1024];
    cb_sysfs_path(ppath, sizeof ppath, "/proc/sys/kernel/perf_event_paranoid");
    if (cb_sysfs_read(ppath, par, sizeof par))
        snprintf(par, sizeof par, "unknown");
    pf = calloc(1, sizeof *pf);
    if (!pf)
        return;
    pf->scale = scale;
    for (int i = 0; i < ncpu; i++) {
        struct perf_event_attr a;
        memset(&a, 0, sizeof a);
        a.size = sizeof a;
        a.type = (uint32_t)type;
        a.config = (uint64_t)config;
        // System-wide counting only: no pid, sample_period 0 (rapl.c).
        long fd = syscall(SYS_perf_event_open, &a, -1, cpus[i], -1, 0UL);
        if (fd < 0) {
            e = errno;
            cb_power_reg_info(reg, "rapl-perf", "package", "cpu", dir, 0,
                              "perf_event_open(energy-pkg, cpu %d): %s%s%s%s", cpus[i],
                              strerror(e), e == EACCES || e == EPERM ?
                              "; perf_event_paranoid is " : "",
                              e == EACCES || e == EPERM ? par : "",
                              e == EACCES || e == EPERM ?
                              " (needs <= 0, or CAP_PERFMON: sudo setcap cap_perfmon+ep "
                              "chipbench)" : "");
            goto fail;
        }
        pf->fd[pf->n++] = (int)fd;
    }
    if (perf_total(pf, &pf->base_j) != CB_OK) {
        cb_power_reg_info(reg, "rapl-perf", "package", "cpu", dir, 0, "%s", cb_error_text());
        goto fail;
    }
    struct cb_power_src *s = calloc(1, sizeof *s);
    if (!s)
        goto fail;
    snprintf(s->source, sizeof s->source, "rapl-perf");
    snprintf(s->scope, sizeof s->scope, "package");
    snprintf(s->where, sizeof s->where, "perf power/energy-pkg on %d package%s", pf->n,
             pf->n > 1 ? "s" : "");
    s->target = CB_PF_CPU;
    s->kind = CB_PK_ENERGY;
    s->rank = 20;
    s->period_s = 1e-3;  // the same RAPL counter as powercap (~1 ms)
    s->read = perf_read;
    s->close = perf_close;
    s->priv = pf;
    cb_power_reg_info(reg, "rapl-perf", "package", "cpu", s->where, 1,
                      "energy-pkg, %g J per count, no wrap (64-bit in the kernel)", scale);
    cb_power_reg_add(reg, s);
    return;
fail:
    {
        struct cb_power_src tmp = {.priv = pf};
        perf_close(&tmp);
    }
}
