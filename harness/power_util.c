// power_util.c: the power layer's pure parts: counter unwrapping, the
// trapezoid rule, PCI address normalization, and the sysfs readers every
// back-end shares (all paths under CHIPBENCH_SYSFS_ROOT).
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "power_src.h"

const char *cb_power_quality_name(enum cb_power_quality q)
{
    switch (q) {
    case CB_POWER_MEASURED:
        return "measured";
    case CB_POWER_INTEGRATED:
        return "integrated";
    default:
        return "unavailable";
    }
}

double cb_power_unwrap(double prev, double now, double range)
{
    if (now >= prev || range <= 0)
        return now - prev;
    // The counter passed range and restarted from 0 once: sampling at
    // ~20 Hz is far more often than the fastest documented wrap (~60 s at
    // high power), so more than one wrap between readings cannot happen.
    return (range - prev) + now;
}

double cb_power_trapezoid(const double *t, const double *w, int n)
{
    double e = 0;
    for (int i = 1; i < n; i++)
        e += 0.5 * (w[i] + w[i - 1]) * (t[i] - t[i - 1]);
    return e;
}

// w at time x on the segment i-1..i (linear).
static double lerp(const double *t, const double *w, int i, double x)
{
    double dt = t[i] - t[i - 1];
    return dt > 0 ? w[i - 1] + (w[i] - w[i - 1]) * (x - t[i - 1]) / dt : w[i];
}

double cb_power_window_integral(const double *t, const double *w, int n, double t0, double t1)
{
    if (n < 2 || t[0] > t0 || t[n - 1] < t1 || t1 <= t0)
        return NAN;
    double e = 0;
    for (int i = 1; i < n; i++) {
        double a = t[i - 1] > t0 ? t[i - 1] : t0, b = t[i] < t1 ? t[i] : t1;
        if (b <= a)
            continue;
        e += 0.5 * (lerp(t, w, i, a) + lerp(t, w, i, b)) * (b - a);
    }
    return e;
}

int cb_pci_bus_normalize(const char *in, char *out, size_t len)
{
    unsigned dom = 0, bus, dev, fn;
    int n = 0;
    if (!in || !*in || strspn(in, "0123456789abcdefABCDEF:.") != strlen(in))
        return 0;
    // With a domain (any width: OpenCL and sysfs write 4 digits, NVML 8).
    if (sscanf(in, "%x:%x:%x.%x%n", &dom, &bus, &dev, &fn, &n) == 4 && !in[n]) {
    } else if (sscanf(in, "%x:%x.%x%n", &bus, &dev, &fn, &n) == 3 && !in[n]) {
        dom = 0;
    } else {
        return 0;
    }
    if (bus > 0xff || dev > 0x1f || fn > 7)
        return 0;
    snprintf(out, len, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
    return 1;
}

// Read on every call (tests switch roots); only discovery calls it, on the
// main thread, so the static buffer is not shared with the sampler.
const char *cb_sysfs_root(void)
{
    static char root[512];
    const char *e = getenv("CHIPBENCH_SYSFS_ROOT");
    snprintf(root, sizeof root, "%s", e && *e ? e : "");
    size_t n = strlen(root);
    while (n > 0 && root[n - 1] == '/')
        root[--n] = 0;
    return root;
}

void cb_sysfs_path(char *buf, size_t len, const char *path)
{
    snprintf(buf, len, "%s%s", cb_sysfs_root(), path);
}

int cb_sysfs_read(const char *path, char *buf, size_t len)
{
    int fd = -1, e = 0;
    buf[0] = 0;
    if (cb_sysfs_root()[0]) {
        char mark[1100];
        snprintf(mark, sizeof mark, "%s.eacces", path);
        if (access(mark, F_OK) == 0)
            return EACCES;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    ssize_t n = read(fd, buf, len - 1);
    if (n < 0)
        e = errno;
    close(fd);
    if (e)
        return e;
    buf[n] = 0;
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

int cb_sysfs_pread_u64(int fd, uint64_t *v)
{
    char b[32];
    ssize_t n = pread(fd, b, sizeof b - 1, 0);
    if (n < 0)
        return errno;
    b[n] = 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(b, &end, 10);
    if (end == b || errno)
        return EINVAL;
    *v = x;
    return 0;
}

const char *cb_power_errno_hint(int e)
{
    switch (e) {
    case EACCES:
    case EPERM:
        return "permission denied";
    case ENOENT:
        return "not present";
    case EISDIR:
        return "is a directory, not an attribute";
    default:
        return strerror(e);
    }
}
