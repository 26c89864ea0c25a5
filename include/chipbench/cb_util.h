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

// A seed that differs between runs (time, pid, address entropy).
uint64_t cb_fresh_seed(void);

// strncpy that always terminates and never reads past src's terminator.
void cb_strlcpy(char *dst, const char *src, size_t cap);

// Strict number parsing for CLI/CSV text: the whole string must be a number
// in range. CB_ERR_PARSE otherwise (empty, trailing junk, overflow).
enum cb_status cb_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
enum cb_status cb_parse_f64(const char *s, double lo, double hi, double *out);

#endif
