// cpu_features.c: who the CPU is and which ISA extensions the CPU *and* the
// OS let chipbench use (everything declared in cb_cpu.h).
//
// x86-64: identity (vendor, brand, codename) from libcpuid when built with it
// (CB_HAVE_LIBCPUID), else raw CPUID. Feature bits always come from raw CPUID
// (<cpuid.h> __get_cpuid_count), even with libcpuid: 0.6.2 predates
// AVX512_BF16/FP16/AMX flags on some CPUs and we want one code path for the
// bits dispatch trusts. Bits are then masked by XGETBV (XCR0).
// AArch64: NEON is baseline; extras from getauxval(AT_HWCAP/AT_HWCAP2);
// implementer/part from /proc/cpuinfo.
// Other architectures: no feature bits, arch from uname, source "none".
//
// Compiled for the baseline ISA (no -m flags): this file must run on any
// x86-64, which is why XGETBV is inline asm and not the _xgetbv intrinsic
// (that one needs -mxsave). It is not a dispatcher; registry.c picks kernels.
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>

#include "chipbench/cb_cpu.h"
#include "chipbench/cb_util.h"

#if defined(__x86_64__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(CB_HAVE_LIBCPUID)
#include <libcpuid.h>
#endif
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

// Bit names, indexed by bit position; NULL for unused positions. This is the
// closed set cb_cpu.h asks to extend deliberately.
static const char *const isa_names[64] = {
    [0] = "sse2",         [1] = "avx",          [2] = "avx2",
    [3] = "fma",          [4] = "f16c",         [5] = "avx512f",
    [6] = "avx512bw",     [7] = "avx512vl",     [8] = "avx512dq",
    [9] = "avx512_bf16",  [10] = "avx512_fp16", [11] = "avx512_vnni",
    [12] = "amx_tile",    [13] = "amx_bf16",    [16] = "neon",
    [17] = "asimddp",     [18] = "asimdhp",     [19] = "bf16",
    [20] = "sve",         [21] = "i8mm",
};

// Bits that need the OS to save ymm state (XCR0 bits 1, 2). F16C is VEX
// encoded and uses ymm registers, so it belongs here too.
#define AVX_STATE_BITS (CB_ISA_AVX | CB_ISA_AVX2 | CB_ISA_FMA | CB_ISA_F16C)
// Bits that need opmask + zmm state (XCR0 bits 5-7) on top of ymm state.
#define AVX512_STATE_BITS                                                     \
    (CB_ISA_AVX512F | CB_ISA_AVX512BW | CB_ISA_AVX512VL | CB_ISA_AVX512DQ |   \
     CB_ISA_AVX512_BF16 | CB_ISA_AVX512_FP16 | CB_ISA_AVX512_VNNI)
// Bits that need XTILECFG + XTILEDATA state (XCR0 bits 17, 18).
#define AMX_STATE_BITS (CB_ISA_AMX_TILE | CB_ISA_AMX_BF16)

#define CAP_AVX (CB_ISA_SSE2 | CB_ISA_AVX)
#define CAP_AVX2 (CAP_AVX | CB_ISA_AVX2 | CB_ISA_FMA | CB_ISA_F16C)
#define CAP_AVX512                                                            \
    (CAP_AVX2 | CB_ISA_AVX512F | CB_ISA_AVX512BW | CB_ISA_AVX512VL |          \
     CB_ISA_AVX512DQ | CB_ISA_AVX512_VNNI)

static const struct {
    const char *name;
    uint64_t cap;
} cap_table[] = {
    {"ref", 0},
    {"sse2", CB_ISA_SSE2},
    {"avx", CAP_AVX},
    {"avx2", CAP_AVX2},
    {"avx512", CAP_AVX512},
    {"avx512_bf16", CAP_AVX512 | CB_ISA_AVX512_BF16},
    {"amx", CAP_AVX512 | CB_ISA_AVX512_BF16 | AMX_STATE_BITS},
    {"neon", CB_ISA_NEON},
    {"neon_dotprod", CB_ISA_NEON | CB_ISA_ASIMDDP},
    {"native", ~UINT64_C(0)},
    {"all", ~UINT64_C(0)},
};

static struct cb_cpu_info g_info;
static pthread_once_t g_info_once = PTHREAD_ONCE_INIT;

// The CHIPBENCH_ISA cap, parsed once so dispatch never re-reads the
// environment mid-run (a later setenv has no effect by design).
static uint64_t g_cap = ~UINT64_C(0);
static int g_cap_bad;          // CHIPBENCH_ISA was set to an unknown name
static char g_cap_value[64];   // the offending value, for the message
static pthread_once_t g_cap_once = PTHREAD_ONCE_INIT;

uint64_t cb_cpu_mask_by_xcr0(uint64_t cpuid_bits, uint64_t xcr0, int osxsave)
{
    // Without OSXSAVE the OS has not enabled XSAVE at all, so XCR0 cannot be
    // read and no extended state is saved: treat it as 0. SSE2 stays, since
    // its state is saved by FXSAVE regardless.
    if (!osxsave)
        xcr0 = 0;
    uint64_t f = cpuid_bits;
    if ((xcr0 & 0x6) != 0x6)
        f &= ~(AVX_STATE_BITS | AVX512_STATE_BITS);
    if ((xcr0 & 0xe6) != 0xe6)
        f &= ~AVX512_STATE_BITS;
    uint64_t amx = (UINT64_C(1) << 17) | (UINT64_C(1) << 18);
    if ((xcr0 & amx) != amx)
        f &= ~AMX_STATE_BITS;
    return f;
}

// Table lookup without touching the error detail (cap_once must not clobber
// a message the calling thread recorded earlier). 0 on success.
static int cap_lookup(const char *name, uint64_t *cap)
{
    for (size_t i = 0; i < sizeof cap_table / sizeof cap_table[0]; i++) {
        // Case-insensitive: "AVX2" in an environment variable is an obvious
        // intent, not a typo worth failing on.
        if (strcasecmp(name, cap_table[i].name) == 0) {
            *cap = cap_table[i].cap;
            return 0;
        }
    }
    return -1;
}

enum cb_status cb_cpu_cap_from_name(const char *name, uint64_t *cap)
{
    uint64_t c;
    if (!name)
        return cb_set_error(CB_ERR_INVALID_ARG, "ISA cap name is NULL");
    if (cap_lookup(name, &c) == 0) {
        if (cap)
            *cap = c;
        return CB_OK;
    }
    return cb_set_error(CB_ERR_INVALID_ARG,
                        "unknown ISA cap '%s' (valid: ref sse2 avx avx2 avx512 "
                        "avx512_bf16 neon neon_dotprod native all)",
                        name);
}

const char *cb_isa_bit_name(uint64_t bit)
{
    // Exactly one bit set, else it is not "one bit".
    if (bit == 0 || (bit & (bit - 1)) != 0)
        return "?";
    int i = __builtin_ctzll(bit);
    return isa_names[i] ? isa_names[i] : "?";
}

void cb_cpu_features_str(uint64_t f, char *buf, size_t len)
{
    if (!buf || !len)
        return;
    buf[0] = 0;
    size_t used = 0;
    for (int i = 0; i < 64; i++) {
        if (!(f & (UINT64_C(1) << i)) || !isa_names[i])
            continue;
        size_t n = strlen(isa_names[i]) + (used ? 1 : 0);
        // Only whole names: a truncated "avx51" would be misread by scripts.
        if (used + n + 1 > len)
            break;
        if (used)
            buf[used++] = ' ';
        memcpy(buf + used, isa_names[i], strlen(isa_names[i]) + 1);
        used += strlen(isa_names[i]);
    }
}

// libcpuid picks the closest entry of its database even for CPUs it has
// never heard of: Debian's 0.6.2 calls a Zen 5 EPYC "Athlon X2 (Kuma)" and a
// Zen 4 EPYC (family 0x19 model 0x11, Genoa) "EPYC (Milan)", which is Zen 3.
// A wrong codename in a fingerprint is worse than none, so the AMD families
// whose model ranges are known (Linux's bsp_init_amd) are named here by
// microarchitecture, libcpuid keeps Zen 3 and older (it knows them), and
// anything newer says "unknown".
void cb_cpu_amd_codename(int family, int model, char *codename, size_t len)
{
    const char *zen = NULL;
    if (family == 0x19 && ((model >= 0x10 && model <= 0x1f) || (model >= 0x60 && model <= 0xaf)))
        zen = "Zen 4";
    else if (family == 0x1a)
        zen = "Zen 5";
    if (zen)
        snprintf(codename, len, "%s (family 0x%x model 0x%x)", zen, (unsigned)family,
                 (unsigned)model);
    else if (family > 0x1a)
        snprintf(codename, len, "unknown (AMD family 0x%x)", (unsigned)family);
}

#if defined(__x86_64__)
// XGETBV with ECX=0 reads XCR0. Encoded as inline asm so this baseline TU
// needs no -mxsave; the caller must have checked OSXSAVE (else #UD).
static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void cpuid_count(unsigned leaf, unsigned sub, unsigned r[4])
{
    if (!__get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3]))
        r[0] = r[1] = r[2] = r[3] = 0;
}

// Linux (5.16+) additionally gates AMX behind a per-process permission: XCR0
// says "enabled" but the first tile instruction faults until the process asks.
// Asking here keeps os_features honest ("really usable"); if the kernel says
// no, the AMX bits go.
static uint64_t amx_request_permission(uint64_t f)
{
#if defined(__linux__)
    if (f & AMX_STATE_BITS) {
        const long arch_req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;
        if (syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) != 0)
            f &= ~AMX_STATE_BITS;
    }
#endif
    return f;
}

#if defined(CB_HAVE_LIBCPUID)
// libcpuid warns on stderr about CPUs newer than its database; library code
// must not print, and the fallback values are fine for us.
static void libcpuid_quiet(const char *msg) { (void)msg; }

// Fills vendor/brand/codename from libcpuid; 0 on success.
static int identify_libcpuid(struct cb_cpu_info *ci)
{
    struct cpu_raw_data_t raw;
    struct cpu_id_t id;
    memset(&raw, 0, sizeof raw);
    memset(&id, 0, sizeof id);
    cpuid_set_warn_function(libcpuid_quiet);
    if (cpuid_get_raw_data(&raw) != 0 || cpu_identify(&raw, &id) != 0)
        return -1;
    if (id.vendor_str[0])
        cb_strlcpy(ci->vendor, id.vendor_str, sizeof ci->vendor);
    if (id.brand_str[0])
        cb_strlcpy(ci->brand, id.brand_str, sizeof ci->brand);
    if (id.cpu_codename[0])
        cb_strlcpy(ci->codename, id.cpu_codename, sizeof ci->codename);
    return 0;
}
#endif

// Brand strings are often padded with leading/trailing spaces.
static void trim(char *s)
{
    size_t n = strlen(s), a = 0;
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    while (s[a] && isspace((unsigned char)s[a]))
        a++;
    if (a)
        memmove(s, s + a, n - a + 1);
}

static void probe_x86(struct cb_cpu_info *ci)
{
    unsigned r[4];
    cb_strlcpy(ci->source, "cpuid.h", sizeof ci->source);

    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf == 0)
        return;  // no CPUID (never on x86-64, but keep "unknown")
    cpuid_count(0, 0, r);
    char vendor[13];
    memcpy(vendor, &r[1], 4);
    memcpy(vendor + 4, &r[3], 4);
    memcpy(vendor + 8, &r[2], 4);
    vendor[12] = 0;
    cb_strlcpy(ci->vendor, vendor, sizeof ci->vendor);

    uint64_t f = 0;
    int osxsave = 0;
    if (max_leaf >= 1) {
        cpuid_count(1, 0, r);
        unsigned eax = r[0];
        // Display family/model (Intel SDM vol. 2 CPUID, AMD APM vol. 3):
        // extended family is added only when base family is 0xF; extended
        // model is prepended for base family 6 and 0xF.
        int base_family = (int)((eax >> 8) & 0xf);
        int model = (int)((eax >> 4) & 0xf);
        int family = base_family;
        if (base_family == 0xf)
            family += (int)((eax >> 20) & 0xff);
        if (base_family == 0x6 || base_family == 0xf)
            model += (int)(((eax >> 16) & 0xf) << 4);
        ci->family = family;
        ci->model = model;
        ci->stepping = (int)(eax & 0xf);

        if (r[3] & (1u << 26))
            f |= CB_ISA_SSE2;
        if (r[2] & (1u << 28))
            f |= CB_ISA_AVX;
        if (r[2] & (1u << 12))
            f |= CB_ISA_FMA;
        if (r[2] & (1u << 29))
            f |= CB_ISA_F16C;
        osxsave = (r[2] >> 27) & 1;
    }
    if (max_leaf >= 7) {
        cpuid_count(7, 0, r);
        unsigned max_sub = r[0], ebx = r[1], ecx = r[2], edx = r[3];
        if (ebx & (1u << 5))
            f |= CB_ISA_AVX2;
        if (ebx & (1u << 16))
            f |= CB_ISA_AVX512F;
        if (ebx & (1u << 17))
            f |= CB_ISA_AVX512DQ;
        if (ebx & (1u << 30))
            f |= CB_ISA_AVX512BW;
        if (ebx & (1u << 31))
            f |= CB_ISA_AVX512VL;
        if (ecx & (1u << 11))
            f |= CB_ISA_AVX512_VNNI;
        if (edx & (1u << 23))
            f |= CB_ISA_AVX512_FP16;
        if (edx & (1u << 24))
            f |= CB_ISA_AMX_TILE;
        if (edx & (1u << 22))
            f |= CB_ISA_AMX_BF16;
        if (max_sub >= 1) {
            cpuid_count(7, 1, r);
            if (r[0] & (1u << 5))
                f |= CB_ISA_AVX512_BF16;
        }
    }

    unsigned max_ext = __get_cpuid_max(0x80000000u, NULL);
    if (max_ext >= 0x80000004u) {
        char brand[49];
        for (unsigned i = 0; i < 3; i++) {
            cpuid_count(0x80000002u + i, 0, r);
            memcpy(brand + 16 * i, r, 16);
        }
        brand[48] = 0;
        trim(brand);
        if (brand[0])
            cb_strlcpy(ci->brand, brand, sizeof ci->brand);
    }

#if defined(CB_HAVE_LIBCPUID)
    // Only identity comes from libcpuid; on failure the raw values above stay.
    if (identify_libcpuid(ci) == 0)
        cb_strlcpy(ci->source, "libcpuid", sizeof ci->source);
#endif
    if (strcmp(ci->vendor, "AuthenticAMD") == 0)
        cb_cpu_amd_codename(ci->family, ci->model, ci->codename, sizeof ci->codename);

    ci->xcr0 = osxsave ? read_xcr0() : 0;
    ci->cpuid_features = f;
    ci->os_features = amx_request_permission(cb_cpu_mask_by_xcr0(f, ci->xcr0, osxsave));
}
#endif  // __x86_64__

#if defined(__aarch64__)
// Value after "key<spaces>:" on the first matching /proc/cpuinfo line.
static int cpuinfo_field(const char *key, char *out, size_t len)
{
    FILE *fp = fopen("/proc/cpuinfo", "r");
    int found = 0;
    char line[256];
    if (!fp)
        goto out;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, fp)) {
        if (strncmp(line, key, klen) != 0)
            continue;
        char *colon = strchr(line + klen, ':');
        if (!colon)
            continue;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        v[strcspn(v, "\n")] = 0;
        cb_strlcpy(out, v, len);
        found = 1;
        break;
    }
out:
    if (fp)
        fclose(fp);
    return found;
}

static const char *arm_implementer_name(int impl)
{
    switch (impl) {
    case 0x41: return "ARM";
    case 0x42: return "Broadcom";
    case 0x43: return "Cavium";
    case 0x46: return "Fujitsu";
    case 0x48: return "HiSilicon";
    case 0x4e: return "NVIDIA";
    case 0x50: return "APM";
    case 0x51: return "Qualcomm";
    case 0x61: return "Apple";
    case 0x6d: return "Microsoft";
    case 0xc0: return "Ampere";
    default: return NULL;
    }
}

static void probe_arm(struct cb_cpu_info *ci)
{
    // Architecturally guaranteed on AArch64 (Advanced SIMD is mandatory).
    uint64_t f = CB_ISA_NEON;
    cb_strlcpy(ci->source, "none", sizeof ci->source);
#if defined(__linux__)
    // Bit values from <asm/hwcap.h>, spelled out so old headers still build.
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    if (hw & (1ul << 10))
        f |= CB_ISA_ASIMDHP;
    if (hw & (1ul << 20))
        f |= CB_ISA_ASIMDDP;
    if (hw & (1ul << 22))
        f |= CB_ISA_SVE;
    if (hw2 & (1ul << 13))
        f |= CB_ISA_I8MM;
    if (hw2 & (1ul << 14))
        f |= CB_ISA_BF16;
    cb_strlcpy(ci->source, "auxv", sizeof ci->source);

    char v[64];
    if (cpuinfo_field("CPU implementer", v, sizeof v)) {
        int impl = (int)strtol(v, NULL, 0);
        const char *name = arm_implementer_name(impl);
        if (name)
            cb_strlcpy(ci->vendor, name, sizeof ci->vendor);
        else
            snprintf(ci->vendor, sizeof ci->vendor, "impl0x%02x", impl);
        ci->family = impl;
    }
    if (cpuinfo_field("CPU part", v, sizeof v))
        ci->model = (int)strtol(v, NULL, 0);
    if (cpuinfo_field("CPU revision", v, sizeof v))
        ci->stepping = (int)strtol(v, NULL, 0);
    if (cpuinfo_field("model name", v, sizeof v) && v[0])
        cb_strlcpy(ci->brand, v, sizeof ci->brand);
    else if (ci->model)
        snprintf(ci->brand, sizeof ci->brand, "%s part 0x%03x", ci->vendor,
                 (unsigned)ci->model);
#endif
    // The OS always saves NEON state; nothing like XCR0 to mask with.
    ci->cpuid_features = f;
    ci->os_features = f;
}
#endif  // __aarch64__

static void probe_once(void)
{
    struct cb_cpu_info *ci = &g_info;
    memset(ci, 0, sizeof *ci);
    cb_strlcpy(ci->vendor, "unknown", sizeof ci->vendor);
    cb_strlcpy(ci->brand, "unknown", sizeof ci->brand);
    cb_strlcpy(ci->codename, "unknown", sizeof ci->codename);
    cb_strlcpy(ci->source, "none", sizeof ci->source);
#if defined(__x86_64__)
    cb_strlcpy(ci->arch, "x86_64", sizeof ci->arch);
    probe_x86(ci);
#elif defined(__aarch64__)
    cb_strlcpy(ci->arch, "aarch64", sizeof ci->arch);
    probe_arm(ci);
#else
    struct utsname u;
    if (uname(&u) == 0)
        cb_strlcpy(ci->arch, u.machine, sizeof ci->arch);
    else
        cb_strlcpy(ci->arch, "unknown", sizeof ci->arch);
#endif
}

const struct cb_cpu_info *cb_cpu_info(void)
{
    pthread_once(&g_info_once, probe_once);
    return &g_info;
}

static void cap_once(void)
{
    const char *v = getenv("CHIPBENCH_ISA");
    // Empty counts as unset, so `CHIPBENCH_ISA= chipbench ...` clears a cap.
    if (!v || !*v)
        return;
    uint64_t cap;
    if (cap_lookup(v, &cap) == 0) {
        g_cap = cap;
    } else {
        // Not fatal here (dispatch must keep working); main asks
        // cb_cpu_env_cap_status() and reports it.
        g_cap_bad = 1;
        cb_strlcpy(g_cap_value, v, sizeof g_cap_value);
    }
}

uint64_t cb_cpu_features(void)
{
    pthread_once(&g_cap_once, cap_once);
    return cb_cpu_info()->os_features & g_cap;
}

enum cb_status cb_cpu_env_cap_status(void)
{
    pthread_once(&g_cap_once, cap_once);
    if (!g_cap_bad)
        return CB_OK;
    // Recorded on the caller's thread each time: the detail buffer is
    // thread-local, so a message set during cap_once may be on another thread.
    return cb_set_error(CB_ERR_INVALID_ARG,
                        "CHIPBENCH_ISA='%s' is not a known ISA cap (valid: ref "
                        "sse2 avx avx2 avx512 avx512_bf16 neon neon_dotprod "
                        "native all); using the uncapped feature set",
                        g_cap_value);
}

void cb_cpu_chip_class(char *buf, size_t len)
{
    if (!buf || !len)
        return;
    const struct cb_cpu_info *ci = cb_cpu_info();
    // The id is a CSV field and a ':'-separated key: keep only characters
    // that cannot break either (Zhaoxin's vendor is "  Shanghai  ").
    char vendor[sizeof ci->vendor];
    size_t n = 0;
    for (const char *p = ci->vendor; *p && n + 1 < sizeof vendor; p++)
        if (isalnum((unsigned char)*p) || *p == '_' || *p == '-')
            vendor[n++] = *p;
    vendor[n] = 0;
    snprintf(buf, len, "cpu:%s:%s:f%dm%ds%d", ci->arch, n ? vendor : "unknown",
             ci->family, ci->model, ci->stepping);
}
