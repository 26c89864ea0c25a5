// test_cpu.c: CPU feature detection (XCR0 masking, ISA caps, names, chip
// class), topology and binding, and OpenCL discovery.
//
// Runs on any machine: checks that depend on this host (x86 with AVX-512, an
// OpenCL platform, Linux affinity) SKIP with a reason elsewhere. The
// CHIPBENCH_ISA environment cap is read once and cached, so it is tested
// through cb_cpu_cap_from_name rather than setenv.
#define _GNU_SOURCE  // sched_getaffinity, CPU_* macros
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cb_test.h"
#include "chipbench/cb_cpu.h"
#include "chipbench/cb_info.h"
#include "chipbench/cb_ocl.h"
#include "chipbench/cb_status.h"
#include "chipbench/cb_topo.h"

#define AVX_BITS (CB_ISA_AVX | CB_ISA_AVX2 | CB_ISA_FMA | CB_ISA_F16C)
#define AVX512_BITS                                                           \
    (CB_ISA_AVX512F | CB_ISA_AVX512BW | CB_ISA_AVX512VL | CB_ISA_AVX512DQ |   \
     CB_ISA_AVX512_BF16 | CB_ISA_AVX512_VNNI | CB_ISA_AVX512_FP16)
#define AMX_BITS (CB_ISA_AMX_TILE | CB_ISA_AMX_BF16)

// Does the space-separated list contain this whole word?
static int has_word(const char *list, const char *w)
{
    size_t n = strlen(w);
    for (const char *p = list; (p = strstr(p, w)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
            return 1;
    return 0;
}

static void test_xcr0_masking(void)
{
    uint64_t all = CB_ISA_SSE2 | AVX_BITS | AVX512_BITS | AMX_BITS;
    // AVX-512 claimed but the OS saves only x87/SSE/AVX state (xcr0 = 0x7).
    uint64_t f = cb_cpu_mask_by_xcr0(all, 0x7, 1);
    CB_CHECK((f & AVX512_BITS) == 0);
    CB_CHECK((f & AVX_BITS) == AVX_BITS);
    CB_CHECK((f & AMX_BITS) == 0);
    CB_CHECK(f & CB_ISA_SSE2);
    // No OSXSAVE: XCR0 is meaningless, nothing VEX/EVEX encoded is usable.
    f = cb_cpu_mask_by_xcr0(all, 0xe7, 0);
    CB_CHECK((f & (AVX_BITS | AVX512_BITS | AMX_BITS)) == 0);
    CB_CHECK(f == CB_ISA_SSE2);
    // Full AVX-512 state keeps AVX-512 (and AVX), but not AMX.
    f = cb_cpu_mask_by_xcr0(all, 0xe7, 1);
    CB_CHECK((f & (AVX_BITS | AVX512_BITS)) == (AVX_BITS | AVX512_BITS));
    CB_CHECK((f & AMX_BITS) == 0);
    // Opmask/zmm saved but not ymm: AVX-512 needs both.
    f = cb_cpu_mask_by_xcr0(all, 0xe3, 1);
    CB_CHECK((f & (AVX_BITS | AVX512_BITS)) == 0);
    // Tile state bits 17 and 18 enable AMX.
    f = cb_cpu_mask_by_xcr0(all, 0x600e7, 1);
    CB_CHECK(f == all);
    f = cb_cpu_mask_by_xcr0(all, 0x200e7, 1);
    CB_CHECK((f & AMX_BITS) == 0);
    // Bits not in the input never appear.
    CB_CHECK(cb_cpu_mask_by_xcr0(0, 0x600e7, 1) == 0);
}

static void test_cap_names(void)
{
    uint64_t cap = 12345;
    CB_CHECK(cb_cpu_cap_from_name("ref", &cap) == CB_OK);
    CB_CHECK(cap == 0);
    CB_CHECK(cb_cpu_cap_from_name("sse2", &cap) == CB_OK);
    CB_CHECK(cap == CB_ISA_SSE2);
    CB_CHECK(cb_cpu_cap_from_name("avx2", &cap) == CB_OK);
    CB_CHECK(cap == (CB_ISA_SSE2 | CB_ISA_AVX | CB_ISA_AVX2 | CB_ISA_FMA |
                     CB_ISA_F16C));
    CB_CHECK((cap & CB_ISA_GROUP_AVX2) == CB_ISA_GROUP_AVX2);
    CB_CHECK((cap & CB_ISA_AVX512F) == 0);

    uint64_t avx512 = 0, bf16 = 0, avx2 = cap;
    CB_CHECK(cb_cpu_cap_from_name("avx512", &avx512) == CB_OK);
    CB_CHECK((avx512 & avx2) == avx2);  // composes: avx512 is a superset
    CB_CHECK((avx512 & CB_ISA_GROUP_AVX512) == CB_ISA_GROUP_AVX512);
    CB_CHECK(avx512 & CB_ISA_AVX512_VNNI);
    CB_CHECK((avx512 & CB_ISA_AVX512_BF16) == 0);
    CB_CHECK(cb_cpu_cap_from_name("avx512_bf16", &bf16) == CB_OK);
    CB_CHECK(bf16 == (avx512 | CB_ISA_AVX512_BF16));
    uint64_t amx = 0;
    CB_CHECK(cb_cpu_cap_from_name("amx", &amx) == CB_OK);
    CB_CHECK(amx == (bf16 | AMX_BITS));
    CB_CHECK((bf16 & AMX_BITS) == 0);  // avx512_bf16 caps the tile unit out

    CB_CHECK(cb_cpu_cap_from_name("neon", &cap) == CB_OK);
    CB_CHECK(cap == CB_ISA_NEON);
    CB_CHECK(cb_cpu_cap_from_name("neon_dotprod", &cap) == CB_OK);
    CB_CHECK(cap == (CB_ISA_NEON | CB_ISA_ASIMDDP));
    CB_CHECK(cb_cpu_cap_from_name("native", &cap) == CB_OK);
    CB_CHECK(cap == ~UINT64_C(0));
    CB_CHECK(cb_cpu_cap_from_name("all", &cap) == CB_OK);
    CB_CHECK(cap == ~UINT64_C(0));

    // A capped set is what dispatch would see under CHIPBENCH_ISA=avx2.
    uint64_t os = cb_cpu_info()->os_features;
    CB_CHECK(((os & avx2) & ~avx2) == 0);
    CB_CHECK(((os & avx2) & AVX512_BITS) == 0);

    cap = 777;
    cb_clear_error();
    CB_CHECK(cb_cpu_cap_from_name("avx9000", &cap) == CB_ERR_INVALID_ARG);
    CB_CHECK(cap == 777);  // untouched on error
    CB_CHECK(strstr(cb_error_text(), "avx9000") != NULL);
    CB_CHECK(cb_cpu_cap_from_name("", &cap) == CB_ERR_INVALID_ARG);
    CB_CHECK(cb_cpu_cap_from_name(NULL, &cap) == CB_ERR_INVALID_ARG);
}

static void test_env_cap_status(void)
{
    // Whatever CHIPBENCH_ISA the test runs under, the status must agree with
    // what the name parser says about it.
    const char *v = getenv("CHIPBENCH_ISA");
    enum cb_status s = cb_cpu_env_cap_status();
    if (!v || !*v) {
        CB_CHECK(s == CB_OK);
        CB_CHECK(cb_cpu_features() == cb_cpu_info()->os_features);
        return;
    }
    uint64_t cap = 0;
    enum cb_status want = cb_cpu_cap_from_name(v, &cap);
    CB_CHECK(s == want);
    if (s == CB_OK)
        CB_CHECK(cb_cpu_features() == (cb_cpu_info()->os_features & cap));
    else
        CB_CHECK(cb_cpu_features() == cb_cpu_info()->os_features);
}

static void test_features_str(void)
{
    // 256, not more: cb_test.h's 512-byte message must hold it (gcc checks).
    char buf[256];
    cb_cpu_features_str(CB_ISA_SSE2 | CB_ISA_AVX2 | CB_ISA_AVX512_BF16, buf,
                        sizeof buf);
    CB_CHECK_STR(buf, "sse2 avx2 avx512_bf16");
    cb_cpu_features_str(0, buf, sizeof buf);
    CB_CHECK_STR(buf, "");
    cb_cpu_features_str(CB_ISA_GROUP_AVX512, buf, sizeof buf);
    CB_CHECK_STR(buf, "avx avx2 fma avx512f avx512bw avx512vl avx512dq");
    cb_cpu_features_str(CB_ISA_NEON | CB_ISA_ASIMDDP | CB_ISA_I8MM, buf, sizeof buf);
    CB_CHECK_STR(buf, "neon asimddp i8mm");
    // Too small a buffer: whole names only, always terminated.
    char small[12];
    memset(small, 'x', sizeof small);
    cb_cpu_features_str(CB_ISA_SSE2 | CB_ISA_AVX | CB_ISA_AVX2, small, sizeof small);
    CB_CHECK_STR(small, "sse2 avx");
    // Every defined bit has a name; unknown bits have "?".
    uint64_t known = CB_ISA_SSE2 | AVX_BITS | AVX512_BITS | AMX_BITS |
                     CB_ISA_NEON | CB_ISA_ASIMDDP | CB_ISA_ASIMDHP | CB_ISA_BF16 |
                     CB_ISA_SVE | CB_ISA_I8MM;
    for (int i = 0; i < 64; i++) {
        uint64_t b = UINT64_C(1) << i;
        const char *n = cb_isa_bit_name(b);
        if (known & b)
            CB_CHECK_MSG(strcmp(n, "?") != 0, "bit %d unnamed", i);
        else
            CB_CHECK_MSG(strcmp(n, "?") == 0, "bit %d named %s", i, n);
    }
    CB_CHECK_STR(cb_isa_bit_name(CB_ISA_AVX512_VNNI), "avx512_vnni");
    CB_CHECK_STR(cb_isa_bit_name(CB_ISA_AVX | CB_ISA_AVX2), "?");
    CB_CHECK_STR(cb_isa_bit_name(0), "?");

    // The machine's own usable set round-trips through the names.
    const struct cb_cpu_info *ci = cb_cpu_info();
    cb_cpu_features_str(ci->os_features, buf, sizeof buf);
    for (int i = 0; i < 64; i++) {
        uint64_t b = UINT64_C(1) << i;
        if (ci->os_features & b)
            CB_CHECK_MSG(has_word(buf, cb_isa_bit_name(b)), "'%s' lacks %s", buf,
                         cb_isa_bit_name(b));
    }
}

static void test_amd_codename(void)
{
    struct { int family, model; const char *want; } cases[] = {
        {0x17, 0x31, "EPYC (Rome)"},                      // Zen 2: libcpuid's stays
        {0x19, 0x01, "EPYC (Rome)"},                      // Zen 3 (Milan): libcpuid's stays
        {0x19, 0x21, "EPYC (Rome)"},                      // Zen 3 (Vermeer)
        {0x19, 0x0f, "EPYC (Rome)"},                      // last Zen 3 model of the first range
        {0x19, 0x10, "Zen 4 (family 0x19 model 0x10)"},
        {0x19, 0x11, "Zen 4 (family 0x19 model 0x11)"},   // Genoa, this project's VM
        {0x19, 0x5f, "EPYC (Rome)"},                      // Zen 3 up to 0x5f
        {0x19, 0x61, "Zen 4 (family 0x19 model 0x61)"},   // Raphael
        {0x19, 0xa0, "Zen 4 (family 0x19 model 0xa0)"},   // Bergamo
        {0x19, 0xaf, "Zen 4 (family 0x19 model 0xaf)"},
        {0x19, 0xb0, "EPYC (Rome)"},                      // unknown model: not claimed
        {0x1a, 0x02, "Zen 5 (family 0x1a model 0x2)"},
        {0x1b, 0x00, "unknown (AMD family 0x1b)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[64] = "EPYC (Rome)";  // stands for whatever libcpuid said
        cb_cpu_amd_codename(cases[i].family, cases[i].model, name, sizeof name);
        CB_CHECK_MSG(strcmp(name, cases[i].want) == 0, "family 0x%x model 0x%x: '%s', want '%s'",
                     (unsigned)cases[i].family, (unsigned)cases[i].model, name, cases[i].want);
    }
}

static void test_cpu_info(void)
{
    const struct cb_cpu_info *ci = cb_cpu_info();
    CB_CHECK(ci == cb_cpu_info());  // cached
    CB_CHECK(ci->arch[0] && ci->vendor[0] && ci->brand[0] && ci->codename[0]);
    CB_CHECK(ci->source[0]);
    CB_CHECK((ci->os_features & ~ci->cpuid_features) == 0);
    CB_CHECK((cb_cpu_features() & ~ci->os_features) == 0);

    char cls[256];
    cb_cpu_chip_class(cls, sizeof cls);
    CB_CHECK_MSG(strncmp(cls, "cpu:", 4) == 0, "chip class '%s'", cls);
    CB_CHECK_MSG(!strchr(cls, ' ') && !strchr(cls, ','), "chip class '%s'", cls);
    char want[128];
    snprintf(want, sizeof want, ":f%dm%ds%d", ci->family, ci->model, ci->stepping);
    size_t lc = strlen(cls), lw = strlen(want);
    CB_CHECK_MSG(lc > lw && strcmp(cls + lc - lw, want) == 0, "chip class '%s'", cls);
    int colons = 0;
    for (const char *p = cls; *p; p++)
        colons += *p == ':';
    CB_CHECK_MSG(colons == 3, "chip class '%s'", cls);
    char tiny[8];
    cb_cpu_chip_class(tiny, sizeof tiny);  // truncates, terminates
    CB_CHECK(strlen(tiny) == sizeof tiny - 1);
}

static void test_x86_host(void)
{
#if defined(__x86_64__)
    const struct cb_cpu_info *ci = cb_cpu_info();
    CB_CHECK_STR(ci->arch, "x86_64");
    CB_CHECK(ci->os_features & CB_ISA_SSE2);  // baseline x86-64
    if (!(ci->cpuid_features & CB_ISA_AVX512F))
        CB_SKIP("this x86 CPU does not claim AVX-512F (%s)", ci->brand);
    // This project's reference machine (AMD EPYC Zen, Linux) has both.
    CB_CHECK(ci->xcr0 & 0x6);
    CB_CHECK(ci->os_features & CB_ISA_AVX2);
    CB_CHECK(ci->os_features & CB_ISA_AVX512F);
    CB_CHECK((ci->os_features & CB_ISA_GROUP_AVX512) == CB_ISA_GROUP_AVX512);
#else
    CB_SKIP("not x86-64");
#endif
}

static void test_topology(void)
{
    const struct cb_topo *t = cb_topo_get();
    CB_CHECK(t == cb_topo_get());
    CB_CHECK(t->cores >= 1);
    CB_CHECK(t->pus >= t->cores);
    CB_CHECK(t->packages >= 1);
    CB_CHECK(t->numa_nodes >= 1);
    CB_CHECK(t->source[0]);
#if defined(__linux__)
    // Every Linux VM this project targets exposes L2/L3 sizes in sysfs.
    CB_CHECK_MSG(t->l2_bytes > 0 || t->l3_bytes > 0, "no L2/L3 (source %s)",
                 t->source);
    CB_CHECK(cb_topo_llc_bytes() == (t->l3_bytes ? t->l3_bytes : t->l2_bytes));
    CB_CHECK(t->mem_bytes > 0);
    if (t->l2_bytes)
        CB_CHECK(t->l2_count >= 1);
    if (t->l3_bytes)
        CB_CHECK(t->l3_count >= 1);
#endif
}

static void test_binding(void)
{
#if defined(__linux__)
    const struct cb_topo *t = cb_topo_get();
    cpu_set_t before, set;
    CB_CHECK(sched_getaffinity(0, sizeof before, &before) == 0);
    enum cb_status s = cb_topo_bind_process(1);
    if (s == CB_ERR_UNSUPPORTED)
        CB_SKIP("binding unsupported: %s", cb_error_text());
    CB_CHECK_MSG(s == CB_OK, "bind_process: %s", cb_error_msg());
    CB_CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    int n = CPU_COUNT(&set);
    // Exactly the PUs of one core (symmetric SMT assumed: pus/cores each).
    CB_CHECK_MSG(n == t->pus / t->cores, "bound to %d PUs, want %d", n,
                 t->pus / t->cores);
    // Those PUs are SMT siblings of each other: same thread_siblings_list.
    char first_sib[128] = "";
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set))
            continue;
        char path[128], sib[128] = "";
        snprintf(path, sizeof path,
                 "/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", cpu);
        FILE *f = fopen(path, "r");
        if (!f)
            break;  // no sysfs topology: the count check above must do
        if (!fgets(sib, sizeof sib, f))
            sib[0] = 0;
        fclose(f);
        if (!first_sib[0])
            snprintf(first_sib, sizeof first_sib, "%s", sib);
        CB_CHECK_MSG(strcmp(first_sib, sib) == 0, "cpu%d not a sibling", cpu);
    }

    // Thread pinning: exactly one PU.
    CB_CHECK(cb_topo_unbind_process() == CB_OK);
    CB_CHECK(cb_topo_bind_thread(t->cores) == CB_OK);  // wraps to core 0
    CB_CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    CB_CHECK(CPU_COUNT(&set) == 1);
    CB_CHECK(cb_topo_bind_thread(-1) == CB_OK);  // negative must not crash
    CB_CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    CB_CHECK(CPU_COUNT(&set) == 1);

    CB_CHECK(cb_topo_unbind_process() == CB_OK);
    CB_CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    CB_CHECK_MSG(CPU_COUNT(&set) >= CPU_COUNT(&before), "unbind left %d PUs",
                 CPU_COUNT(&set));
    // Out-of-range counts clamp instead of failing.
    CB_CHECK(cb_topo_bind_process(1 << 20) == CB_OK);
    CB_CHECK(cb_topo_bind_process(0) == CB_OK);
    CB_CHECK(cb_topo_unbind_process() == CB_OK);
#else
    CB_SKIP("affinity check needs Linux sched_getaffinity");
#endif
}

static void test_ocl_chip_class_format(void)
{
    struct cb_ocl_device d;
    memset(&d, 0, sizeof d);
    snprintf(d.type, sizeof d.type, "gpu");
    snprintf(d.vendor, sizeof d.vendor, "NVIDIA Corporation");
    snprintf(d.name, sizeof d.name, " NVIDIA  \"H100\", 80GB HBM3 ");
    char cls[256];
    cb_ocl_chip_class(&d, cls, sizeof cls);
    CB_CHECK_STR(cls, "opencl:gpu:NVIDIA_Corporation:NVIDIA_H100_80GB_HBM3");
    d.vendor[0] = 0;
    cb_ocl_chip_class(&d, cls, sizeof cls);
    CB_CHECK_STR(cls, "opencl:gpu:unknown:NVIDIA_H100_80GB_HBM3");
    char tiny[10];
    cb_ocl_chip_class(&d, tiny, sizeof tiny);
    CB_CHECK(strlen(tiny) == sizeof tiny - 1);
}

static void test_opencl_devices(void)
{
    struct cb_ocl_device *devs = NULL;
    int n = -1;
    enum cb_status s = cb_ocl_list(&devs, &n);
    if (s == CB_ERR_UNSUPPORTED) {
        CB_CHECK(devs == NULL && n == 0);
        CB_SKIP("%s", cb_error_text());
    }
    CB_CHECK_MSG(s == CB_OK, "cb_ocl_list: %s", cb_error_msg());
    CB_CHECK(n >= 1 && devs != NULL);
    for (int i = 0; i < n; i++) {
        const struct cb_ocl_device *d = &devs[i];
        char cls[300];
        if (!(d->platform_name[0] && d->platform_vendor[0] &&
              d->platform_version[0] && d->name[0] && d->vendor[0] &&
              d->driver_version[0] && d->version[0] && d->type[0])) {
            free(devs);
            CB_CHECK_MSG(0, "device %d has an empty field", i);
        }
        cb_ocl_chip_class(d, cls, sizeof cls);
        int ok = strncmp(cls, "opencl:", 7) == 0 && !strchr(cls, ' ') &&
                 !strchr(cls, ',') && !strchr(cls, '"') &&
                 d->compute_units >= 1 && d->global_mem_bytes > 0 &&
                 d->max_work_group >= 1 &&
                 (i == 0 || d->platform_index >= devs[i - 1].platform_index);
        if (!ok) {
            free(devs);
            CB_CHECK_MSG(0, "device %d: chip class '%s' or counts invalid", i, cls);
        }
    }
    free(devs);
    // Bad arguments are refused, not dereferenced.
    CB_CHECK(cb_ocl_list(NULL, &n) != CB_OK);
}

// A baseline on narrower vectors than the CPU has is named, with the fix;
// one on the widest is not; names OpenBLAS may print in any case.
static void test_blas_core_note(void)
{
    const uint64_t avx2 = CB_ISA_SSE2 | CB_ISA_GROUP_AVX2;
    const uint64_t avx512 = avx2 | CB_ISA_GROUP_AVX512, bf16 = avx512 | CB_ISA_AVX512_BF16;
    char b[400];
    CB_CHECK(cb_blas_core_note("Prescott", bf16 | CB_ISA_AMX_TILE, b, sizeof b) == 1);
    CB_CHECK_MSG(strstr(b, "Prescott core (SSE)") && strstr(b, "AVX-512") &&
                     strstr(b, "OPENBLAS_CORETYPE=Cooperlake"),
                 "%s", b);
    CB_CHECK(cb_blas_core_note("Haswell", avx512, b, sizeof b) == 1);
    CB_CHECK_MSG(strstr(b, "Haswell core (AVX2)") && strstr(b, "OPENBLAS_CORETYPE=SkylakeX"),
                 "%s", b);
    CB_CHECK(cb_blas_core_note("PRESCOTT", avx2, b, sizeof b) == 1);
    CB_CHECK_MSG(strstr(b, "OPENBLAS_CORETYPE=Haswell"), "%s", b);
    CB_CHECK(cb_blas_core_note("Haswell", avx2, b, sizeof b) == 0 && b[0] == 0);
    CB_CHECK(cb_blas_core_note("Zen", avx2, b, sizeof b) == 0);
    CB_CHECK(cb_blas_core_note("SkylakeX", bf16, b, sizeof b) == 0);
    CB_CHECK(cb_blas_core_note("Cooperlake", bf16, b, sizeof b) == 0);
    CB_CHECK(cb_blas_core_note("Prescott", CB_ISA_SSE2, b, sizeof b) == 0);  // nothing wider
    CB_CHECK(cb_blas_core_note("NotACore", bf16, b, sizeof b) == 0);
    CB_CHECK(cb_blas_core_note(NULL, bf16, b, sizeof b) == 0 && b[0] == 0);
}

int main(void)
{
    CB_RUN(test_xcr0_masking);
    CB_RUN(test_blas_core_note);
    CB_RUN(test_cap_names);
    CB_RUN(test_env_cap_status);
    CB_RUN(test_features_str);
    CB_RUN(test_amd_codename);
    CB_RUN(test_cpu_info);
    CB_RUN(test_x86_host);
    CB_RUN(test_topology);
    CB_RUN(test_binding);
    CB_RUN(test_ocl_chip_class_format);
    CB_RUN(test_opencl_devices);
    return CB_TEST_END("test_cpu");
}
