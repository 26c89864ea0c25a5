// power_src.h: what a power back-end (power_rapl.c, power_perf.c,
// power_msr.c, power_hwmon.c, power_nvml.c, power_cmd.c) hands to
// power.c. Private to the power layer.
#ifndef CHIPBENCH_POWER_SRC_H
#define CHIPBENCH_POWER_SRC_H

#include <stddef.h>
#include <stdint.h>
#include "chipbench/cb_power.h"

enum cb_power_kind {
    CB_PK_ENERGY,  // read() gives joules accumulated since open (unwrapped)
    CB_PK_POWER,   // read() gives watts now
    CB_PK_SERIES,  // series() gives the source's own (time, watts) points
};

enum cb_power_for {
    CB_PF_CPU,     // the CPU packages
    CB_PF_DEVICE,  // the accelerator at pci_bus
    CB_PF_ANY,     // the whole machine (an external meter)
};

struct cb_power_src {
    char source[32], scope[16], where[192];
    char pci_bus[32];          // normalized, CB_PF_DEVICE only
    enum cb_power_for target;
    enum cb_power_kind kind;
    int rank;                  // lower is preferred among sources for one target
    // Documented update period of the counter (s); replaced by the probed
    // one when probing saw it change. The minimum window is max(2 s, 20 x
    // period): the power-and-cost note's rule (quantisation <= 2 periods).
    double period_s;
    int probed;
    int min_samples;           // readings the window needs (meters), 0: none
    double idle_w;             // NAN until --idle-seconds measured it
    enum cb_status (*read)(struct cb_power_src *s, double *value);
    // CB_PK_SERIES: copies of the points with t in monotonic seconds.
    enum cb_status (*series)(struct cb_power_src *s, double **t, double **w, int *n);
    // CB_PK_SERIES: learn period_s from the source's own readings.
    void (*probe)(struct cb_power_src *s);
    void (*close)(struct cb_power_src *s);
    void *priv;
};

// Discovery: each back-end adds the sources it can read (cb_power_reg_add,
// which takes ownership) and an info line for every one it found, readable
// or not, or for why it found none.
struct cb_power_reg;
void cb_power_reg_add(struct cb_power_reg *r, struct cb_power_src *s);
// target: "cpu", "device <bus>" or "any".
void cb_power_reg_info(struct cb_power_reg *r, const char *source, const char *scope,
                       const char *target, const char *where, int readable,
                       const char *fmt, ...) __attribute__((format(printf, 7, 8)));

void cb_power_rapl_discover(struct cb_power_reg *r);
void cb_power_perf_discover(struct cb_power_reg *r);
void cb_power_msr_discover(struct cb_power_reg *r);
void cb_power_hwmon_discover(struct cb_power_reg *r);
void cb_power_nvml_discover(struct cb_power_reg *r);
void cb_power_cmd_discover(struct cb_power_reg *r, const char *cmd);

// Parsers (exposed for tests/test_power.c).
// "event=0x02" -> 0x02, -1 when absent (perf events/energy-pkg file).
long long cb_power_perf_event_config(const char *text);
// "0,28" or "0-1,4" (perf cpumask) -> cpu ids; returns how many.
int cb_power_perf_cpumask(const char *text, int *cpus, int max);
// "TIME WATTS" or "TIME,WATTS" (a --power-cmd line); 1 when it parses.
int cb_power_cmd_parse(const char *line, double *t, double *w);
// RAPL power-unit MSR (0x606, AMD 0xC0010299) -> joules per energy count
// (2^-ESU, ESU = bits 12:8).
double cb_power_msr_joules_per_count(uint64_t unit_msr);
// Counts from prev to now of the 32-bit energy field, modulo 2^32.
uint32_t cb_power_msr_delta(uint32_t prev, uint32_t now);

// sysfs helpers (power_util.c) ------------------------------------------------

// root + path ("/sys/..."), into buf.
void cb_sysfs_path(char *buf, size_t len, const char *path);
// Read a small text file (whole, trailing newline removed). Returns 0 or an
// errno value. Under a fake root, a sibling "<file>.eacces" makes it EACCES:
// the tests run as root, where chmod 000 does not stop reads.
int cb_sysfs_read(const char *path, char *buf, size_t len);
// pread a number from an open fd at offset 0 (sysfs attributes rewind).
int cb_sysfs_pread_u64(int fd, uint64_t *v);
// "EACCES (root only since Linux 5.10 ...)"-style text for errno e on path.
const char *cb_power_errno_hint(int e);

#endif
