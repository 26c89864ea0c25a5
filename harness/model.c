// model.c: model presets, the `key = value` model file, parameter counts.
//
// Preset numbers are the public configs: GPT-2 (openai-community/gpt2 and
// gpt2-xl config.json: n_embd, n_layer, n_head, n_positions 1024, vocab
// 50257, MLP 4x, tied, LayerNorm, biases, learned positions) and Llama
// (meta-llama/Llama-3.2-1B and Meta-Llama-3-8B config.json: hidden_size,
// intermediate_size, num_attention_heads, num_key_value_heads, vocab 128256,
// tie_word_embeddings, RMSNorm, no biases, RoPE). Parameter totals
// 124,439,808 / 1,557,611,200 / 1,235,814,400 / 8,030,261,248 are checked
// by tests/test_cost.c.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chipbench/cb_model.h"
#include "chipbench/cb_util.h"

#define GPT2(nm, L, d, h, c)                                                          \
    {.name = nm, .n_layer = L, .d_model = d, .n_head = h, .n_kv_head = h,            \
     .head_dim = (d) / (h), .d_ff = 4 * (d), .vocab = 50257, .ctx = c,               \
     .mlp = CB_MLP_GELU, .norm = CB_NORM_LAYERNORM, .pos = CB_POS_LEARNED, .tied = 1, \
     .bias = 1}

static const struct cb_model presets[] = {
    GPT2("gpt2-124m", 12, 768, 12, 1024),
    GPT2("gpt2-1.5b", 48, 1600, 25, 1024),
    {.name = "llama3.2-1b", .n_layer = 16, .d_model = 2048, .n_head = 32, .n_kv_head = 8,
     .head_dim = 64, .d_ff = 8192, .vocab = 128256, .ctx = 131072, .mlp = CB_MLP_SWIGLU,
     .norm = CB_NORM_RMSNORM, .pos = CB_POS_ROPE, .tied = 1, .bias = 0},
    {.name = "llama3-8b", .n_layer = 32, .d_model = 4096, .n_head = 32, .n_kv_head = 8,
     .head_dim = 128, .d_ff = 14336, .vocab = 128256, .ctx = 8192, .mlp = CB_MLP_SWIGLU,
     .norm = CB_NORM_RMSNORM, .pos = CB_POS_ROPE, .tied = 0, .bias = 0},
    {.name = ""},
};

const struct cb_model *cb_model_presets(void) { return presets; }

enum cb_status cb_model_validate(const struct cb_model *m)
{
    if (m->n_kv_head < 1 || m->n_head % m->n_kv_head)
        return cb_set_error(CB_ERR_INVALID_ARG, "%s: n_kv_head %lld does not divide n_head %lld",
                            m->name, (long long)m->n_kv_head, (long long)m->n_head);
    // Inner attention width differs from d_model only when a file says so
    // with head_dim; then the projections are d x H*hd and H*hd x d.
    if (m->head_dim < 1)
        return cb_set_error(CB_ERR_INVALID_ARG, "%s: head_dim must be >= 1", m->name);
    // Each dimension is at most 2^24, but their products are not bounded by
    // that: d_model x n_head x head_dim x n_layer can pass 2^63 (found by
    // tests/fuzz/fuzz_model). Bound cb_model_params' total in double, taking
    // the largest choice of every option (SwiGLU, LayerNorm, biases, learned
    // positions, untied head): every partial sum and product it forms is no
    // larger, so below 2^53 all of them are exact and far inside int64.
    const double d = (double)m->d_model, f = (double)m->d_ff, L = (double)m->n_layer,
                 q = (double)m->n_head * (double)m->head_dim,
                 kv = (double)m->n_kv_head * (double)m->head_dim,
                 V = (double)m->vocab, ctx = (double)m->ctx;
    const double layer = d * (q + 2 * kv) + q * d + d * 2 * f + f * d + 4 * d +
                         (q + 2 * kv) + d + 2 * f + d;
    const double bound = L * layer + V * d + ctx * d + 2 * d + V * d;
    if (!(bound <= 0x1p53))
        return cb_set_error(CB_ERR_INVALID_ARG, "%s: about %.3g parameters: more than 2^53",
                            m->name, bound);
    return CB_OK;
}

void cb_model_params(const struct cb_model *m, struct cb_param_count *out)
{
    int64_t d = m->d_model, f = m->d_ff, hd = m->head_dim;
    int64_t q = m->n_head * hd, kv = m->n_kv_head * hd, b = m->bias ? 1 : 0;
    int64_t norm = m->norm == CB_NORM_LAYERNORM ? 2 * d : d;
    int64_t ff_in = m->mlp == CB_MLP_SWIGLU ? 2 * f : f;   // gate and up, or up
    int64_t layer_mm = d * (q + 2 * kv) + q * d + d * ff_in + f * d;
    int64_t layer_other = 2 * norm + b * ((q + 2 * kv) + d + ff_in + d);
    int64_t emb = m->vocab * d + (m->pos == CB_POS_LEARNED ? m->ctx * d : 0);
    out->lm_head = m->vocab * d;
    out->embedding = emb;
    out->matmul = m->n_layer * layer_mm + out->lm_head;
    out->total = emb + m->n_layer * (layer_mm + layer_other) + norm +
                 (m->tied ? 0 : out->lm_head);
    out->non_embedding = out->total - emb;
}

// --- the model file ------------------------------------------------------

static const char *const keys[] = {"name", "n_layer", "d_model", "n_head", "n_kv_head",
                                   "head_dim", "d_ff", "vocab", "ctx", "mlp", "tied",
                                   "norm", "bias", "pos", NULL};
// Keys without a default. n_kv_head defaults to n_head, head_dim to
// d_model / n_head; norm, bias and pos follow the MLP kind (gelu: GPT-2 style
// layernorm, biases, learned positions; swiglu: Llama style rmsnorm, no
// biases, rope).
static const char *const required[] = {"n_layer", "d_model", "n_head", "d_ff", "vocab",
                                       "ctx", "mlp", "tied", NULL};

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = 0;
    return s;
}

static enum cb_status pick(const char *origin, int line, const char *key, const char *v,
                           const char *a, const char *b, int *out)
{
    if (!strcmp(v, a) || (!strcmp(a, "0") && !strcmp(v, "false"))) {
        *out = 0;
        return CB_OK;
    }
    if (!strcmp(v, b) || (!strcmp(b, "1") && !strcmp(v, "true"))) {
        *out = 1;
        return CB_OK;
    }
    return cb_set_error(CB_ERR_PARSE, "%s:%d: %s is %s or %s, got '%s'", origin, line, key, a,
                        b, v);
}

static enum cb_status set_key(struct cb_model *m, const char *origin, int line, int k,
                              const char *v)
{
    int64_t *ints[] = {NULL, &m->n_layer, &m->d_model, &m->n_head, &m->n_kv_head,
                       &m->head_dim, &m->d_ff, &m->vocab, &m->ctx};
    int x;
    enum cb_status s = CB_OK;
    if (k == 0) {
        if (!*v || strlen(v) >= sizeof m->name)
            return cb_set_error(CB_ERR_PARSE, "%s:%d: name must be 1-%zu characters", origin,
                                line, sizeof m->name - 1);
        cb_strlcpy(m->name, v, sizeof m->name);
    } else if (k <= 8) {
        // 2^24 bounds every dimension so that products like B*T*vocab and
        // params * 16 bytes stay far inside int64 and exact in double.
        if (cb_parse_i64(v, 1, 1 << 24, ints[k]) != CB_OK)
            return cb_set_error(CB_ERR_PARSE, "%s:%d: %s: '%s' is not a whole number in "
                                "[1, 16777216]", origin, line, keys[k], v);
    } else if (k == 9) {
        s = pick(origin, line, "mlp", v, "gelu", "swiglu", &x);
        m->mlp = x ? CB_MLP_SWIGLU : CB_MLP_GELU;
    } else if (k == 10) {
        s = pick(origin, line, "tied", v, "0", "1", &m->tied);
    } else if (k == 11) {
        s = pick(origin, line, "norm", v, "layernorm", "rmsnorm", &x);
        m->norm = x ? CB_NORM_RMSNORM : CB_NORM_LAYERNORM;
    } else if (k == 12) {
        s = pick(origin, line, "bias", v, "0", "1", &m->bias);
    } else {
        s = pick(origin, line, "pos", v, "learned", "rope", &x);
        m->pos = x ? CB_POS_ROPE : CB_POS_LEARNED;
    }
    return s;
}

enum cb_status cb_model_parse(const char *text, const char *origin, struct cb_model *out)
{
    struct cb_model m = {.name = ""};
    int seen[16] = {0};
    int line = 0;
    const char *p = text;
    cb_strlcpy(m.name, origin, sizeof m.name);
    while (*p) {
        char buf[512];
        size_t n = strcspn(p, "\n");
        line++;
        if (n >= sizeof buf)
            return cb_set_error(CB_ERR_PARSE, "%s:%d: line too long", origin, line);
        memcpy(buf, p, n);
        buf[n] = 0;
        p += n + (p[n] == '\n');
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = 0;
        char *s = trim(buf);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq)
            return cb_set_error(CB_ERR_PARSE, "%s:%d: expected 'key = value', got '%s'", origin,
                                line, s);
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        int k = -1;
        for (int i = 0; keys[i]; i++)
            if (!strcmp(key, keys[i]))
                k = i;
        if (k < 0)
            return cb_set_error(CB_ERR_PARSE, "%s:%d: unknown key '%s' (keys: name n_layer "
                                "d_model n_head n_kv_head head_dim d_ff vocab ctx mlp tied "
                                "norm bias pos)", origin, line, key);
        if (seen[k])
            return cb_set_error(CB_ERR_PARSE, "%s:%d: %s given twice", origin, line, key);
        seen[k] = line;
        enum cb_status st = set_key(&m, origin, line, k, val);
        if (st != CB_OK)
            return st;
    }
    for (int i = 0; required[i]; i++) {
        int k = 0;
        while (strcmp(keys[k], required[i]))
            k++;
        if (!seen[k])
            return cb_set_error(CB_ERR_PARSE, "%s: missing %s (required: n_layer d_model "
                                "n_head d_ff vocab ctx mlp tied)", origin, required[i]);
    }
    if (!seen[4])
        m.n_kv_head = m.n_head;
    if (!seen[5]) {
        if (m.d_model % m.n_head)
            return cb_set_error(CB_ERR_PARSE, "%s: n_head %lld does not divide d_model %lld "
                                "(give head_dim to set the head width)", origin,
                                (long long)m.n_head, (long long)m.d_model);
        m.head_dim = m.d_model / m.n_head;
    }
    int llama = m.mlp == CB_MLP_SWIGLU;
    if (!seen[11])
        m.norm = llama ? CB_NORM_RMSNORM : CB_NORM_LAYERNORM;
    if (!seen[12])
        m.bias = !llama;
    if (!seen[13])
        m.pos = llama ? CB_POS_ROPE : CB_POS_LEARNED;
    enum cb_status st = cb_model_validate(&m);
    if (st != CB_OK)
        return cb_set_error(CB_ERR_PARSE, "%s", cb_error_text());
    *out = m;
    return CB_OK;
}

enum cb_status cb_model_load(const char *name_or_path, struct cb_model *out)
{
    for (const struct cb_model *m = presets; m->name[0]; m++)
        if (!strcmp(m->name, name_or_path)) {
            *out = *m;
            return CB_OK;
        }
    FILE *f = fopen(name_or_path, "rb");
    if (!f)
        return cb_set_error(CB_ERR_INVALID_ARG, "unknown model '%s': not a preset (gpt2-124m, "
                            "gpt2-1.5b, llama3.2-1b, llama3-8b) and not a readable file (%s)",
                            name_or_path, strerror(errno));
    char *text = malloc(65537);
    enum cb_status s = CB_OK;
    if (!text) {
        s = cb_set_error(CB_ERR_NO_MEMORY, "model file buffer");
        goto out;
    }
    size_t n = fread(text, 1, 65536, f);
    if (ferror(f) || n == 65536) {
        s = cb_set_error(CB_ERR_PARSE, "%s: %s", name_or_path,
                         n == 65536 ? "larger than 64 KiB: not a model file" : "read error");
        goto out;
    }
    text[n] = 0;
    if (strlen(text) != n) {
        s = cb_set_error(CB_ERR_PARSE, "%s: contains a NUL byte: not a model file",
                         name_or_path);
        goto out;
    }
    s = cb_model_parse(text, name_or_path, out);
out:
    free(text);
    fclose(f);
    return s;
}
