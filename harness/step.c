// step.c: a training step as a list of calls (see cb_step.h for the
// conventions and the memory traffic model).
#include <stdio.h>
#include <string.h>

#include "chipbench/cb_shape.h"
#include "chipbench/cb_step.h"

static struct cb_step_item *add(struct cb_step *s, const char *name, enum cb_step_phase ph,
                                int64_t count)
{
    // CB_STEP_MAX_ITEMS is sized for the longest list (swiglu + rope); the
    // assert-like guard keeps a future edit from writing past it.
    struct cb_step_item *it = &s->items[s->n < CB_STEP_MAX_ITEMS ? s->n++ : s->n - 1];
    memset(it, 0, sizeof *it);
    snprintf(it->name, sizeof it->name, "%s", name);
    it->phase = ph;
    it->count = count;
    return it;
}

static void gemm(struct cb_step *s, const char *name, enum cb_step_phase ph, int64_t count,
                 int64_t m, int64_t n, int64_t k, int ta, int tb)
{
    struct cb_step_item *it = add(s, name, ph, count);
    struct cb_gemm_args *g = &it->call.u.gemm;
    it->compute = 1;
    it->call.op = CB_OP_GEMM;
    g->m = m, g->n = n, g->k = k, g->trans_a = ta, g->trans_b = tb;
    g->lda = ta ? m : k, g->ldb = tb ? k : n, g->ldc = n;
    g->alpha = 1, g->beta = 0;
    it->flops = cb_call_flops(&it->call);
    it->bytes = cb_call_bytes(&it->call, s->dtype);
}

// The three GEMMs of a linear layer (in -> out) over M tokens; forward only
// for the forward phase, dX and dW for the backward.
static void linear(struct cb_step *s, const char *name, int bwd, int64_t count, int64_t M,
                   int64_t in, int64_t out)
{
    char buf[40];
    if (!bwd) {
        gemm(s, name, CB_PHASE_FWD, count, M, out, in, 0, 0);
        return;
    }
    snprintf(buf, sizeof buf, "%s dX", name);
    gemm(s, buf, CB_PHASE_BWD, count, M, in, out, 0, 1);
    snprintf(buf, sizeof buf, "%s dW", name);
    gemm(s, buf, CB_PHASE_BWD, count, in, out, M, 1, 0);
}

static void attn(struct cb_step *s, int bwd, int64_t count)
{
    const struct cb_model *m = &s->model;
    struct cb_step_item *it = add(s, bwd ? "attention bwd" : "attention", bwd ? CB_PHASE_BWD
                                  : CB_PHASE_FWD, count);
    struct cb_attn_args *a = &it->call.u.attn;
    it->compute = 1;
    it->call.op = bwd ? CB_OP_ATTN_BWD : CB_OP_ATTN;
    a->batch = s->batch, a->heads = m->n_head, a->kv_heads = m->n_kv_head;
    a->seq_q = a->seq_kv = s->seq, a->head_dim = m->head_dim, a->causal = 1;
    it->flops = cb_call_flops(&it->call);
    it->bytes = cb_call_bytes(&it->call, s->dtype);
}

static void mem(struct cb_step *s, const char *name, enum cb_step_phase ph, int64_t count,
                double bytes)
{
    add(s, name, ph, count)->bytes = bytes;
}

enum cb_status cb_step_build(const struct cb_model *m, int64_t batch, int64_t seq,
                             enum cb_dtype dtype, struct cb_step *s)
{
    if (batch < 1 || batch > (1 << 20) || seq < 1 || seq > m->ctx)
        return cb_set_error(CB_ERR_INVALID_ARG, "%s: batch %lld must be in [1, %d] and seq "
                            "%lld in [1, %lld] (the model's context)", m->name,
                            (long long)batch, 1 << 20, (long long)seq, (long long)m->ctx);
    // Logits (B*T x vocab) is the largest tensor; keep every count exact in
    // a double.
    if ((double)batch * (double)seq * (double)m->vocab > 9.0e15)
        return cb_set_error(CB_ERR_INVALID_ARG, "%s: batch x seq x vocab = %.3g is too large",
                            m->name, (double)batch * (double)seq * (double)m->vocab);
    memset(s, 0, sizeof *s);
    s->model = *m, s->batch = batch, s->seq = seq, s->dtype = dtype;
    const double e = cb_dtype_size(dtype);
    const int64_t M = batch * seq, L = m->n_layer, d = m->d_model, f = m->d_ff, V = m->vocab;
    const int64_t q = m->n_head * m->head_dim, qkv = (m->n_head + 2 * m->n_kv_head) * m->head_dim;
    const int swiglu = m->mlp == CB_MLP_SWIGLU, rope = m->pos == CB_POS_ROPE;
    const int64_t ff_in = swiglu ? 2 * f : f;
    const double Md = (double)M * d, Mf = (double)M * f;
    const enum cb_step_phase F = CB_PHASE_FWD, B = CB_PHASE_BWD;

    // Forward. Embedding: gather token rows (+ position rows), write x.
    mem(s, "embedding", F, 1, (rope ? 2 : 3) * Md * e + 4.0 * M);
    mem(s, "norm1", F, L, 2 * Md * e);
    linear(s, "attn.qkv", 0, L, M, d, qkv);
    if (rope)
        mem(s, "rope", F, L, 2.0 * M * (qkv - (qkv - q) / 2) * e);
    attn(s, 0, L);
    linear(s, "attn.out", 0, L, M, q, d);
    mem(s, "residual1", F, L, 3 * Md * e);
    mem(s, "norm2", F, L, 2 * Md * e);
    linear(s, swiglu ? "mlp.gate_up" : "mlp.up", 0, L, M, d, ff_in);
    mem(s, swiglu ? "swiglu" : "gelu", F, L, (swiglu ? 3 : 2) * Mf * e);
    linear(s, "mlp.down", 0, L, M, f, d);
    mem(s, "residual2", F, L, 3 * Md * e);
    mem(s, "norm_final", F, 1, 2 * Md * e);
    linear(s, "lm_head", 0, 1, M, d, V);
    // Fused softmax + cross-entropy + its gradient: read the logits twice
    // (max/sum pass, gradient pass), write dlogits once.
    mem(s, "softmax_xent", F, 1, 3.0 * M * V * e);

    // Backward, in reverse order. Norm and activation backward read the
    // saved input and the incoming gradient and write the input gradient;
    // the residual branch adds its gradient into the stream (2 reads, 1 write).
    linear(s, "lm_head", 1, 1, M, d, V);
    mem(s, "norm_final bwd", B, 1, 3 * Md * e);
    mem(s, "residual2 bwd", B, L, 3 * Md * e);
    linear(s, "mlp.down", 1, L, M, f, d);
    mem(s, swiglu ? "swiglu bwd" : "gelu bwd", B, L, (swiglu ? 5 : 3) * Mf * e);
    linear(s, swiglu ? "mlp.gate_up" : "mlp.up", 1, L, M, d, ff_in);
    mem(s, "norm2 bwd", B, L, 3 * Md * e);
    mem(s, "residual1 bwd", B, L, 3 * Md * e);
    linear(s, "attn.out", 1, L, M, q, d);
    attn(s, 1, L);
    if (rope)
        mem(s, "rope bwd", B, L, 2.0 * M * (qkv - (qkv - q) / 2) * e);
    linear(s, "attn.qkv", 1, L, M, d, qkv);
    mem(s, "norm1 bwd", B, L, 3 * Md * e);
    // Scatter-add of dx into the token (+ position) table rows.
    mem(s, "embedding bwd", B, 1, (rope ? 3 : 6) * Md * e);

    struct cb_param_count pc;
    cb_model_params(m, &pc);
    mem(s, "adamw", CB_PHASE_OPT, 1, 28.0 * (double)pc.total);
    return CB_OK;
}

double cb_step_flops(const struct cb_step *s)
{
    double t = 0;
    for (int i = 0; i < s->n; i++)
        t += s->items[i].flops * (double)s->items[i].count;
    return t;
}

double cb_step_attn_flops(const struct cb_step *s)
{
    double t = 0;
    for (int i = 0; i < s->n; i++)
        if (s->items[i].compute && s->items[i].call.op != CB_OP_GEMM)
            t += s->items[i].flops * (double)s->items[i].count;
    return t;
}

double cb_step_mem_bytes(const struct cb_step *s)
{
    double t = 0;
    for (int i = 0; i < s->n; i++)
        if (!s->items[i].compute)
            t += s->items[i].bytes * (double)s->items[i].count;
    return t;
}

void cb_step_memory(const struct cb_step *s, struct cb_step_memory *out)
{
    const struct cb_model *m = &s->model;
    struct cb_param_count pc;
    cb_model_params(m, &pc);
    double P = (double)pc.total, e = cb_dtype_size(s->dtype);
    double M = (double)s->batch * (double)s->seq, d = (double)m->d_model;
    double q = (double)(m->n_head * m->head_dim);
    double qkv = (double)((m->n_head + 2 * m->n_kv_head) * m->head_dim);
    double f = (double)m->d_ff, ff_in = m->mlp == CB_MLP_SWIGLU ? 2 * f : f;
    // Saved per layer: block input, norm1 output, q/k/v, attention output and
    // its lse (fp32), residual stream after attention, norm2 output, MLP
    // pre-activation(s) and activation output.
    double layer = M * (d + d + qkv + q + d + d + ff_in + f) * e +
                   4.0 * (double)s->batch * (double)m->n_head * (double)s->seq;
    // Plus the final norm's input and output and the logits (their gradient
    // is written in place).
    out->weights = 4 * P;
    out->grads = 4 * P;
    out->optimizer = 8 * P;
    out->activations = (double)m->n_layer * layer + M * (2 * d + (double)m->vocab) * e;
    out->total = out->weights + out->grads + out->optimizer + out->activations;
}

static int same_shape(const struct cb_call *a, const struct cb_call *b)
{
    char x[160], y[160];
    if (a->op != b->op)
        return 0;
    cb_shape_format(a, x, sizeof x);
    cb_shape_format(b, y, sizeof y);
    return !strcmp(x, y);
}

int cb_step_first_of_shape(const struct cb_step *s, int i)
{
    if (!s->items[i].compute)
        return 0;
    for (int j = 0; j < i; j++)
        if (s->items[j].compute && same_shape(&s->items[j].call, &s->items[i].call))
            return 0;
    return 1;
}

const char *cb_step_phase_name(enum cb_step_phase p)
{
    return p == CB_PHASE_FWD ? "fwd" : p == CB_PHASE_BWD ? "bwd" : "opt";
}
