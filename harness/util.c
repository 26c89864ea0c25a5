// util.c: clock, aligned allocation, random numbers, strict number parsing.
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chipbench/cb_util.h"

int64_t cb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cb_timer_resolution_ns(void)
{
    static int64_t res;  // benign race: every thread computes the same value
    if (res)
        return res;
    // Smallest nonzero step seen over a few readings (STREAM's checktick).
    int64_t best = INT64_MAX;
    for (int i = 0; i < 20; i++) {
        int64_t t0 = cb_now_ns(), t1;
        while ((t1 = cb_now_ns()) == t0)
            ;
        if (t1 - t0 < best)
            best = t1 - t0;
    }
    res = best > 0 ? best : 1;
    return res;
}

void *cb_alloc(size_t bytes)
{
    if (bytes == 0)
        return NULL;
    void *p = NULL;
    // Round up to the alignment: aligned_alloc requires a multiple.
    size_t sz = (bytes + 63) & ~(size_t)63;
    if (sz < bytes || posix_memalign(&p, 64, sz) != 0)
        return NULL;
    return p;
}

void *cb_alloc_array(size_t count, size_t elem_size)
{
    if (elem_size && count > SIZE_MAX / elem_size)
        return NULL;
    return cb_alloc(count * elem_size);
}

void cb_free(void *p) { free(p); }

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void cb_rng_seed(struct cb_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t cb_rng_next(struct cb_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double cb_rng_uniform(struct cb_rng *r, double lo, double hi)
{
    double u = (double)(cb_rng_next(r) >> 11) * 0x1.0p-53;
    return lo + (hi - lo) * u;
}

void cb_rng_fill_f32(struct cb_rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)cb_rng_uniform(r, lo, hi);
    // An all-zero buffer would hide a kernel that never reads its input.
    if (n && x[0] == 0.0f)
        x[0] = hi > 0 ? hi * 0.5f : lo * 0.5f;
}

uint64_t cb_fresh_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
                 ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)&ts;
    return splitmix64(&x);
}

void cb_strlcpy(char *dst, const char *src, size_t cap)
{
    if (!cap)
        return;
    size_t n = src ? strnlen(src, cap - 1) : 0;
    if (n)
        memcpy(dst, src, n);
    dst[n] = 0;
}

enum cb_status cb_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!s || !*s)
        return cb_set_error(CB_ERR_PARSE, "empty number");
    // strtoll skips leading blanks; " 5" from a quoted shell variable is a
    // mistake worth reporting, not a number.
    if (isspace((unsigned char)s[0]))
        return cb_set_error(CB_ERR_PARSE, "'%s' is not an integer", s);
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end)
        return cb_set_error(CB_ERR_PARSE, "'%s' is not an integer", s);
    if (errno == ERANGE || v < lo || v > hi)
        return cb_set_error(CB_ERR_PARSE, "%s is out of range [%lld, %lld]", s,
                            (long long)lo, (long long)hi);
    *out = v;
    return CB_OK;
}

enum cb_status cb_parse_f64(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s)
        return cb_set_error(CB_ERR_PARSE, "empty number");
    // Plain decimal notation only: strtod also takes leading blanks, hex
    // ("0x10" = 16) and words ("inf", "nan"), none of which a user means as
    // a time or a ratio.
    if (s[strspn(s, "0123456789+-.eE")])
        return cb_set_error(CB_ERR_PARSE, "'%s' is not a number", s);
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end)
        return cb_set_error(CB_ERR_PARSE, "'%s' is not a number", s);
    if (errno == ERANGE || !isfinite(v) || v < lo || v > hi)
        return cb_set_error(CB_ERR_PARSE, "%s is out of range [%g, %g]", s, lo, hi);
    *out = v;
    return CB_OK;
}

enum cb_status cb_read_file(const char *path, size_t max_bytes, char **text, size_t *len)
{
    enum cb_status s = CB_OK;
    char *b = NULL;
    size_t n = 0, cap;
    *text = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cb_set_error(CB_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        s = cb_set_error(CB_ERR_IO, "stat %s: %s", path, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        s = cb_set_error(CB_ERR_IO, "read %s: %s", path, strerror(EISDIR));
        goto out;
    }
    if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > max_bytes) {
        s = cb_set_error(CB_ERR_IO, "read %s: file is %jd bytes, over the %zu-byte limit for "
                         "this input", path, (intmax_t)st.st_size, max_bytes);
        goto out;
    }
    // Size the buffer from st_size but read to EOF anyway: pipes report 0 and
    // a file may grow while we read it.
    cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 2 : 4096;
    for (;;) {
        if (!b || cap - n < 2) {
            // Grow by doubling, but never past the limit plus one byte
            // (enough to notice that a pipe is over it) and the NUL.
            const size_t room = max_bytes + 2 - cap;  // cap never exceeds max_bytes + 2
            const size_t want = !b ? cap : cap + (cap < room ? cap : room);
            char *nb = realloc(b, want);
            if (!nb) {
                s = cb_set_error(CB_ERR_NO_MEMORY, "reading %s: out of memory", path);
                goto out;
            }
            b = nb;
            cap = want;
        }
        ssize_t k = read(fd, b + n, cap - n - 1);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            s = cb_set_error(CB_ERR_IO, "read %s: %s", path, strerror(errno));
            goto out;
        }
        if (k == 0)
            break;
        n += (size_t)k;
        if (n > max_bytes) {
            s = cb_set_error(CB_ERR_IO, "read %s: over the %zu-byte limit for this input", path,
                             max_bytes);
            goto out;
        }
    }
    b[n] = 0;
    *text = b;
    *len = n;
    b = NULL;
out:
    free(b);
    close(fd);
    return s;
}
