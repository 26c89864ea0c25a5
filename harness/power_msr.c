// power_msr.c: RAPL package energy read straight from the model-specific
// registers through the msr driver (/dev/cpu/<cpu>/msr: pread of 8 bytes at
// the MSR's address), one CPU per package. The last resort for the CPU
// packages (rank below powercap and perf): it needs root or CAP_SYS_RAWIO and
// the msr module, and the reader owns the unit and the wrap.
//
//   Intel:          MSR_RAPL_POWER_UNIT 0x606, MSR_PKG_ENERGY_STATUS 0x611
//   AMD Zen (17h+): 0xC0010299 (same layout), package energy 0xC001029B
//
// Energy status unit (ESU) = unit MSR bits 12:8, one count = 2^-ESU J (the
// kernel's rapl_check_hw_unit). The energy field is bits 31:0 and wraps
// (2^32 counts: 262144 J at ESU 14, about an hour at 70 W, a minute at high
// power): each reading adds the difference modulo 2^32, and the 20 Hz
// sampler reads far more often than one wrap.
//
// The vendor comes from CPUID (cb_cpu_info); CHIPBENCH_MSR_VENDOR
// ("GenuineIntel", "AuthenticAMD", "HygonGenuine", or "intel" / "amd")
// replaces it, so tests on fake trees pick the MSR set. The packages come from
// /sys/devices/system/cpu/cpu*/topology/physical_package_id (and die_id on
// Intel, whose package counter is per die); every path is under
// CHIPBENCH_SYSFS_ROOT, where the tests' msr files are sparse regular files
// with the values written at the MSR offsets, and a sibling "msr.eacces"
// stands for a permission error (the tests run as root).
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_util.h"
#include "power_src.h"

#define MAX_PKG 16

#define MSR_RAPL_POWER_UNIT       0x606u
#define MSR_PKG_ENERGY_STATUS     0x611u
#define MSR_AMD_RAPL_POWER_UNIT   0xC0010299u
#define MSR_AMD_PKG_ENERGY_STATUS 0xC001029Bu

struct msr {
    int n;
    int fd[MAX_PKG];
    int cpu[MAX_PKG];
    uint32_t prev[MAX_PKG];   // last raw counter (bits 31:0)
    double unit[MAX_PKG];     // joules per count
    uint32_t energy_msr;
    double acc_j;
};

double cb_power_msr_joules_per_count(uint64_t unit_msr)
{
    return ldexp(1.0, -(int)((unit_msr >> 8) & 0x1f));
}

uint32_t cb_power_msr_delta(uint32_t prev, uint32_t now)
{
    return now - prev;  // modulo 2^32: one wrap between readings at most
}

static int pread_msr(int fd, uint32_t msr, uint64_t *v)
{
    ssize_t n = pread(fd, v, sizeof *v, (off_t)msr);
    if (n == (ssize_t)sizeof *v)
        return 0;
    // The driver answers EIO for an MSR the CPU (or hypervisor) lacks; a
    // fake file too short for the offset reads short: the same thing.
    return n < 0 ? errno : EIO;
}

static enum cb_status msr_read(struct cb_power_src *s, double *v)
{
    struct msr *m = s->priv;
    for (int i = 0; i < m->n; i++) {
        uint64_t raw;
        int e = pread_msr(m->fd[i], m->energy_msr, &raw);
        if (e)
            return cb_set_error(CB_ERR_IO, "reading MSR 0x%x on cpu %d: %s", m->energy_msr,
                                m->cpu[i], strerror(e));
        uint32_t now = (uint32_t)raw;
        m->acc_j += (double)cb_power_msr_delta(m->prev[i], now) * m->unit[i];
        m->prev[i] = now;
    }
    *v = m->acc_j;
    return CB_OK;
}

static void msr_close(struct cb_power_src *s)
{
    struct msr *m = s->priv;
    for (int i = 0; m && i < m->n; i++)
        close(m->fd[i]);
    free(m);
    s->priv = NULL;
}

// 1: Intel, 2: AMD/Hygon Zen, 0: none (why in buf).
static int vendor(char *why, size_t len)
{
    const char *e = getenv("CHIPBENCH_MSR_VENDOR");
    const struct cb_cpu_info *ci = e && *e ? NULL : cb_cpu_info();
    const char *v = ci ? ci->vendor : e;
    if (!strcasecmp(v, "GenuineIntel") || !strcasecmp(v, "intel"))
        return 1;
    if (!strcasecmp(v, "AuthenticAMD") || !strcasecmp(v, "HygonGenuine") ||
        !strcasecmp(v, "amd")) {
        if (!ci || ci->family >= 0x17)
            return 2;
        snprintf(why, len, "%s family %xh: the RAPL MSRs start with Zen (family 17h)", v,
                 (unsigned)ci->family);
        return 0;
    }
    snprintf(why, len, "%s CPU (%s): no RAPL MSRs", v, ci ? ci->arch : "CHIPBENCH_MSR_VENDOR");
    return 0;
}

static int read_int(const char *rel, int *out)
{
    char path[1024], buf[32];
    cb_sysfs_path(path, sizeof path, rel);
    if (cb_sysfs_read(path, buf, sizeof buf) || !buf[0])
        return -1;
    *out = atoi(buf);
    return 0;
}

static int int_cmp(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

// The lowest-numbered CPU of each package (Intel: of each die), ascending;
// CPU 0 alone when the topology is not there. Returns the count.
static int package_cpus(int intel, int *cpus, int max)
{
    char dir[1024];
    int ids[1024], n = 0, keys[MAX_PKG], np = 0;
    cb_sysfs_path(dir, sizeof dir, "/sys/devices/system/cpu");
    DIR *d = opendir(dir);
    for (struct dirent *de; d && (de = readdir(d)) && n < 1024;) {
        const char *p = de->d_name;
        if (!strncmp(p, "cpu", 3) && isdigit((unsigned char)p[3]) &&
            strspn(p + 3, "0123456789") == strlen(p + 3))
            ids[n++] = atoi(p + 3);
    }
    if (d)
        closedir(d);
    qsort(ids, (size_t)n, sizeof ids[0], int_cmp);
    for (int i = 0; i < n && np < max; i++) {
        char rel[128];
        int pkg, die = 0;
        snprintf(rel, sizeof rel, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id",
                 ids[i]);
        if (read_int(rel, &pkg))
            continue;  // offline, or not a CPU directory
        snprintf(rel, sizeof rel, "/sys/devices/system/cpu/cpu%d/topology/die_id", ids[i]);
        if (!intel || read_int(rel, &die))
            die = 0;
        int key = pkg * 4096 + die, seen = 0;
        for (int j = 0; j < np && !seen; j++)
            seen = keys[j] == key;
        if (!seen) {
            keys[np] = key;
            cpus[np++] = ids[i];
        }
    }
    if (np == 0 && max > 0)
        cpus[np++] = 0;
    return np;
}

// Open one CPU's msr file; an errno value on failure. Under a fake root a
// sibling "msr.eacces" stands for EACCES, as in cb_sysfs_read.
static int open_msr(const char *path, int *fd)
{
    if (cb_sysfs_root()[0]) {
        char mark[1100];
        snprintf(mark, sizeof mark, "%s.eacces", path);
        if (access(mark, F_OK) == 0)
            return EACCES;
    }
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    return *fd < 0 ? errno : 0;
}

static void why_open(int e, const char *rel, char *buf, size_t len)
{
    if (e == EACCES || e == EPERM)
        snprintf(buf, len, "%s: permission denied (needs root or CAP_SYS_RAWIO: sudo setcap "
                 "cap_sys_rawio+ep chipbench; sudo modprobe msr)", rel);
    else if (e == ENOENT || e == ENXIO || e == ENODEV)
        snprintf(buf, len, "%s: no msr driver (sudo modprobe msr)", rel);
    else
        snprintf(buf, len, "%s: %s", rel, cb_power_errno_hint(e));
}

void cb_power_msr_discover(struct cb_power_reg *reg)
{
    char why[200], path[1024];
    int v = vendor(why, sizeof why);
    cb_sysfs_path(path, sizeof path, "/dev/cpu/0/msr");
    if (!v) {
        cb_power_reg_info(reg, "rapl-msr", "package", "cpu", path, 0, "%s", why);
        return;
    }
    const char *vn = v == 1 ? "Intel" : "AMD";
    uint32_t unit_msr = v == 1 ? MSR_RAPL_POWER_UNIT : MSR_AMD_RAPL_POWER_UNIT;
    struct msr *m = calloc(1, sizeof *m);
    if (!m) {
        cb_power_reg_info(reg, "rapl-msr", "package", "cpu", path, 0, "out of memory");
        return;
    }
    m->energy_msr = v == 1 ? MSR_PKG_ENERGY_STATUS : MSR_AMD_PKG_ENERGY_STATUS;
    int cpus[MAX_PKG];
    int np = package_cpus(v == 1, cpus, MAX_PKG), bad = 0;
    for (int i = 0; i < np; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "/dev/cpu/%d/msr", cpus[i]);
        cb_sysfs_path(path, sizeof path, rel);
        int fd = -1, e = open_msr(path, &fd);
        uint64_t unit = 0, raw = 0;
        if (e) {
            why_open(e, rel, why, sizeof why);
        } else if ((e = pread_msr(fd, unit_msr, &unit)) != 0 ||
                   (e = pread_msr(fd, m->energy_msr, &raw)) != 0) {
            snprintf(why, sizeof why, "%s: reading %s MSR 0x%x: %s%s", rel, vn,
                     unit ? m->energy_msr : unit_msr, strerror(e),
                     e == EIO ? " (the CPU or the hypervisor does not implement it)" : "");
        } else if (unit == 0) {
            e = EIO;
            snprintf(why, sizeof why, "%s MSR 0x%x (RAPL power unit) reads 0: no RAPL here "
                     "(a hypervisor?)", vn, unit_msr);
        }
        if (e) {
            cb_power_reg_info(reg, "rapl-msr", "package", "cpu", path, 0, "%s", why);
            if (fd >= 0)
                close(fd);
            bad++;
            continue;
        }
        int esu = (int)((unit >> 8) & 0x1f);
        m->fd[m->n] = fd;
        m->cpu[m->n] = cpus[i];
        m->unit[m->n] = cb_power_msr_joules_per_count(unit);
        m->prev[m->n] = (uint32_t)raw;
        cb_power_reg_info(reg, "rapl-msr", "package", "cpu", path, 1,
                          "%s package energy MSR 0x%x (package of cpu %d), ESU %d: 2^-%d J "
                          "(%.3g µJ) per count, 32-bit, wraps at %.0f J", vn, m->energy_msr,
                          cpus[i], esu, esu, m->unit[m->n] * 1e6, 4294967296.0 * m->unit[m->n]);
        m->n++;
    }
    // A package missing from the sum would undercount: all or nothing.
    struct cb_power_src *s = m->n > 0 && !bad ? calloc(1, sizeof *s) : NULL;
    if (!s) {
        struct cb_power_src tmp = {.priv = m};
        msr_close(&tmp);
        return;
    }
    snprintf(s->source, sizeof s->source, "rapl-msr");
    snprintf(s->scope, sizeof s->scope, "package");
    char w[sizeof s->where];
    int k = snprintf(w, sizeof w, "%s MSR 0x%x on %d package%s, cpu", vn, m->energy_msr, m->n,
                     m->n > 1 ? "s" : "");
    for (int i = 0; i < m->n && k > 0 && (size_t)k < sizeof w; i++)
        k += snprintf(w + k, sizeof w - (size_t)k, "%s%d", i ? "," : " ", m->cpu[i]);
    cb_strlcpy(s->where, w, sizeof s->where);
    s->target = CB_PF_CPU;
    s->kind = CB_PK_ENERGY;
    s->rank = 30;  // after powercap (10) and perf (20): same counter, more privilege
    s->period_s = 1e-3;  // ~1 ms (Intel SDM; amd_energy.rst)
    s->read = msr_read;
    s->close = msr_close;
    s->priv = m;
    cb_power_reg_add(reg, s);
}
