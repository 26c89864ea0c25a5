// cb_util.h: small shared helpers: monotonic clock, aligned allocation,
// deterministic random numbers, string copies. Nothing here prints or exits.
#ifndef CHIPBENCH_CB_UTIL_H
#define CHIPBENCH_CB_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include "cb_status.h"

// Nanoseconds from CLOCK_MONOTONIC_RAW (immune to NTP slewing).
int64_t cb_now_ns(void);
// Smallest observable clock step in ns, measured once (STREAM's checktick).
int64_t cb_timer_resolution_ns(void);

// 64-byte aligned allocation; NULL on failure (or bytes == 0). Free with
// cb_free. Refuses sizes whose product overflows (see cb_alloc_array).
void *cb_alloc(size_t bytes);
void *cb_alloc_array(size_t count, size_t elem_size);
void cb_free(void *p);

// xoshiro256** seeded through splitmix64: fast, reproducible per seed.
struct cb_rng { uint64_t s[4]; };
void cb_rng_seed(struct cb_rng *r, uint64_t seed);
uint64_t cb_rng_next(struct cb_rng *r);
// Uniform in [lo, hi).
double cb_rng_uniform(struct cb_rng *r, double lo, double hi);
// Fill n floats uniformly in [lo, hi); never all zeros for n >= 1.
void cb_rng_fill_f32(struct cb_rng *r, float *x, size_t n, float lo, float hi);

// bf16 <-> f32. f32 -> bf16 rounds to nearest, ties to even (what
// vcvtne2ps2bf16 does); NaN stays NaN (quiet). bf16 -> f32 is exact.
static inline uint16_t cb_f32_to_bf16(float f)
{
    union { float f; uint32_t u; } x = {f};
    if ((x.u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x.u >> 16) | 0x40);
    return (uint16_t)((x.u + 0x7fffu + ((x.u >> 16) & 1u)) >> 16);
}
static inline float cb_bf16_to_f32(uint16_t h)
{
    union { uint32_t u; float f; } x = {(uint32_t)h << 16};
    return x.f;
}

// f32 -> TensorFloat-32 as a matrix unit sees it: the same exponent, 10 of
// the 23 mantissa bits, rounded to nearest with ties away from zero (PTX's
// cvt.rna.tf32.f32); the result is an f32 whose low 13 bits are 0. Inf and
// NaN stay as they are; a value within half an ulp of FLT_MAX rounds to inf.
static inline float cb_f32_to_tf32(float f)
{
    union { float f; uint32_t u; } x = {f};
    if ((x.u & 0x7f800000u) != 0x7f800000u)
        x.u = (x.u + 0x1000u) & 0xffffe000u;
    return x.f;
}

// IEEE binary16 (f16) <-> f32. f32 -> f16 rounds to nearest, ties to even,
// subnormals included (what vcvtps2ph and OpenCL's vstore_half_rte do);
// values from 65520 up become infinity; NaN stays NaN (quiet). f16 -> f32 is
// exact. Integer arithmetic only, so the result does not depend on the FPU's
// rounding mode.
static inline uint16_t cb_f32_to_f16(float f)
{
    union { float f; uint32_t u; } x = {f};
    const uint32_t sign = (x.u >> 16) & 0x8000u, ax = x.u & 0x7fffffffu;
    if (ax > 0x7f800000u)
        return (uint16_t)(sign | 0x7e00u);
    if (ax >= 0x477ff000u)  // 65520 = 65504 + half an ulp: ties to even go up
        return (uint16_t)(sign | 0x7c00u);
    if (ax >= 0x38800000u) {  // normal in f16: rebias 127 -> 15, keep 10 bits
        const uint32_t r = ax - 0x38000000u;
        return (uint16_t)(sign | ((r + 0x0fffu + ((r >> 13) & 1u)) >> 13));
    }
    if (ax <= 0x33000000u)  // at most 2^-25, half the smallest subnormal: 0
        return (uint16_t)sign;
    // Subnormal in f16: value = mant * 2^(e - 150) = m * 2^-24.
    const uint32_t e = ax >> 23, mant = (ax & 0x7fffffu) | 0x800000u, shift = 126 - e;
    uint32_t m = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (m & 1u)))
        m++;
    return (uint16_t)(sign | m);
}
static inline float cb_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    union { uint32_t u; float f; } x;
    if (e == 0x1f)
        x.u = sign | 0x7f800000u | (m << 13);
    else if (e)
        x.u = sign | ((e + 112u) << 23) | (m << 13);
    else {  // zero or subnormal: m * 2^-24, exact in f32
        x.f = (float)m * 0x1p-24f;
        x.u |= sign;
    }
    return x.f;
}

// Hint a read of the line `bytes` past p into L1. The address may lie past
// the end of p's array (a prefetch never faults), so it is formed as an
// integer: pointer arithmetic past one-past-the-end is undefined.
static inline void cb_prefetch_ahead(const void *p, size_t bytes)
{
    __builtin_prefetch((const void *)((uintptr_t)p + bytes), 0, 3);
}

// Read a whole file (regular, or a pipe) into a malloc'd buffer, NUL
// terminated: *text (free() it) holds *len bytes. CB_ERR_IO naming the path
// when it cannot be opened or read, is a directory, or is over max_bytes;
// CB_ERR_NO_MEMORY. The one reader of input files (CSVs, prices, results).
enum cb_status cb_read_file(const char *path, size_t max_bytes, char **text, size_t *len);

// A seed that differs between runs (time, pid, address entropy).
uint64_t cb_fresh_seed(void);

// strncpy that always terminates and never reads past src's terminator.
void cb_strlcpy(char *dst, const char *src, size_t cap);

// Strict number parsing for CLI/CSV text: the whole string must be a number
// in range. CB_ERR_PARSE otherwise (empty, trailing junk, overflow).
enum cb_status cb_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
enum cb_status cb_parse_f64(const char *s, double lo, double hi, double *out);

#endif
