// power_rapl.c: RAPL through Linux powercap sysfs
// (/sys/class/powercap/intel-rapl:N, also on AMD Zen since the 2020 powercap
// additions). One CPU source sums every package zone; each zone's 32-bit
// hardware counter wraps at max_energy_range_uj, so each is unwrapped on its
// own at every reading. Sub-zones (core, dram) and psys are listed, not used:
// rows are attributed to the packages.
//
// energy_uj is root-only since Linux 5.10 (CVE-2020-8694, PLATYPUS): the
// info line says how an administrator lets a user read it.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chipbench/cb_util.h"
#include "power_src.h"

#define MAX_PKG 16

struct rapl {
    int n;
    int fd[MAX_PKG];
    double prev[MAX_PKG], range[MAX_PKG];  // µJ
    double acc_j;
};

static enum cb_status rapl_read(struct cb_power_src *s, double *v)
{
    struct rapl *r = s->priv;
    for (int i = 0; i < r->n; i++) {
        uint64_t now;
        int e = cb_sysfs_pread_u64(r->fd[i], &now);
        if (e)
            return cb_set_error(CB_ERR_IO, "reading energy_uj of package %d: %s", i,
                                strerror(e));
        r->acc_j += cb_power_unwrap(r->prev[i], (double)now, r->range[i]) * 1e-6;
        r->prev[i] = (double)now;
    }
    *v = r->acc_j;
    return CB_OK;
}

static void rapl_close(struct cb_power_src *s)
{
    struct rapl *r = s->priv;
    for (int i = 0; r && i < r->n; i++)
        close(r->fd[i]);
    free(r);
    s->priv = NULL;
}

static int zone_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *const enable_hint =
    "energy_uj is root-only since Linux 5.10 (CVE-2020-8694); to let this user read it: "
    "sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj (until reboot), or a udev "
    "rule / sysfs.conf line 'mode class/powercap/intel-rapl:0/energy_uj = 0444'";

// One zone directory: add it to r (packages) and an info line (all zones).
static void zone(struct cb_power_reg *reg, const char *dir, const char *zname, int top,
                 struct rapl *r, int *bad)
{
    char path[1024], name[64], buf[64];
    if (snprintf(path, sizeof path, "%s/%s/name", dir, zname) >= (int)sizeof path ||
        cb_sysfs_read(path, name, sizeof name))
        snprintf(name, sizeof name, "?");
    int pkg = top && !strncmp(name, "package", 7);
    const char *scope = pkg ? "package" : !strcmp(name, "psys") ? "platform" : name;
    int e = snprintf(path, sizeof path, "%s/%s/energy_uj", dir, zname) >= (int)sizeof path
                ? ENAMETOOLONG : cb_sysfs_read(path, buf, sizeof buf);
    if (e) {
        cb_power_reg_info(reg, "rapl-powercap", scope, "cpu", path, 0, "%s: %s",
                          cb_power_errno_hint(e), e == EACCES || e == EPERM ? enable_hint : "");
        *bad += pkg;
        return;
    }
    char rpath[1024], rbuf[64];
    int long_path = snprintf(rpath, sizeof rpath, "%s/%s/max_energy_range_uj", dir, zname) >=
                    (int)sizeof rpath;
    double range = long_path || cb_sysfs_read(rpath, rbuf, sizeof rbuf) ? 0 : strtod(rbuf, NULL);
    cb_power_reg_info(reg, "rapl-powercap", scope, "cpu", path, 1,
                      "%s, µJ, wraps at %s µJ%s", name, range > 0 ? rbuf : "(unknown)",
                      pkg ? "" : "; listed only (rows use the package zones)");
    if (!pkg || r->n >= MAX_PKG)
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint64_t v;
    if (fd < 0 || cb_sysfs_pread_u64(fd, &v)) {
        if (fd >= 0)
            close(fd);
        *bad += 1;
        return;
    }
    r->fd[r->n] = fd;
    r->prev[r->n] = (double)v;
    r->range[r->n] = range;
    r->n++;
}

void cb_power_rapl_discover(struct cb_power_reg *reg)
{
    char dir[1024];
    cb_sysfs_path(dir, sizeof dir, "/sys/class/powercap");
    DIR *d = opendir(dir);
    char *names[128];
    int nn = 0, bad = 0;
    struct rapl *r = calloc(1, sizeof *r);
    if (!d || !r) {
        cb_power_reg_info(reg, "rapl-powercap", "package", "cpu", dir, 0,
                          "%s: no powercap (kernel without intel_rapl, or a VM)",
                          d ? "out of memory" : cb_power_errno_hint(errno));
        goto out;
    }
    // "intel-rapl:N" (top-level) and "intel-rapl:N:M" (sub-zones); the
    // intel-rapl-mmio duplicates of the package are left out (double count).
    for (struct dirent *de; (de = readdir(d)) && nn < 128;)
        if (!strncmp(de->d_name, "intel-rapl:", 11))
            names[nn++] = strdup(de->d_name);
    qsort(names, (size_t)nn, sizeof names[0], zone_cmp);
    for (int i = 0; i < nn; i++)
        if (names[i])
            zone(reg, dir, names[i], strchr(names[i] + 11, ':') == NULL, r, &bad);
    if (!nn)
        cb_power_reg_info(reg, "rapl-powercap", "package", "cpu", dir, 0,
                          "no intel-rapl zones (kernel without intel_rapl, or a VM)");
    if (r->n > 0 && !bad) {
        struct cb_power_src *s = calloc(1, sizeof *s);
        if (s) {
            snprintf(s->source, sizeof s->source, "rapl-powercap");
            snprintf(s->scope, sizeof s->scope, "package");
            char w[sizeof s->where];
            int k = snprintf(w, sizeof w, "%d package zone%s in ", r->n, r->n > 1 ? "s" : "");
            cb_strlcpy(w + k, dir, sizeof w - (size_t)k);
            cb_strlcpy(s->where, w, sizeof s->where);
            s->target = CB_PF_CPU;
            s->kind = CB_PK_ENERGY;
            s->rank = 10;
            // Updated about every 1 ms (Intel SDM, quoted in the note's 1.1).
            s->period_s = 1e-3;
            s->read = rapl_read;
            s->close = rapl_close;
            s->priv = r;
            r = NULL;
            cb_power_reg_add(reg, s);
        }
    }
out:
    for (int i = 0; i < nn; i++)
        free(names[i]);
    if (d)
        closedir(d);
    if (r) {
        struct cb_power_src tmp = {.priv = r};
        rapl_close(&tmp);
    }
}
