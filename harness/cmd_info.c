// cmd_info.c: `chipbench info [--json]`, the chip-class fingerprint: build,
// host, CPU identity and usable ISA, topology, BLAS and OpenCL devices.
//
// Text and JSON come from one walk over the data through a tiny emitter
// (struct em), so the two formats cannot drift apart. It only reports what
// the probing modules (cpu_features.c, topo.c, cl_info.c) found; it probes
// nothing itself and never changes process state (no binding, no cap).
// Output goes to stdout; usage errors to stderr. Returns an exit code, never
// exits (commands.h).
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_info.h"
#include "chipbench/cb_ocl.h"
#include "chipbench/cb_power.h"
#include "chipbench/cb_status.h"
#include "chipbench/cb_topo.h"
#include "commands.h"

#define EM_MAX_DEPTH 8

// Emitter: JSON when json != 0, else indented "label: value" text.
struct em {
    FILE *f;
    int json;
    int depth;
    int first[EM_MAX_DEPTH];  // JSON: nothing written yet at this level
};

// JSON string with quotes, backslashes and control characters escaped.
// Invalid UTF-8 becomes U+FFFD so the document stays valid whatever a
// driver put in its strings.
static void json_str(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    fputc('"', f);
    while (*p) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc((int)c, f);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            switch (c) {
            case '\n': fputs("\\n", f); break;
            case '\r': fputs("\\r", f); break;
            case '\t': fputs("\\t", f); break;
            case '\b': fputs("\\b", f); break;
            case '\f': fputs("\\f", f); break;
            default: fprintf(f, "\\u%04x", c); break;
            }
            p++;
        } else if (c < 0x80) {
            fputc((int)c, f);
            p++;
        } else {
            int n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
            int ok = n > 0;
            for (int i = 1; ok && i < n; i++)
                ok = (p[i] & 0xc0) == 0x80;
            if (ok) {
                fwrite(p, 1, (size_t)n, f);
                p += n;
            } else {
                fputs("\\ufffd", f);
                p++;
            }
        }
    }
    fputc('"', f);
}

// JSON: the comma and key before a value at the current level.
static void em_key(struct em *e, const char *key)
{
    if (!e->first[e->depth])
        fputc(',', e->f);
    e->first[e->depth] = 0;
    fputc('\n', e->f);
    fprintf(e->f, "%*s", 2 * e->depth, "");
    if (key) {
        json_str(e->f, key);
        fputs(": ", e->f);
    }
}

static void em_text_label(struct em *e, const char *label)
{
    int ind = 2 * (e->depth > 0 ? e->depth - 1 : 0);
    int w = 20 - ind;
    fprintf(e->f, "%*s%-*s ", ind, "", w > 0 ? w : 0, label);
}

// Start an object (JSON) or a titled section (text). key NULL inside arrays.
static void em_open(struct em *e, const char *key, const char *title)
{
    if (e->json) {
        em_key(e, key);
        fputc('{', e->f);
    } else {
        int ind = 2 * (e->depth > 0 ? e->depth - 1 : 0);
        if (e->depth == 1)
            fputc('\n', e->f);
        fprintf(e->f, "%*s%s\n", ind, "", title);
    }
    if (e->depth + 1 < EM_MAX_DEPTH)
        e->depth++;
    e->first[e->depth] = 1;
}

static void em_close(struct em *e, char closer)
{
    int had_items = !e->first[e->depth];
    if (e->depth > 0)
        e->depth--;
    if (e->json) {
        if (had_items)
            fprintf(e->f, "\n%*s", 2 * e->depth, "");
        fputc(closer, e->f);
    }
}

// Arrays print nothing of their own in text; their elements carry titles.
static void em_arr_open(struct em *e, const char *key)
{
    if (e->json) {
        em_key(e, key);
        fputc('[', e->f);
        if (e->depth + 1 < EM_MAX_DEPTH)
            e->depth++;
        e->first[e->depth] = 1;
    }
}

static void em_arr_close(struct em *e)
{
    if (e->json)
        em_close(e, ']');
}

static void em_str(struct em *e, const char *key, const char *label, const char *v)
{
    if (e->json) {
        em_key(e, key);
        json_str(e->f, v);
    } else {
        em_text_label(e, label);
        fprintf(e->f, "%s\n", v && *v ? v : "-");
    }
}

static void em_i64(struct em *e, const char *key, const char *label, int64_t v)
{
    if (e->json) {
        em_key(e, key);
        fprintf(e->f, "%" PRId64, v);
    } else {
        em_text_label(e, label);
        fprintf(e->f, "%" PRId64 "\n", v);
    }
}

static void em_bool(struct em *e, const char *key, const char *label, int v)
{
    if (e->json) {
        em_key(e, key);
        fputs(v ? "true" : "false", e->f);
    } else {
        em_text_label(e, label);
        fputs(v ? "yes\n" : "no\n", e->f);
    }
}

static void human_bytes(int64_t b, char *buf, size_t len)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (v == (double)(int64_t)v)
        snprintf(buf, len, "%" PRId64 " %s", (int64_t)v, unit[u]);
    else
        snprintf(buf, len, "%.1f %s", v, unit[u]);
}

// Bytes: a plain integer in JSON, "32 KiB" in text ("unknown" when 0).
static void em_bytes(struct em *e, const char *key, const char *label, int64_t v)
{
    if (e->json) {
        em_i64(e, key, label, v);
        return;
    }
    char h[32] = "unknown";
    if (v > 0)
        human_bytes(v, h, sizeof h);
    em_str(e, key, label, h);
}

// A cache level: "<key>_bytes" and "<key>_count" in JSON, "1 MiB x 2" in text.
static void em_cache(struct em *e, const char *key, const char *label,
                     int64_t bytes, int count)
{
    char k[32];
    if (e->json) {
        snprintf(k, sizeof k, "%s_bytes", key);
        em_i64(e, k, label, bytes);
        if (count >= 0) {
            snprintf(k, sizeof k, "%s_count", key);
            em_i64(e, k, label, count);
        }
        return;
    }
    char h[48] = "unknown";
    if (bytes > 0) {
        human_bytes(bytes, h, sizeof h);
        if (count > 0)
            snprintf(h + strlen(h), sizeof h - strlen(h), " x %d", count);
    }
    em_str(e, key, label, h);
}

static void usage(FILE *f)
{
    fputs("usage: chipbench info [--json]\n"
          "Print the chip-class fingerprint: build, host, CPU and usable ISA,\n"
          "topology, BLAS, OpenCL devices and energy sources.\n"
          "  --json      one JSON object instead of text\n"
          "  -h, --help  this help\n",
          f);
}

static void emit_build(struct em *e)
{
    char host[256];
    cb_host_name(host, sizeof host);
    em_str(e, "version", "chipbench", CB_VERSION);
    em_str(e, "git_commit", "git commit", cb_git_commit);
    em_str(e, "compiler", "compiler", cb_compiler);
    em_str(e, "build_flags", "build flags", cb_build_flags);
    em_str(e, "host", "host", host);
}

static void emit_cpu(struct em *e)
{
    const struct cb_cpu_info *ci = cb_cpu_info();
    char buf[512], fms[64], xcr0[32];

    em_open(e, "cpu", "CPU");
    em_str(e, "arch", "arch", ci->arch);
    em_str(e, "vendor", "vendor", ci->vendor);
    em_str(e, "brand", "brand", ci->brand);
    em_str(e, "codename", "codename", ci->codename);
    if (e->json) {
        em_i64(e, "family", "family", ci->family);
        em_i64(e, "model", "model", ci->model);
        em_i64(e, "stepping", "stepping", ci->stepping);
    } else {
        snprintf(fms, sizeof fms, "%d / %d / %d (0x%x / 0x%x / 0x%x)", ci->family,
                 ci->model, ci->stepping, (unsigned)ci->family,
                 (unsigned)ci->model, (unsigned)ci->stepping);
        em_str(e, NULL, "family/model/step", fms);
    }
    cb_cpu_chip_class(buf, sizeof buf);
    em_str(e, "chip_class", "chip class", buf);
    em_str(e, "id_source", "id source", ci->source);
    snprintf(xcr0, sizeof xcr0, "0x%" PRIx64, ci->xcr0);
    em_str(e, "xcr0", "xcr0", xcr0);
    cb_cpu_features_str(ci->cpuid_features, buf, sizeof buf);
    em_str(e, "isa_cpuid", "ISA (CPUID)", buf);
    cb_cpu_features_str(ci->os_features, buf, sizeof buf);
    em_str(e, "isa_usable", "ISA usable", buf);
    // Claimed by CPUID but not enabled by the OS (XCR0) or, for AMX, not
    // permitted: the case that would SIGILL if we trusted CPUID alone.
    uint64_t off = ci->cpuid_features & ~ci->os_features;
    cb_cpu_features_str(off, buf, sizeof buf);
    if (e->json || off)
        em_str(e, "isa_os_disabled", "ISA OS-disabled", buf);

    const char *env = getenv("CHIPBENCH_ISA");
    int set = env && *env;
    enum cb_status cs = cb_cpu_env_cap_status();
    em_open(e, "isa_cap", "ISA cap (CHIPBENCH_ISA)");
    if (e->json) {
        em_key(e, "env");
        if (set)
            json_str(e->f, env);
        else
            fputs("null", e->f);
        em_bool(e, "valid", "valid", cs == CB_OK);
    } else {
        em_str(e, NULL, "CHIPBENCH_ISA", set ? env : "not set (no cap)");
    }
    if (cs != CB_OK)
        em_str(e, "error", "error", cb_error_text());
    cb_cpu_features_str(cb_cpu_features(), buf, sizeof buf);
    em_str(e, "effective", "ISA effective", buf);
    em_close(e, '}');
    em_close(e, '}');
}

static void emit_topo(struct em *e)
{
    const struct cb_topo *t = cb_topo_get();
    em_open(e, "topology", "Topology");
    em_str(e, "source", "source", t->source);
    em_i64(e, "packages", "packages", t->packages);
    em_i64(e, "numa_nodes", "NUMA nodes", t->numa_nodes);
    em_i64(e, "cores", "cores", t->cores);
    em_i64(e, "pus", "PUs", t->pus);
    em_cache(e, "l1d", "L1d (per core)", t->l1d_bytes, -1);
    em_cache(e, "l2", "L2", t->l2_bytes, t->l2_count);
    em_cache(e, "l3", "L3", t->l3_bytes, t->l3_count);
    em_bytes(e, "mem_bytes", "memory", t->mem_bytes);
    em_close(e, '}');
}

static void emit_blas(struct em *e)
{
    char buf[512], dnn[512];
    cb_blas_describe(buf, sizeof buf);
    cb_onednn_describe(dnn, sizeof dnn);
    em_open(e, "blas", "BLAS");
    em_bool(e, "available", "available", buf[0] != 0);
    em_str(e, "describe", "library",
           buf[0] ? buf : "none (chipbench was built without OpenBLAS)");
    if (buf[0]) {
        char note[400];
        cb_blas_core_note(cb_blas_core(), cb_cpu_features(), note, sizeof note);
        em_str(e, "core_check", "core check",
               note[0] ? note : "its kernels use the widest vectors this CPU has");
    }
    em_str(e, "onednn", "oneDNN",
           dnn[0] ? dnn : "none (chipbench was built without oneDNN)");
    em_close(e, '}');
}

static void emit_device(struct em *e, const struct cb_ocl_device *d)
{
    char title[320], cls[512];
    snprintf(title, sizeof title, "device %d: %s", d->device_index, d->name);
    em_open(e, NULL, title);
    em_i64(e, "device_index", "index", d->device_index);
    em_str(e, "name", "name", d->name);
    em_str(e, "type", "type", d->type);
    em_str(e, "vendor", "vendor", d->vendor);
    em_str(e, "version", "version", d->version);
    em_str(e, "driver_version", "driver", d->driver_version);
    em_i64(e, "compute_units", "compute units", d->compute_units);
    em_i64(e, "max_clock_mhz", "max clock MHz", d->max_clock_mhz);
    em_bytes(e, "global_mem_bytes", "global mem", (int64_t)d->global_mem_bytes);
    em_bytes(e, "local_mem_bytes", "local mem", (int64_t)d->local_mem_bytes);
    em_bytes(e, "max_alloc_bytes", "max alloc", (int64_t)d->max_alloc_bytes);
    em_i64(e, "max_work_group", "max work-group", (int64_t)d->max_work_group);
    em_bool(e, "fp16", "fp16", d->fp16);
    em_bool(e, "fp64", "fp64", d->fp64);
    em_str(e, "pci_bus", "PCI bus", d->pci_bus);
    if (d->nv_cc_major) {  // NVIDIA's attribute query answered
        char cc[32];
        snprintf(cc, sizeof cc, "%d.%d", d->nv_cc_major, d->nv_cc_minor);
        em_str(e, "nv_compute_capability", "compute capability", cc);
    }
    if (d->matrix_ext[0]) {
        char m[128];
        snprintf(m, sizeof m, "%s (detected; not used yet)", d->matrix_ext);
        em_str(e, "matrix_extension", "matrix units", m);
    }
    cb_ocl_chip_class(d, cls, sizeof cls);
    em_str(e, "chip_class", "chip class", cls);
    em_close(e, '}');
}

static void emit_opencl(struct em *e)
{
    struct cb_ocl_device *devs = NULL;
    int n = 0;
    enum cb_status s = cb_ocl_list(&devs, &n);

    em_open(e, "opencl", "OpenCL");
    em_str(e, "status", "status", cb_status_str(s));
    if (s != CB_OK)
        em_str(e, "reason", "reason", cb_error_text());
    em_arr_open(e, "platforms");
    // cb_ocl_list returns devices grouped by platform, in platform order.
    for (int i = 0; i < n; i++) {
        const struct cb_ocl_device *d = &devs[i];
        if (i == 0 || d->platform_index != devs[i - 1].platform_index) {
            char title[320];
            snprintf(title, sizeof title, "platform %d: %s", d->platform_index,
                     d->platform_name);
            em_open(e, NULL, title);
            em_i64(e, "platform_index", "index", d->platform_index);
            em_str(e, "name", "name", d->platform_name);
            em_str(e, "vendor", "vendor", d->platform_vendor);
            em_str(e, "version", "version", d->platform_version);
            em_arr_open(e, "devices");
        }
        emit_device(e, d);
        if (i + 1 == n || devs[i + 1].platform_index != d->platform_index) {
            em_arr_close(e);
            em_close(e, '}');
        }
    }
    em_arr_close(e);
    em_close(e, '}');
    free(devs);
}

// Every energy source found, readable or not (with why not), and a plain
// statement when none is readable: rows then say "unavailable".
static void emit_power(struct em *e)
{
    struct cb_power_opts o;
    struct cb_power_info in[64];
    cb_power_opts_default(&o);
    o.enabled = 1;
    int n = cb_power_list(&o, in, 64), readable = 0;
    n = n > 64 ? 64 : n;
    for (int i = 0; i < n; i++)
        readable += in[i].readable;
    em_open(e, "power", "Power");
    em_i64(e, "readable_sources", "readable sources", readable);
    if (!readable)
        em_str(e, "summary", "summary",
               "no readable energy counter or power sensor: rows get power_quality=unavailable");
    em_arr_open(e, "sources");
    for (int i = 0; i < n; i++) {
        char title[256];
        if (snprintf(title, sizeof title, "%s (%s): %s", in[i].source, in[i].target,
                     in[i].readable ? "readable" : "unreadable") >= (int)sizeof title)
            title[sizeof title - 1] = 0;
        em_open(e, NULL, title);
        em_str(e, "source", "source", in[i].source);
        em_str(e, "scope", "scope", in[i].scope);
        em_str(e, "target", "for", in[i].target);
        em_str(e, "where", "where", in[i].where);
        em_bool(e, "readable", "readable", in[i].readable);
        em_str(e, "detail", in[i].readable ? "detail" : "why not", in[i].detail);
        em_close(e, '}');
    }
    em_arr_close(e);
    em_close(e, '}');
    cb_power_shutdown();
}

int cb_cmd_info(int argc, char **argv)
{
    struct em e;
    memset(&e, 0, sizeof e);
    e.f = stdout;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            e.json = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            // One line, as every command's usage errors (scripts grep them).
            fprintf(stderr, "chipbench info: unknown option '%s' (see chipbench info --help)\n",
                    argv[i]);
            return 2;
        }
    }

    if (e.json) {
        fputc('{', e.f);
        e.depth = 1;
        e.first[1] = 1;
    } else {
        e.depth = 1;
    }
    emit_build(&e);
    emit_cpu(&e);
    emit_topo(&e);
    emit_blas(&e);
    emit_opencl(&e);
    emit_power(&e);
    if (e.json)
        fputs("\n}", e.f);
    fputc('\n', e.f);
    return 0;  // main checks that stdout was written (flush_stdout)
}
