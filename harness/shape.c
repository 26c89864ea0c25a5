// shape.c: parsing and printing the --shape syntax (see cb_shape.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_shape.h"
#include "chipbench/cb_util.h"

#define MAX_DIM (INT64_C(1) << 30)

static enum cb_status kv_split(char *item, char **key, char **val, const char *text)
{
    char *eq = strchr(item, '=');
    if (!eq || eq == item)
        return cb_set_error(CB_ERR_PARSE, "shape '%s': expected key=value, got '%s'", text, item);
    *eq = 0;
    *key = item;
    *val = eq + 1;
    return CB_OK;
}

static enum cb_status parse_dim(const char *text, const char *what, const char *v, int64_t lo,
                                int64_t *out)
{
    if (cb_parse_i64(v, lo, MAX_DIM, out) != CB_OK)
        return cb_set_error(CB_ERR_PARSE, "shape '%s': %s must be an integer in [%lld, %lld], "
                            "got '%s'", text, what, (long long)lo, (long long)MAX_DIM, v);
    return CB_OK;
}

// A byte count with an optional binary suffix: 4096, 4K, 4M, 1G (KiB, MiB,
// GiB), at most 1 GiB.
static enum cb_status parse_bytes(const char *text, const char *v, int64_t *out)
{
    char num[32];
    size_t n = strlen(v);
    int64_t mul = 1;
    if (n > 0 && n < sizeof num && strchr("KMG", v[n - 1])) {
        mul = v[n - 1] == 'K' ? 1 << 10 : v[n - 1] == 'M' ? 1 << 20 : 1 << 30;
        n--;
    }
    int64_t x = 0;
    if (n == 0 || n >= sizeof num)
        goto bad;
    memcpy(num, v, n);
    num[n] = 0;
    if (cb_parse_i64(num, 1, MAX_DIM / mul, &x) != CB_OK)
        goto bad;
    *out = x * mul;
    return CB_OK;
bad:
    return cb_set_error(CB_ERR_PARSE, "shape '%s': bytes must be an integer in [1, 2^30] with "
                        "an optional K, M or G suffix, got '%s'", text, v);
}

static enum cb_status parse_gemm(const char *text, char *buf, struct cb_call *out)
{
    enum cb_status s = CB_OK;
    struct cb_gemm_args *g = &out->u.gemm;
    char *save = NULL;
    char *head = strtok_r(buf, ",", &save);
    char *trans = strchr(head, ':');
    out->op = CB_OP_GEMM;
    g->alpha = 1.0f;
    if (trans) {
        *trans++ = 0;
        if (strlen(trans) != 2 || !strchr("nt", trans[0]) || !strchr("nt", trans[1]) ||
            !trans[0] || !trans[1])
            return cb_set_error(CB_ERR_PARSE, "shape '%s': transpose must be nn, nt, tn or tt",
                                text);
        g->trans_a = trans[0] == 't';
        g->trans_b = trans[1] == 't';
    }
    char *dims[3];
    int nd = 0;
    char *dsave = NULL;
    // strtok_r folds empty fields away ("8x8x8x", "8xx8x8"): refuse them first.
    const size_t hl = strlen(head);
    const int empty_field = !hl || head[0] == 'x' || head[hl - 1] == 'x' || strstr(head, "xx");
    for (char *d = strtok_r(head, "x", &dsave); d; d = strtok_r(NULL, "x", &dsave))
        if (nd < 3)
            dims[nd++] = d;
        else
            nd = 4;
    if (nd != 3 || empty_field)
        return cb_set_error(CB_ERR_PARSE, "shape '%s': GEMM shape is MxNxK (e.g. 1024x1024x1024)",
                            text);
    CB_TRY(parse_dim(text, "M", dims[0], 1, &g->m));
    CB_TRY(parse_dim(text, "N", dims[1], 1, &g->n));
    CB_TRY(parse_dim(text, "K", dims[2], 1, &g->k));
    for (char *it = strtok_r(NULL, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        char *k = NULL, *v = NULL;
        CB_TRY(kv_split(it, &k, &v, text));
        double x;
        if (!strcmp(k, "lda"))
            CB_TRY(parse_dim(text, "lda", v, 1, &g->lda));
        else if (!strcmp(k, "ldb"))
            CB_TRY(parse_dim(text, "ldb", v, 1, &g->ldb));
        else if (!strcmp(k, "ldc"))
            CB_TRY(parse_dim(text, "ldc", v, 1, &g->ldc));
        else if (!strcmp(k, "alpha") || !strcmp(k, "beta")) {
            if (cb_parse_f64(v, -1e30, 1e30, &x) != CB_OK)
                return cb_set_error(CB_ERR_PARSE, "shape '%s': %s must be a number, got '%s'",
                                    text, k, v);
            *(k[0] == 'a' ? &g->alpha : &g->beta) = (float)x;
        } else
            return cb_set_error(CB_ERR_PARSE, "shape '%s': unknown GEMM key '%s' "
                                "(lda, ldb, ldc, alpha, beta)", text, k);
    }
    int64_t acols = g->trans_a ? g->m : g->k, bcols = g->trans_b ? g->k : g->n;
    if (!g->lda)
        g->lda = acols;
    if (!g->ldb)
        g->ldb = bcols;
    if (!g->ldc)
        g->ldc = g->n;
    if (g->lda < acols || g->ldb < bcols || g->ldc < g->n)
        return cb_set_error(CB_ERR_PARSE, "shape '%s': leading dimension smaller than the row "
                            "width (lda >= %lld, ldb >= %lld, ldc >= %lld)", text,
                            (long long)acols, (long long)bcols, (long long)g->n);
out:
    return s;
}

static enum cb_status parse_attn(const char *text, char *buf, struct cb_call *out)
{
    enum cb_status s = CB_OK;
    struct cb_attn_args *a = &out->u.attn;
    int64_t sq = 0, skv = 0, sboth = 0, causal = 0;
    char *save = NULL;
    out->op = CB_OP_ATTN;
    a->batch = 1;
    for (char *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        char *k = NULL, *v = NULL;
        CB_TRY(kv_split(it, &k, &v, text));
        if (!strcmp(k, "b"))
            CB_TRY(parse_dim(text, "b", v, 1, &a->batch));
        else if (!strcmp(k, "h"))
            CB_TRY(parse_dim(text, "h", v, 1, &a->heads));
        else if (!strcmp(k, "kvh"))
            CB_TRY(parse_dim(text, "kvh", v, 1, &a->kv_heads));
        else if (!strcmp(k, "s"))
            CB_TRY(parse_dim(text, "s", v, 1, &sboth));
        else if (!strcmp(k, "sq"))
            CB_TRY(parse_dim(text, "sq", v, 1, &sq));
        else if (!strcmp(k, "skv"))
            CB_TRY(parse_dim(text, "skv", v, 1, &skv));
        else if (!strcmp(k, "d"))
            CB_TRY(parse_dim(text, "d", v, 1, &a->head_dim));
        else if (!strcmp(k, "causal")) {
            if (cb_parse_i64(v, 0, 1, &causal) != CB_OK)
                return cb_set_error(CB_ERR_PARSE, "shape '%s': causal is 0 or 1", text);
        } else if (!strcmp(k, "scale")) {
            double x;
            if (cb_parse_f64(v, 0, 1e30, &x) != CB_OK)
                return cb_set_error(CB_ERR_PARSE, "shape '%s': scale must be a number >= 0",
                                    text);
            a->scale = (float)x;
        } else
            return cb_set_error(CB_ERR_PARSE, "shape '%s': unknown attention key '%s' "
                                "(b, h, kvh, s, sq, skv, d, causal, scale)", text, k);
    }
    a->seq_q = sq ? sq : sboth;
    a->seq_kv = skv ? skv : sboth;
    a->causal = (int)causal;
    if (!a->kv_heads)
        a->kv_heads = a->heads;
    if (!a->heads || !a->seq_q || !a->seq_kv || !a->head_dim)
        return cb_set_error(CB_ERR_PARSE, "shape '%s': attention needs h, d and s (or sq and "
                            "skv), e.g. b=1,h=8,s=1024,d=64", text);
    if (a->heads % a->kv_heads)
        return cb_set_error(CB_ERR_PARSE, "shape '%s': h must be a multiple of kvh", text);
out:
    return s;
}

// "stream:n=N": the STREAM triad over N floats.
static enum cb_status parse_stream(const char *text, char *buf, struct cb_call *out)
{
    enum cb_status s = CB_OK;
    char *save = NULL;
    out->op = CB_OP_STREAM;
    out->u.stream.scalar = 3.0f;
    for (char *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        char *k = NULL, *v = NULL;
        CB_TRY(kv_split(it, &k, &v, text));
        if (!strcmp(k, "n"))
            CB_TRY(parse_dim(text, "n", v, 1, &out->u.stream.n));
        else
            return cb_set_error(CB_ERR_PARSE, "shape '%s': unknown stream key '%s' (n)", text, k);
    }
    if (!out->u.stream.n)
        return cb_set_error(CB_ERR_PARSE, "shape '%s': stream needs n, e.g. stream:n=67108864",
                            text);
out:
    return s;
}

// "allreduce:bytes=N": an all-reduce of N bytes per rank (a multiple of 4 so
// that f32 and bf16 rows of one shape carry the same payload).
static enum cb_status parse_allreduce(const char *text, char *buf, struct cb_call *out)
{
    enum cb_status s = CB_OK;
    char *save = NULL;
    out->op = CB_OP_ALLREDUCE;
    for (char *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        char *k = NULL, *v = NULL;
        CB_TRY(kv_split(it, &k, &v, text));
        if (!strcmp(k, "bytes"))
            CB_TRY(parse_bytes(text, v, &out->u.allreduce.bytes));
        else
            return cb_set_error(CB_ERR_PARSE, "shape '%s': unknown allreduce key '%s' (bytes)",
                                text, k);
    }
    if (!out->u.allreduce.bytes)
        return cb_set_error(CB_ERR_PARSE, "shape '%s': allreduce needs bytes, e.g. "
                            "allreduce:bytes=4M", text);
    if (out->u.allreduce.bytes % 4)
        return cb_set_error(CB_ERR_PARSE, "shape '%s': allreduce bytes must be a multiple of 4",
                            text);
out:
    return s;
}

enum cb_status cb_shape_parse(const char *text, struct cb_call *out)
{
    memset(out, 0, sizeof *out);
    if (!text || !*text)
        return cb_set_error(CB_ERR_PARSE, "empty shape");
    size_t n = strlen(text);
    if (n > 256)
        return cb_set_error(CB_ERR_PARSE, "shape text longer than 256 characters");
    if (text[0] == ',' || text[n - 1] == ',' || strstr(text, ",,"))
        return cb_set_error(CB_ERR_PARSE, "shape '%s': empty item between commas", text);
    char buf[260];
    memcpy(buf, text, n + 1);
    if (!strncmp(text, "stream:", 7))
        return parse_stream(text, buf + 7, out);
    if (!strncmp(text, "allreduce:", 10))
        return parse_allreduce(text, buf + 10, out);
    // An attention shape is a key=value list from its first item on.
    const char *comma = strchr(text, ',');
    const char *eq = strchr(text, '=');
    if (eq && (!comma || eq < comma))
        return parse_attn(text, buf, out);
    return parse_gemm(text, buf, out);
}

void cb_shape_format(const struct cb_call *c, char *buf, size_t len)
{
    if (c->op == CB_OP_ALLREDUCE) {
        snprintf(buf, len, "allreduce:bytes=%lld", (long long)c->u.allreduce.bytes);
        return;
    }
    if (c->op == CB_OP_STREAM) {
        snprintf(buf, len, "stream:n=%lld", (long long)c->u.stream.n);
        return;
    }
    if (c->op == CB_OP_GEMM) {
        const struct cb_gemm_args *g = &c->u.gemm;
        int n = snprintf(buf, len, "%lldx%lldx%lld:%c%c", (long long)g->m, (long long)g->n,
                         (long long)g->k, g->trans_a ? 't' : 'n', g->trans_b ? 't' : 'n');
        int64_t acols = g->trans_a ? g->m : g->k, bcols = g->trans_b ? g->k : g->n;
        if (g->lda != acols && n > 0 && (size_t)n < len)
            n += snprintf(buf + n, len - (size_t)n, ",lda=%lld", (long long)g->lda);
        if (g->ldb != bcols && n > 0 && (size_t)n < len)
            n += snprintf(buf + n, len - (size_t)n, ",ldb=%lld", (long long)g->ldb);
        if (g->ldc != g->n && n > 0 && (size_t)n < len)
            n += snprintf(buf + n, len - (size_t)n, ",ldc=%lld", (long long)g->ldc);
        if (g->alpha != 1.0f && n > 0 && (size_t)n < len)
            n += snprintf(buf + n, len - (size_t)n, ",alpha=%.9g", g->alpha);
        if (g->beta != 0.0f && n > 0 && (size_t)n < len)
            snprintf(buf + n, len - (size_t)n, ",beta=%.9g", g->beta);
        return;
    }
    const struct cb_attn_args *a = &c->u.attn;
    int n;
    if (a->seq_q == a->seq_kv)
        n = snprintf(buf, len, "b=%lld,h=%lld,kvh=%lld,s=%lld,d=%lld,causal=%d",
                     (long long)a->batch, (long long)a->heads, (long long)a->kv_heads,
                     (long long)a->seq_q, (long long)a->head_dim, a->causal);
    else
        n = snprintf(buf, len, "b=%lld,h=%lld,kvh=%lld,sq=%lld,skv=%lld,d=%lld,causal=%d",
                     (long long)a->batch, (long long)a->heads, (long long)a->kv_heads,
                     (long long)a->seq_q, (long long)a->seq_kv, (long long)a->head_dim,
                     a->causal);
    if (a->scale != 0.0f && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, ",scale=%.9g", a->scale);
}
