// cl_params.c: "KEY=int,..." parameter lists of the OpenCL kernels
// (cl_params.h).
#include "cl_params.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum cb_status cb_cl_params_parse(const char *what, const char *text, const char *list,
                                  const char *const *keys, int *const *vals, int n)
{
    const char *q = list;
    while (*q) {
        // KEY (1-7 capitals) '=' a decimal in [0, CB_CL_PARAM_MAX]: every
        // kernel parameter is a small tile size, and the bound keeps the
        // products the checks form (TM*TK, threads per group) inside int.
        char key[8];
        size_t kl = strspn(q, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
        char *end = NULL;
        long val = -1;
        if (kl >= 1 && kl <= 7 && q[kl] == '=' && q[kl + 1] >= '0' && q[kl + 1] <= '9') {
            errno = 0;
            val = strtol(q + kl + 1, &end, 10);
            if (errno)
                val = -1;
        }
        if (val < 0)
            return cb_set_error(CB_ERR_PARSE, "%s'%s': expected KEY=int at '%s'", what, text,
                                q);
        if (val > CB_CL_PARAM_MAX)
            return cb_set_error(CB_ERR_PARSE, "%s'%s': %.*s=%ld is above %d", what, text,
                                (int)kl, q, val, CB_CL_PARAM_MAX);
        memcpy(key, q, kl);
        key[kl] = 0;
        int used = (int)(end - q);
        int i = 0;
        while (i < n && strcmp(key, keys[i]))
            i++;
        if (i == n) {
            char names[256];
            size_t len = 0;
            names[0] = 0;
            for (int j = 0; j < n && len < sizeof names; j++)
                len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", j ? ", " : "",
                                        keys[j]);
            return cb_set_error(CB_ERR_PARSE, "%s'%s': unknown key %s (%s)", what, text, key,
                                names);
        }
        *vals[i] = (int)val;
        q += used;
        if (*q == ',')
            q++;
        else if (*q)
            return cb_set_error(CB_ERR_PARSE, "%s'%s': expected ',' at '%s'", what, text, q);
    }
    return CB_OK;
}

void cb_cl_params_str(const char *const *keys, const int *const *vals, int n, char *buf,
                      size_t len)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s=%d", i ? "," : "", keys[i],
                                 *vals[i]);
}

enum cb_status cb_cl_error_wrap(enum cb_status code, const char *fmt, ...)
{
    char why[512];  // cb_error_text() is the buffer cb_set_error writes
    snprintf(why, sizeof why, "%s", cb_error_text());
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    return cb_set_error(code, "%s: %s", prefix, why);
}

enum cb_status cb_cl_attn_check(const struct cb_attn_args *a, int max_d, int need_lse,
                                const char *what)
{
    if (a->head_dim < 1 || a->head_dim > max_d)
        return cb_set_error(CB_ERR_UNSUPPORTED, "%s takes head_dim 1..%d, not %lld", what, max_d,
                            (long long)a->head_dim);
    if (a->batch < 1 || a->heads < 1 || a->kv_heads < 1 || a->heads % a->kv_heads ||
        a->seq_q < 1 || a->seq_kv < 1)
        return cb_set_error(CB_ERR_INVALID_ARG, "attention shape: B, H, Hkv, Lq, Lk >= 1 and "
                                                "H %% Hkv == 0");
    if (need_lse && !a->lse)
        return cb_set_error(CB_ERR_INVALID_ARG, "attention backward needs the forward's lse");
    // Element offsets inside the kernels are size_t, but group and row
    // indices are int: keep every count (and the largest tensor) below 2^31.
    const double qn = (double)a->batch * (double)a->heads * (double)a->seq_q *
                      (double)a->head_dim;
    const double kn = (double)a->batch * (double)a->kv_heads * (double)a->seq_kv *
                      (double)a->head_dim;
    if (qn > INT32_MAX || kn > INT32_MAX)
        return cb_set_error(CB_ERR_UNSUPPORTED, "%s takes tensors below 2^31 elements", what);
    return CB_OK;
}

struct cb_attn_args cb_cl_attn_shape(const struct cb_attn_args *a)
{
    struct cb_attn_args s = *a;
    s.q = s.k = s.v = NULL;
    s.o = NULL;
    s.lse = NULL;
    return s;
}
