// cb_power.h: energy of a timed region, from real counters only.
//
// One interface over every source (harness/power_*.c, one file per back-end):
// open a session for what a row runs on (the CPU packages, or an accelerator
// named by its PCI bus), start it when the timed samples start, stop it when
// they end -> joules, average watts, samples, source, scope and quality.
// A sampler thread reads (time, energy) or (time, watts) at ~20 Hz in between:
// often enough to unwrap 32-bit counters, and the series integrates power-only
// sensors. Nothing here estimates: a region with no readable source is
// "unavailable" with the reason, never a number.
//
// Every sysfs path is taken under CHIPBENCH_SYSFS_ROOT (default "/"), so the
// tests run the real code on fake trees; CHIPBENCH_NVML_LIB replaces
// "libnvidia-ml.so.1" (the tests' fake library).
#ifndef CHIPBENCH_CB_POWER_H
#define CHIPBENCH_CB_POWER_H

#include <stddef.h>
#include "cb_status.h"

enum cb_power_quality {
    CB_POWER_UNAVAILABLE,  // nothing readable; the result's reason says why
    CB_POWER_MEASURED,     // difference of an energy counter
    CB_POWER_INTEGRATED,   // power samples integrated by the trapezoid rule
};
// "unavailable", "measured", "integrated".
const char *cb_power_quality_name(enum cb_power_quality q);

struct cb_power_opts {
    int enabled;          // 0: --power off; default from CHIPBENCH_POWER (auto)
    const char *cmd;      // --power-cmd: a meter command printing "time watts" lines
    double interval_s;    // sampler period (0.05 s: 20 Hz)
    double min_window_s;  // < 0: the source's own minimum window; else this
    double idle_s;        // --idle-seconds: idle power once per source (0: off)
};
void cb_power_opts_default(struct cb_power_opts *o);

// What a row's energy is attributed to.
struct cb_power_target {
    int device;         // 0: the CPU packages; 1: the accelerator at pci_bus
    char pci_bus[32];   // any "dddd:bb:dd.f" form; "" when unknown
};

struct cb_power_result {
    enum cb_power_quality quality;
    double joules;       // over the window
    double seconds;      // the window
    double watts;        // joules / seconds
    int nsamples;        // readings in the window
    double idle_watts;   // --idle-seconds measurement, NAN without one
    char source[32];     // "rapl-powercap", "rapl-perf", "nvml-energy", ...
    char scope[16];      // "package", "card", "board", "wall"
    char reason[400];    // why it is unavailable ("" otherwise)
};

// A power session: one source, one sampler. Opaque.
struct cb_power;

// Pick the source for `t` (discovering sources on first use) and, with
// --idle-seconds, measure its idle power once per process. No readable
// source is not an error: the session exists and stop() reports the reason.
// Errors are only CB_ERR_NO_MEMORY / CB_ERR_INVALID_ARG.
enum cb_status cb_power_open(const struct cb_power_opts *o, const struct cb_power_target *t,
                             struct cb_power **out);
// Seconds the timed region must last for this source to be meaningful
// (max of 2 s and 20 update periods, or the override); 0 when the session
// has no source (the row is then not extended).
double cb_power_min_window_s(const struct cb_power *p);
// Start the window: first reading, sampler thread. A failure leaves the
// session unavailable (reason recorded) and is returned.
enum cb_status cb_power_start(struct cb_power *p);
// End the window: join the sampler, last reading, integrate. Always fills r.
enum cb_status cb_power_stop(struct cb_power *p, struct cb_power_result *r);
// Fills r for a session that never ran (unavailable with its reason).
void cb_power_unavailable(const struct cb_power *p, struct cb_power_result *r);
void cb_power_close(struct cb_power *p);

// Release process-wide state (NVML, the --power-cmd child, open counters).
// The next open discovers again (the tests switch sysfs roots).
void cb_power_shutdown(void);

// Every source found, and each present but unreadable, for `chipbench info`.
struct cb_power_info {
    char source[32];
    char scope[16];
    char target[48];    // "cpu", "device 0000:17:00.0" or "any" (a wall meter)
    char where[192];    // path, device or command
    int readable;       // 1: usable; 0: present but unreadable / absent
    char detail[256];   // unit and period when readable, else why not
};
// Fills up to max entries and returns how many there are. opts may be NULL.
int cb_power_list(const struct cb_power_opts *o, struct cb_power_info *out, int max);

// Pure helpers (tests use them directly) ---------------------------------

// Increment of a counter that wraps at `range` (> 0) from prev to now; a
// range of 0 means the counter does not wrap (now - prev).
double cb_power_unwrap(double prev, double now, double range);
// Integral of w over t by the trapezoid rule (n >= 2, t ascending).
double cb_power_trapezoid(const double *t, const double *w, int n);
// Integral over [t0, t1] of the piecewise-linear w(t) through the n points,
// clipped at the window's ends; NAN when the points do not cover it.
double cb_power_window_integral(const double *t, const double *w, int n, double t0, double t1);
// "00000000:17:00.0", "0000:17:00.0" or "17:00.0" -> "0000:17:00.0" (lower
// case, 4-digit domain): NVML, OpenCL and sysfs spell the domain differently.
// Returns 0 when `in` is not a PCI address.
int cb_pci_bus_normalize(const char *in, char *out, size_t len);
// CHIPBENCH_SYSFS_ROOT without a trailing '/' ("" for the real root).
const char *cb_sysfs_root(void);

#endif
