// cb_cpu.h: which instruction sets this CPU *and* OS let us use, and who the
// CPU is (the chip-class fingerprint's CPU half).
//
// Feature bits come from CPUID (libcpuid when built with it, <cpuid.h>
// otherwise) and are then masked by XGETBV: a CPU that reports AVX-512 under
// an OS that does not save zmm state must not run AVX-512 code. On AArch64
// NEON is baseline and extras come from getauxval(AT_HWCAP).
#ifndef CHIPBENCH_CB_CPU_H
#define CHIPBENCH_CB_CPU_H

#include <stdint.h>
#include <stddef.h>
#include "cb_status.h"

// One bit per ISA extension a kernel may require. Closed set: add deliberately
// and add its name to the table in cpu_features.c.
#define CB_ISA_SSE2        (UINT64_C(1) << 0)
#define CB_ISA_AVX         (UINT64_C(1) << 1)
#define CB_ISA_AVX2        (UINT64_C(1) << 2)
#define CB_ISA_FMA         (UINT64_C(1) << 3)
#define CB_ISA_F16C        (UINT64_C(1) << 4)
#define CB_ISA_AVX512F     (UINT64_C(1) << 5)
#define CB_ISA_AVX512BW    (UINT64_C(1) << 6)
#define CB_ISA_AVX512VL    (UINT64_C(1) << 7)
#define CB_ISA_AVX512DQ    (UINT64_C(1) << 8)
#define CB_ISA_AVX512_BF16 (UINT64_C(1) << 9)
#define CB_ISA_AVX512_FP16 (UINT64_C(1) << 10)
#define CB_ISA_AVX512_VNNI (UINT64_C(1) << 11)
#define CB_ISA_AMX_TILE    (UINT64_C(1) << 12)
#define CB_ISA_AMX_BF16    (UINT64_C(1) << 13)
#define CB_ISA_NEON        (UINT64_C(1) << 16)
#define CB_ISA_ASIMDDP     (UINT64_C(1) << 17)
#define CB_ISA_ASIMDHP     (UINT64_C(1) << 18)
#define CB_ISA_BF16        (UINT64_C(1) << 19)
#define CB_ISA_SVE         (UINT64_C(1) << 20)
#define CB_ISA_I8MM        (UINT64_C(1) << 21)

// Convenience groups used by kernel tables.
#define CB_ISA_GROUP_AVX2   (CB_ISA_AVX | CB_ISA_AVX2 | CB_ISA_FMA)
#define CB_ISA_GROUP_AVX512 (CB_ISA_GROUP_AVX2 | CB_ISA_AVX512F | \
                             CB_ISA_AVX512BW | CB_ISA_AVX512VL | CB_ISA_AVX512DQ)

struct cb_cpu_info {
    char arch[16];          // "x86_64", "aarch64"
    char vendor[32];        // "AuthenticAMD", "GenuineIntel", "ARM"
    char brand[80];         // "AMD EPYC 9R45 96-Core Processor"
    char codename[64];      // libcpuid's codename, or "unknown"
    int family, model, stepping;   // x86: display family/model; arm: implementer/part
    uint64_t cpuid_features;  // what CPUID claims
    uint64_t os_features;     // after XGETBV masking: what is really usable
    uint64_t xcr0;            // raw XCR0 (0 when not x86 or no OSXSAVE)
    char source[32];          // "libcpuid", "cpuid.h", "auxv", "none"
};

// Probe once (thread-safe, cached). Never fails: unknown fields say "unknown".
const struct cb_cpu_info *cb_cpu_info(void);

// Usable features after the CHIPBENCH_ISA cap (see cb_cpu_cap_from_name).
// This is what dispatch uses.
uint64_t cb_cpu_features(void);

// Mask CPUID-reported bits by what XCR0 says the OS saves. Pure function so
// tests can inject feature words and XCR0 values.
uint64_t cb_cpu_mask_by_xcr0(uint64_t cpuid_bits, uint64_t xcr0, int osxsave);

// Map a cap name ("ref", "sse2", "avx2", "avx512", "avx512_bf16", "amx", "neon",
// "native") to the largest feature set it allows. Returns
// CB_ERR_INVALID_ARG for an unknown name.
enum cb_status cb_cpu_cap_from_name(const char *name, uint64_t *cap);

// Status of the CHIPBENCH_ISA environment cap, read once with the first
// cb_cpu_features() call. CB_OK when unset, empty or valid; for an unknown
// name CB_ERR_INVALID_ARG with a message naming the value (cb_cpu_features
// then applies no cap), so main can report it. Thread-safe.
enum cb_status cb_cpu_env_cap_status(void);

// Space-separated names of the bits in `f` ("avx avx2 fma avx512f ...").
void cb_cpu_features_str(uint64_t f, char *buf, size_t len);
// Name of one bit ("avx2"), or "?" if not a known bit.
const char *cb_isa_bit_name(uint64_t bit);

// Replaces `codename` (libcpuid's guess) for the AMD families and models
// libcpuid misnames ("Zen 4 (family 0x19 model 0x11)"); leaves it alone for
// the ones it knows. Pure, for tests.
void cb_cpu_amd_codename(int family, int model, char *codename, size_t len);

// Stable chip-class id for CSV rows: "cpu:x86_64:AuthenticAMD:f26m2s1".
void cb_cpu_chip_class(char *buf, size_t len);

#endif
