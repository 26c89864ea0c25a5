// test_power.c: the power layer without power hardware. The maths against
// known areas; RAPL, perf and hwmon back-ends on fake sysfs trees in /tmp
// (CHIPBENCH_SYSFS_ROOT) with scripted counters, wrap-around, a counter that
// stops, permission errors; raw RAPL MSRs in sparse fake /dev/cpu/N/msr files; NVML through the fake library the test build
// makes (CHIPBENCH_NVML_LIB); an external meter command; and whole rows,
// measured and unavailable. Sampler intervals and windows are set short.
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cb_test.h"
#include "chipbench/cb_bench.h"
#include "chipbench/cb_power.h"
#include "chipbench/cb_result_csv.h"
#include "chipbench/cb_shape.h"
#include "../harness/power_src.h"

static char g_root[64];

// Fake tree helpers: paths are relative to g_root.
static void put_file(const char *rel, const char *text)
{
    char path[512], dir[512];
    snprintf(path, sizeof path, "%s/%s", g_root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dirname(dir));
    if (system(cmd) != 0)
        return;
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void put_num(const char *rel, double v)
{
    char b[64];
    snprintf(b, sizeof b, "%.0f\n", v);
    put_file(rel, b);
}

// A fresh, empty fake root; NVML pointed at nothing unless a test says so.
static void fresh_root(void)
{
    char cmd[128];
    cb_power_shutdown();
    if (g_root[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
        if (system(cmd) != 0)
            return;
    }
    snprintf(g_root, sizeof g_root, "/tmp/cb_power.XXXXXX");
    if (!mkdtemp(g_root))
        g_root[0] = 0;
    setenv("CHIPBENCH_SYSFS_ROOT", g_root, 1);
    setenv("CHIPBENCH_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
}

static void opts(struct cb_power_opts *o, double interval, double window)
{
    cb_power_opts_default(o);
    o->enabled = 1;
    o->interval_s = interval;
    o->min_window_s = window;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    nanosleep(&ts, NULL);
}

static const struct cb_power_info *find_info(const struct cb_power_info *in, int n,
                                             const char *source, int readable)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(in[i].source, source) && in[i].readable == readable)
            return &in[i];
    return NULL;
}

static void test_unwrap(void)
{
    CB_CHECK_NEAR(cb_power_unwrap(10, 30, 1000), 20, 0);
    CB_CHECK_NEAR(cb_power_unwrap(900, 100, 1000), 200, 0);  // wrapped once
    CB_CHECK_NEAR(cb_power_unwrap(5, 5, 1000), 0, 0);
    CB_CHECK_NEAR(cb_power_unwrap(50, 70, 0), 20, 0);
}

static void test_trapezoid_known_areas(void)
{
    // w = 10 + 5t on [0, 4]: area 10*4 + 2.5*16 = 80, exact for a ramp.
    double t[9], w[9];
    for (int i = 0; i < 9; i++) {
        t[i] = 0.5 * i;
        w[i] = 10 + 5 * t[i];
    }
    CB_CHECK_NEAR(cb_power_trapezoid(t, w, 9), 80, 1e-12);
    // Clipped to [1.25, 3]: 10*1.75 + 2.5*(9 - 1.5625) = 36.09375.
    CB_CHECK_NEAR(cb_power_window_integral(t, w, 9, 1.25, 3), 36.09375, 1e-12);
    // 50 W constant for 2 s is 100 J.
    double tc[] = {0, 0.7, 2}, wc[] = {50, 50, 50};
    CB_CHECK_NEAR(cb_power_trapezoid(tc, wc, 3), 100, 1e-12);
    // A window the readings do not cover has no integral.
    CB_CHECK(isnan(cb_power_window_integral(t, w, 9, -1, 2)));
}

static void test_pci_bus_normalize(void)
{
    char b[32];
    CB_CHECK(cb_pci_bus_normalize("00000000:17:00.0", b, sizeof b));
    CB_CHECK_STR(b, "0000:17:00.0");
    CB_CHECK(cb_pci_bus_normalize("0000:3B:00.1", b, sizeof b));
    CB_CHECK_STR(b, "0000:3b:00.1");
    CB_CHECK(cb_pci_bus_normalize("17:00.0", b, sizeof b));
    CB_CHECK_STR(b, "0000:17:00.0");
    CB_CHECK(!cb_pci_bus_normalize("", b, sizeof b));
    CB_CHECK(!cb_pci_bus_normalize("hwmon3", b, sizeof b));
    CB_CHECK(!cb_pci_bus_normalize("0000:17:00.0x", b, sizeof b));
}

static void rapl_tree(double e0, double e1)
{
    put_file("sys/class/powercap/intel-rapl:0/name", "package-0\n");
    put_num("sys/class/powercap/intel-rapl:0/energy_uj", e0);
    put_num("sys/class/powercap/intel-rapl:0/max_energy_range_uj", 262143328850.0);
    put_file("sys/class/powercap/intel-rapl:1/name", "package-1\n");
    put_num("sys/class/powercap/intel-rapl:1/energy_uj", e1);
    put_num("sys/class/powercap/intel-rapl:1/max_energy_range_uj", 262143328850.0);
    put_file("sys/class/powercap/intel-rapl:0:0/name", "dram\n");
    put_num("sys/class/powercap/intel-rapl:0:0/energy_uj", 5);
}

// Two packages; package 0 wraps: (range - 262000e6) + 100e6 µJ, package 1
// rises 50 J: the sum is the total.
static void test_rapl_wrap_sum(void)
{
    struct cb_power_opts o;
    struct cb_power_target t = {0};
    struct cb_power *p = NULL;
    struct cb_power_result r;
    fresh_root();
    rapl_tree(262000e6, 0);
    opts(&o, 1000, 0);  // no sampler reading in between: start and stop only
    CB_CHECK(cb_power_open(&o, &t, &p) == CB_OK);
    CB_CHECK(cb_power_start(p) == CB_OK);
    put_num("sys/class/powercap/intel-rapl:0/energy_uj", 100e6);
    put_num("sys/class/powercap/intel-rapl:1/energy_uj", 50e6);
    CB_CHECK(cb_power_stop(p, &r) == CB_OK);
    cb_power_close(p);
    double expect = (262143328850.0 - 262000e6 + 100e6) * 1e-6 + 50;
    CB_CHECK_MSG(r.quality == CB_POWER_MEASURED, "%.200s", r.reason);
    CB_CHECK_NEAR(r.joules, expect, 1e-6);
    CB_CHECK_STR(r.source, "rapl-powercap");
    CB_CHECK_STR(r.scope, "package");
    CB_CHECK(r.nsamples == 2);
    struct cb_power_info in[16];
    int n = cb_power_list(&o, in, 16);
    CB_CHECK(find_info(in, n, "rapl-powercap", 1) != NULL);
    cb_power_shutdown();
}

// A scripted counter rising 50 J/s for 2 s (written as 20 steps of 0.1 s
// each) is 100 J: a counter difference, whatever the wall time.
static void test_rapl_scripted_rate(void)
{
    struct cb_power_opts o;
    struct cb_power_target t = {0};
    struct cb_power *p = NULL;
    struct cb_power_result r;
    fresh_root();
    rapl_tree(1e6, 0);
    opts(&o, 1000, 0);
    CB_CHECK(cb_power_open(&o, &t, &p) == CB_OK);
    CB_CHECK(cb_power_start(p) == CB_OK);
    for (int i = 1; i <= 20; i++)
        put_num("sys/class/powercap/intel-rapl:0/energy_uj", 1e6 + i * 0.1 * 50 * 1e6);
    CB_CHECK(cb_power_stop(p, &r) == CB_OK);
    cb_power_close(p);
    CB_CHECK_NEAR(r.joules, 100, 1e-9);
    cb_power_shutdown();
}

static void test_rapl_counter_stopped(void)
{
    struct cb_power_opts o;
    struct cb_power_target t = {0};
    struct cb_power *p = NULL;
    struct cb_power_result r;
    fresh_root();
    rapl_tree(7e6, 3e6);
    opts(&o, 0.002, 0);
    CB_CHECK(cb_power_open(&o, &t, &p) == CB_OK);
    CB_CHECK(cb_power_start(p) == CB_OK);
    sleep_s(0.02);
    CB_CHECK(cb_power_stop(p, &r) == CB_OK);
    cb_power_close(p);
    CB_CHECK(r.quality == CB_POWER_UNAVAILABLE);
    CB_CHECK_MSG(strstr(r.reason, "counter did not advance") != NULL, "%.200s", r.reason);
    CB_CHECK(r.nsamples >= 2);
    CB_CHECK(isnan(r.joules));
    cb_power_shutdown();
}

// energy_uj unreadable: chmod 000 where that stops this user, else the fake
// tree's explicit marker (the tests may run as root).
static void test_rapl_permission_denied(void)
{
    struct cb_power_opts o;
    struct cb_power_target t = {0};
    struct cb_power *p = NULL;
    struct cb_power_result r;
    char path[256];
    fresh_root();
    rapl_tree(1, 1);
    snprintf(path, sizeof path, "%s/sys/class/powercap/intel-rapl:0/energy_uj", g_root);
    if (geteuid() != 0)
        CB_CHECK(chmod(path, 0) == 0);
    else
        put_file("sys/class/powercap/intel-rapl:0/energy_uj.eacces", "");
    opts(&o, 1000, 0);
    struct cb_power_info in[16];
    int n = cb_power_list(&o, in, 16);
    const struct cb_power_info *bad = find_info(in, n, "rapl-powercap", 0);
    CB_CHECK(bad != NULL);
    CB_CHECK_MSG(strstr(bad->detail, "permission denied") && strstr(bad->detail, "Linux 5.10"),
                 "%.200s", bad->detail);
    CB_CHECK(cb_power_open(&o, &t, &p) == CB_OK);
    CB_CHECK(cb_power_min_window_s(p) == 0);  // no source: the row is not stretched
    CB_CHECK(cb_power_start(p) == CB_OK);
    CB_CHECK(cb_power_stop(p, &r) == CB_OK);
    cb_power_close(p);
    CB_CHECK(r.quality == CB_POWER_UNAVAILABLE);
    CB_CHECK_MSG(strstr(r.reason, "root-only") != NULL, "%.200s", r.reason);
    // A directory where the attribute should be: an errno path root cannot dodge.
    fresh_root();
    put_file("sys/class/powercap/intel-rapl:0/name", "package-0\n");
    put_file("sys/class/powercap/intel-rapl:0/energy_uj/x", "");
    n = cb_power_list(&o, in, 16);
    bad = find_info(in, n, "rapl-powercap", 0);
    CB_CHECK(bad && strstr(bad->detail, "directory"));
    cb_power_shutdown();
}

static void test_perf_files(void)
{
    int cpus[8];
    CB_CHECK(cb_power_perf_event_config("event=0x02") == 2);
    CB_CHECK(cb_power_perf_event_config("event=0x05,umask=0") == 5);
    CB_CHECK(cb_power_perf_event_config("umask=1") == -1);
    CB_CHECK(cb_power_perf_cpumask("0", cpus, 8) == 1 && cpus[0] == 0);
    CB_CHECK(cb_power_perf_cpumask("0,28", cpus, 8) == 2 && cpus[1] == 28);
    CB_CHECK(cb_power_perf_cpumask("0-2,5", cpus, 8) == 4 && cpus[2] == 2 && cpus[3] == 5);
    // A fake PMU: the files parse, and perf_event_open of a type no kernel
    // has fails with the reason recorded (a real open needs the real PMU).
    fresh_root();
    put_file("sys/bus/event_source/devices/power/type", "999999\n");
    put_file("sys/bus/event_source/devices/power/cpumask", "0\n");
    put_file("sys/bus/event_source/devices/power/events/energy-pkg", "event=0x02\n");
    put_file("sys/bus/event_source/devices/power/events/energy-pkg.scale",
             "2.3283064365386962890625e-10\n");
    put_file("sys/bus/event_source/devices/power/events/energy-pkg.unit", "Joules\n");
    put_file("proc/sys/kernel/perf_event_paranoid", "2\n");
    struct cb_power_opts o;
    struct cb_power_info in[16];
    opts(&o, 1000, 0);
    int n = cb_power_list(&o, in, 16);
    const struct cb_power_info *bad = find_info(in, n, "rapl-perf", 0);
    CB_CHECK(bad && strstr(bad->detail, "perf_event_open(energy-pkg, cpu 0)"));
    // The wrong unit is refused before any open.
    fresh_root();
    put_file("sys/bus/event_source/devices/power/type", "999999\n");
    put_file("sys/bus/event_source/devices/power/events/energy-pkg", "event=0x02\n");
    put_file("sys/bus/event_source/devices/power/events/energy-pkg.scale", "1\n");
    put_file("sys/bus/event_source/devices/power/events/energy-pkg.unit", "mJ\n");
    n = cb_power_list(&o, in, 16);
    bad = find_info(in, n, "rapl-perf", 0);
    CB_CHECK(bad && strstr(bad->detail, "expected Joules"));
    cb_power_shutdown();
}

// Fake msr driver file: a sparse regular file, value at the MSR's offset
// (what pread(fd, &v, 8, msr) reads from the real /dev/cpu/N/msr).
static void put_msr(int cpu, unsigned msr, uint64_t v)
{
    char rel[64], path[512];
    snprintf(rel, sizeof rel, "dev/cpu/%d/x", cpu);
    put_file(rel, "");
    snprintf(path, sizeof path, "%s/dev/cpu/%d/msr", g_root, cpu);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    CB_CHECK(fd >= 0);
    if (fd < 0)
        return;
    CB_CHECK(pwrite(fd, &v, sizeof v, (off_t)msr) == (ssize_t)sizeof v);
    close(fd);
}

// cpu0..ncpu-1, package id cpu / per_pkg.
static void topo_tree(int ncpu, int per_pkg)
{
    for (int c = 0; c < ncpu; c++) {
        char rel[128], v[16];
        snprintf(rel, sizeof rel, "sys/devices/system/cpu/cpu%d/topology/physical_package_id", c);
        snprintf(v, sizeof v, "%d\n", c / per_pkg);
        put_file(rel, v);
    }
}

static void msr_window(struct cb_power_result *r, void (*between)(void))
{
    struct cb_power_opts o;
    struct cb_power_target t = {0};
    struct cb_power *p = NULL;
    opts(&o, 1000, 0);  // start and stop readings only
    memset(r, 0, sizeof *r);
    CB_CHECK(cb_power_open(&o, &t, &p) == CB_OK);
    CB_CHECK(cb_power_start(p) == CB_OK);
    between();
    CB_CHECK(cb_power_stop(p, r) == CB_OK);
    cb_power_close(p);
}

static void test_msr_units(void)
{
    // Intel's usual 0xA0E03 (ESU 14) and AMD Zen's 0xA1003 (ESU 16).
    CB_CHECK_NEAR(cb_power_msr_joules_per_count(0xA0E03), 1.0 / 16384, 0);
    CB_CHECK_NEAR(cb_power_msr_joules_per_count(0xA1003), 1.0 / 65536, 0);
    CB_CHECK_NEAR(cb_power_msr_joules_per_count(0xFFFFE0FF), 1, 0);  // only bits 12:8
    CB_CHECK(cb_power_msr_delta(10, 30) == 20);
    CB_CHECK(cb_power_msr_delta(0xFFFFFF00u, 0x100) == 0x200);  // across 2^32
    CB_CHECK(cb_power_msr_delta(7, 7) == 0);
}

// Intel, two packages (cpus 0-1 and 2-3: MSRs read on cpu 0 and cpu 2).
// Package 0 wraps across 2^32 (0x2000 counts = 0.5 J at ESU 14; its reserved
// high bits are set and must be ignored), package 1 rises 10 J.
static void msr_intel_between(void)
{
    put_msr(0, 0x611, 0xDEAD000000001000ull);
    put_msr(2, 0x611, 1000 + 10 * 16384);
}

static void test_msr_intel_two_packages(void)
{
    struct cb_power_result r;
    fresh_root();
    setenv("CHIPBENCH_MSR_VENDOR", "GenuineIntel", 1);
    topo_tree(4, 2);
    put_msr(0, 0x606, 0xA0E03);
    put_msr(0, 0x611, 0xDEAD0000FFFFF000ull);
    put_msr(2, 0x606, 0xA0E03);
    put_msr(2, 0x611, 1000);
    msr_window(&r, msr_intel_between);
    CB_CHECK_MSG(r.quality == CB_POWER_MEASURED, "%.300s", r.reason);
    CB_CHECK_STR(r.source, "rapl-msr");
    CB_CHECK_STR(r.scope, "package");
    CB_CHECK_NEAR(r.joules, 10.5, 1e-12);
    CB_CHECK(r.nsamples == 2);
    struct cb_power_opts o;
    struct cb_power_info in[16];
    opts(&o, 1000, 0);
    int n = cb_power_list(&o, in, 16), ok = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(in[i].source, "rapl-msr") && in[i].readable) {
            ok++;
            CB_CHECK_MSG(strstr(in[i].detail, "0x611") && strstr(in[i].detail, "ESU 14") &&
                         strstr(in[i].detail, "262144 J"), "%.200s", in[i].detail);
        }
    CB_CHECK(ok == 2);
    // With powercap readable too, powercap wins: the MSRs are the last resort.
    cb_power_shutdown();
    rapl_tree(1e6, 0);
    msr_window(&r, msr_intel_between);
    CB_CHECK_STR(r.source, "rapl-powercap");
    unsetenv("CHIPBENCH_MSR_VENDOR");
    cb_power_shutdown();
}

// AMD Zen: ESU 16, package energy at 0xC001029B; one package (cpus 0-3),
// rising 3 J in scripted steps, the unit register of the Intel layout absent.
static void msr_amd_between(void)
{
    for (int i = 1; i <= 6; i++)
        put_msr(0, 0xC001029Bu, 4096 + (uint64_t)i * 32768);
}

static void test_msr_amd(void)
{
    struct cb_power_result r;
    fresh_root();
    setenv("CHIPBENCH_MSR_VENDOR", "AuthenticAMD", 1);
    topo_tree(4, 4);
    put_msr(0, 0xC0010299u, 0xA1003);
    put_msr(0, 0xC001029Bu, 4096);
    msr_window(&r, msr_amd_between);
    CB_CHECK_MSG(r.quality == CB_POWER_MEASURED, "%.300s", r.reason);
    CB_CHECK_STR(r.source, "rapl-msr");
    CB_CHECK_NEAR(r.joules, 3, 1e-12);
    unsetenv("CHIPBENCH_MSR_VENDOR");
    cb_power_shutdown();
}

static const struct cb_power_info *msr_info(void)
{
    static struct cb_power_info in[16];
    struct cb_power_opts o;
    opts(&o, 1000, 0);
    cb_power_shutdown();
    int n = cb_power_list(&o, in, 16);
    return find_info(in, n, "rapl-msr", 0);
}

// Unreadable: no driver, permission, an MSR the CPU lacks, a vendor without
// RAPL MSRs; each says why, and a row's reason carries it.
static void test_msr_unreadable(void)
{
    const struct cb_power_info *bad;
    char path[256];
    fresh_root();
    setenv("CHIPBENCH_MSR_VENDOR", "intel", 1);
    bad = msr_info();
    CB_CHECK(bad && strstr(bad->detail, "/dev/cpu/0/msr: no msr driver (sudo modprobe msr)"));
    put_msr(0, 0x606, 0xA0E03);
    put_msr(0, 0x611, 5);
    snprintf(path, sizeof path, "%s/dev/cpu/0/msr", g_root);
    if (geteuid() != 0)
        CB_CHECK(chmod(path, 0) == 0);
    else
        put_file("dev/cpu/0/msr.eacces", "");
    bad = msr_info();
    CB_CHECK_MSG(bad && strstr(bad->detail, "permission denied") &&
                 strstr(bad->detail, "CAP_SYS_RAWIO"), "%.200s", bad ? bad->detail : "");
    struct cb_power_opts o;
    struct cb_power_target t = {0};
    struct cb_power *p = NULL;
    struct cb_power_result r;
    opts(&o, 1000, 0);
    CB_CHECK(cb_power_open(&o, &t, &p) == CB_OK);
    cb_power_unavailable(p, &r);
    cb_power_close(p);
    CB_CHECK_MSG(strstr(r.reason, "rapl-msr: /dev/cpu/0/msr: permission denied"), "%.400s",
                 r.reason);
    // An MSR the CPU lacks (the driver's EIO): here 0x606 past the end of an
    // empty file.
    fresh_root();
    setenv("CHIPBENCH_MSR_VENDOR", "intel", 1);
    put_file("dev/cpu/0/msr", "");
    bad = msr_info();
    CB_CHECK_MSG(bad && strstr(bad->detail, "MSR 0x606") && strstr(bad->detail, "does not implement"),
                 "%.200s", bad ? bad->detail : "");
    // A unit register of 0 is no RAPL (a hypervisor's zeros).
    put_msr(0, 0x611, 1);
    bad = msr_info();
    CB_CHECK_MSG(bad && strstr(bad->detail, "reads 0"), "%.200s", bad ? bad->detail : "");
    setenv("CHIPBENCH_MSR_VENDOR", "ARM", 1);
    bad = msr_info();
    CB_CHECK_MSG(bad && strstr(bad->detail, "no RAPL MSRs"), "%.200s", bad ? bad->detail : "");
    unsetenv("CHIPBENCH_MSR_VENDOR");
    cb_power_shutdown();
}

static void amdgpu_tree(const char *bus, double microwatts)
{
    char rel[128], target[128], cmd[512];
    put_file("sys/class/hwmon/hwmon0/name", "amdgpu\n");
    put_num("sys/class/hwmon/hwmon0/power1_average", microwatts);
    put_num("sys/class/hwmon/hwmon0/power1_input", microwatts);
    snprintf(rel, sizeof rel, "sys/devices/pci0000:00/%s/x", bus);
    put_file(rel, "");
    snprintf(target, sizeof target, "../../../devices/pci0000:00/%s", bus);
    snprintf(cmd, sizeof cmd, "ln -s '%s' '%s/sys/class/hwmon/hwmon0/device'", target, g_root);
    if (system(cmd) != 0)
        return;
}

static void test_hwmon_amdgpu_power(void)
{
    struct cb_power_opts o;
    struct cb_power_target t = {.device = 1};
    struct cb_power *p = NULL;
    struct cb_power_result r;
    fresh_root();
    amdgpu_tree("0000:03:00.0", 50e6);
    opts(&o, 0.002, 0);
    snprintf(t.pci_bus, sizeof t.pci_bus, "0000:03:00.0");
    CB_CHECK(cb_power_open(&o, &t, &p) == CB_OK);
    CB_CHECK(cb_power_start(p) == CB_OK);
    sleep_s(0.05);
    CB_CHECK(cb_power_stop(p, &r) == CB_OK);
    cb_power_close(p);
    CB_CHECK_MSG(r.quality == CB_POWER_INTEGRATED, "%.200s", r.reason);
    CB_CHECK_STR(r.source, "amdgpu-hwmon");
    CB_CHECK_STR(r.scope, "card");
    CB_CHECK_NEAR(r.watts, 50, 1e-9);
    CB_CHECK_NEAR(r.joules, 50 * r.seconds, 1e-9);
    CB_CHECK(r.nsamples >= 3);
    // Another bus does not get this card's counter.
    snprintf(t.pci_bus, sizeof t.pci_bus, "0000:04:00.0");
    CB_CHECK(cb_power_open(&o, &t, &p) == CB_OK);
    CB_CHECK(cb_power_min_window_s(p) == 0);
    cb_power_unavailable(p, &r);
    cb_power_close(p);
    CB_CHECK(r.quality == CB_POWER_UNAVAILABLE);
    cb_power_shutdown();
}

static void test_hwmon_xe_energy(void)
{
    struct cb_power_opts o;
    struct cb_power_target t = {.device = 1};
    struct cb_power *p = NULL;
    struct cb_power_result r;
    char cmd[256];
    fresh_root();
    put_file("sys/class/hwmon/hwmon1/name", "xe\n");
    put_num("sys/class/hwmon/hwmon1/energy1_input", 1e6);
    put_file("sys/devices/pci0000:00/0000:05:00.0/x", "");
    snprintf(cmd, sizeof cmd, "ln -s ../../../devices/pci0000:00/0000:05:00.0 "
             "'%s/sys/class/hwmon/hwmon1/device'", g_root);
    CB_CHECK(system(cmd) == 0);
    opts(&o, 1000, 0);
    snprintf(t.pci_bus, sizeof t.pci_bus, "0000:05:00.0");
    CB_CHECK(cb_power_open(&o, &t, &p) == CB_OK);
    CB_CHECK(cb_power_start(p) == CB_OK);
    put_num("sys/class/hwmon/hwmon1/energy1_input", 3.5e6);
    CB_CHECK(cb_power_stop(p, &r) == CB_OK);
    cb_power_close(p);
    CB_CHECK_MSG(r.quality == CB_POWER_MEASURED, "%.200s", r.reason);
    CB_CHECK_STR(r.source, "xe-hwmon");
    CB_CHECK_NEAR(r.joules, 2.5, 1e-9);
    cb_power_shutdown();
}

// Point CHIPBENCH_NVML_LIB at the fake library beside this binary.
static int use_fake_nvml(void)
{
    char lib[600];
    if (!cb_t_beside_exe("libfake_nvml.so", lib, sizeof lib))
        return 0;
    setenv("CHIPBENCH_NVML_LIB", lib, 1);
    return 1;
}

static void nvml_window(const char *bus, struct cb_power_result *r)
{
    struct cb_power_opts o;
    struct cb_power_target t = {.device = 1};
    struct cb_power *p = NULL;
    opts(&o, 0.005, 0);
    snprintf(t.pci_bus, sizeof t.pci_bus, "%s", bus);
    memset(r, 0, sizeof *r);
    if (cb_power_open(&o, &t, &p) != CB_OK)
        return;
    cb_power_start(p);
    sleep_s(0.2);
    cb_power_stop(p, r);
    cb_power_close(p);
}

static void test_nvml_energy_counter(void)
{
    struct cb_power_result r;
    fresh_root();
    if (!use_fake_nvml())
        CB_SKIP("libfake_nvml.so not built beside the test");
    setenv("FAKE_NVML_WATTS", "50", 1);
    setenv("FAKE_NVML_BUS", "00000000:17:00.0", 1);
    unsetenv("FAKE_NVML_NO_ENERGY");
    nvml_window("0000:17:00.0", &r);  // OpenCL's spelling of NVML's bus id
    CB_CHECK_MSG(r.quality == CB_POWER_MEASURED, "%.200s", r.reason);
    CB_CHECK_STR(r.source, "nvml-energy");
    CB_CHECK_STR(r.scope, "card");
    // mJ resolution over 0.2 s at 50 W, and the fake's clock vs ours.
    CB_CHECK_NEAR(r.watts, 50, 0.5);
    cb_power_shutdown();
}

static void test_nvml_power_fallback(void)
{
    struct cb_power_result r;
    fresh_root();
    if (!use_fake_nvml())
        CB_SKIP("libfake_nvml.so not built beside the test");
    setenv("FAKE_NVML_WATTS", "75", 1);
    setenv("FAKE_NVML_BUS", "00000000:17:00.0", 1);
    setenv("FAKE_NVML_NO_ENERGY", "1", 1);
    nvml_window("0000:17:00.0", &r);
    CB_CHECK_MSG(r.quality == CB_POWER_INTEGRATED, "%.200s", r.reason);
    CB_CHECK_STR(r.source, "nvml-power");
    CB_CHECK_NEAR(r.watts, 75, 1e-9);
    // No device at that bus: unavailable, with the reason.
    nvml_window("0000:18:00.0", &r);
    CB_CHECK(r.quality == CB_POWER_UNAVAILABLE);
    CB_CHECK_MSG(strstr(r.reason, "no readable device") != NULL, "%.200s", r.reason);
    unsetenv("FAKE_NVML_NO_ENERGY");
    cb_power_shutdown();
}

static void test_cmd_meter(void)
{
    struct cb_power_opts o;
    struct cb_power_target t = {0};
    struct cb_power *p = NULL;
    struct cb_power_result r;
    double tt, w;
    CB_CHECK(cb_power_cmd_parse("1700000000.25 42.5", &tt, &w) && w == 42.5);
    CB_CHECK(cb_power_cmd_parse("1700000000.25,42.5", &tt, &w) && tt == 1700000000.25);
    CB_CHECK(!cb_power_cmd_parse("time watts", &tt, &w));
    fresh_root();
    opts(&o, 0.05, 0);
    o.cmd = "echo 'time watts'; while :; do echo \"$(date +%s.%N) 42\"; sleep 0.01; done";
    CB_CHECK(cb_power_open(&o, &t, &p) == CB_OK);
    sleep_s(0.1);  // readings before the window, so it is covered from its start
    CB_CHECK(cb_power_start(p) == CB_OK);
    sleep_s(0.15);
    CB_CHECK(cb_power_stop(p, &r) == CB_OK);  // waits for the reading after the window
    cb_power_close(p);
    CB_CHECK_MSG(r.quality == CB_POWER_INTEGRATED, "%.200s", r.reason);
    CB_CHECK_STR(r.source, "cmd");
    CB_CHECK_STR(r.scope, "wall");
    CB_CHECK_NEAR(r.watts, 42, 1e-9);
    cb_power_shutdown();
}

static void row(const char *kernel, struct cb_bench_opts *o, struct cb_result *r,
                const char **cells, struct cb_strbuf *arena)
{
    struct cb_call shape;
    struct cb_context ctx;
    cb_shape_parse("48x40x32", &shape);
    cb_bench_row(cb_registry_find(kernel), &shape, 1, o, r);
    cb_context_init(&ctx, 1);
    cb_result_cells(&ctx, r, arena, cells);
}

static const char *cell(const char **cells, const char *col)
{
    for (int i = 0; i < cb_result_ncolumns; i++)
        if (!strcmp(cb_result_columns[i], col))
            return cells[i];
    return NULL;
}

// This machine's situation in a fake tree: nothing readable. The row is ok,
// the power columns say unavailable and the note says why.
static void test_row_unavailable(void)
{
    struct cb_bench_opts o;
    struct cb_result r;
    struct cb_strbuf arena = {0};
    const char *cells[256];
    fresh_root();
    cb_bench_opts_default(&o);
    o.min_time_s = 0.01;
    o.max_time_s = 0.02;
    o.power.enabled = 1;
    row("gemm_f32_ref", &o, &r, cells, &arena);
    CB_CHECK(r.status == CB_OK);
    CB_CHECK_STR(cell(cells, "power_quality"), "unavailable");
    CB_CHECK_STR(cell(cells, "power_source"), "none");
    CB_CHECK_STR(cell(cells, "energy_j"), "");
    CB_CHECK_STR(cell(cells, "gflops_per_w"), "");
    CB_CHECK_MSG(strstr(r.note, "power unavailable: no readable CPU package") != NULL, "%.200s",
                 r.note);
    cb_result_free(&r);
    // --power off: not attempted, every power column empty, no note.
    o.power.enabled = 0;
    row("gemm_f32_ref", &o, &r, cells, &arena);
    CB_CHECK_STR(cell(cells, "power_quality"), "");
    CB_CHECK(r.note[0] == 0);
    cb_result_free(&r);
    cb_strbuf_free(&arena);
    cb_power_shutdown();
}

// A board rail (the only INA sensor) at a constant 10 W: the row is stretched
// to the minimum window, and the per-call numbers follow from it.
static void test_row_measured(void)
{
    struct cb_bench_opts o;
    struct cb_result r;
    struct cb_strbuf arena = {0};
    const char *cells[256];
    fresh_root();
    put_file("sys/class/hwmon/hwmon2/name", "ina226\n");
    put_num("sys/class/hwmon/hwmon2/power1_input", 10e6);
    cb_bench_opts_default(&o);
    o.min_time_s = 0.01;
    o.max_time_s = 0.02;
    o.power.enabled = 1;
    o.power.interval_s = 0.005;
    o.power.min_window_s = 0.15;
    o.power.idle_s = 0.03;
    row("gemm_f32_ref", &o, &r, cells, &arena);
    CB_CHECK(r.status == CB_OK);
    CB_CHECK_MSG(r.m.power.quality == CB_POWER_INTEGRATED, "%.200s", r.note);
    CB_CHECK(r.m.power.seconds >= 0.15);
    CB_CHECK(r.m.power_calls >= r.m.nsamples * r.m.iters_per_sample);
    CB_CHECK_STR(cell(cells, "power_source"), "ina-hwmon");
    CB_CHECK_STR(cell(cells, "power_scope"), "board");
    CB_CHECK_STR(cell(cells, "power_quality"), "integrated");
    double e = atof(cell(cells, "energy_j"));
    CB_CHECK_NEAR(e, 10 * r.m.power.seconds / (double)r.m.power_calls, e * 1e-5);
    CB_CHECK_NEAR(atof(cell(cells, "avg_power_w")), 10, 1e-4);
    CB_CHECK_NEAR(atof(cell(cells, "gflops_per_w")), r.flops * 1e-9 / e, 1e-4 * r.flops * 1e-9 / e);
    CB_CHECK_NEAR(atof(cell(cells, "idle_power_w")), 10, 1e-4);
    // Constant power: idle equals busy, nothing is dynamic.
    CB_CHECK_NEAR(atof(cell(cells, "dynamic_energy_j")), 0, e * 1e-4);
    cb_result_free(&r);
    cb_strbuf_free(&arena);
    cb_power_shutdown();
}

int main(void)
{
    CB_RUN(test_unwrap);
    CB_RUN(test_trapezoid_known_areas);
    CB_RUN(test_pci_bus_normalize);
    CB_RUN(test_rapl_wrap_sum);
    CB_RUN(test_rapl_scripted_rate);
    CB_RUN(test_rapl_counter_stopped);
    CB_RUN(test_rapl_permission_denied);
    CB_RUN(test_perf_files);
    CB_RUN(test_msr_units);
    CB_RUN(test_msr_intel_two_packages);
    CB_RUN(test_msr_amd);
    CB_RUN(test_msr_unreadable);
    CB_RUN(test_hwmon_amdgpu_power);
    CB_RUN(test_hwmon_xe_energy);
    CB_RUN(test_nvml_energy_counter);
    CB_RUN(test_nvml_power_fallback);
    CB_RUN(test_cmd_meter);
    CB_RUN(test_row_unavailable);
    CB_RUN(test_row_measured);
    fresh_root();
    cb_power_shutdown();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_root);
    return CB_TEST_END("test_power");
}
