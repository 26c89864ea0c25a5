// cb_model.h: dense decoder-only transformer configurations for the cost
// model (`chipbench cost`, `chipbench run --suite training`).
//
// A model is a preset (cb_model_presets) or a user file of `key = value`
// lines (cb_model_parse documents the keys). Weights follow the project's
// row-major convention: every linear layer is Y(BT,out) = X(BT,in) W(in,out).
#ifndef CHIPBENCH_CB_MODEL_H
#define CHIPBENCH_CB_MODEL_H

#include <stdint.h>
#include "cb_status.h"

enum cb_mlp { CB_MLP_GELU, CB_MLP_SWIGLU };        // up+act+down / gate,up+silu*+down
enum cb_norm { CB_NORM_LAYERNORM, CB_NORM_RMSNORM };  // weight+bias / weight only
enum cb_pos { CB_POS_LEARNED, CB_POS_ROPE };        // wpe table / rotary (no params)

struct cb_model {
    char name[64];
    int64_t n_layer, d_model, n_head, n_kv_head, head_dim, d_ff, vocab, ctx;
    enum cb_mlp mlp;
    enum cb_norm norm;
    enum cb_pos pos;
    int tied;   // LM head shares the token embedding matrix
    int bias;   // linear layers carry biases (GPT-2)
};

// Parameter counts (elements). total = embedding + layers + final norm +
// untied LM head. `matmul` is every weight matrix that a GEMM multiplies in
// the step: the layers' projections and MLP plus the LM head (V x d), the
// latter counted whether or not it is tied to the embedding.
struct cb_param_count {
    int64_t total;
    int64_t embedding;   // token (+ learned position) tables
    int64_t non_embedding;  // total - embedding
    int64_t matmul;
    int64_t lm_head;     // vocab * d_model
};

// The presets, NULL-name terminated (GPT-2 124M/1.5B, Llama-3.2 1B, Llama-3 8B).
const struct cb_model *cb_model_presets(void);

// Parse a model file's text. `origin` names it in messages ("m.txt").
// CB_ERR_PARSE with "origin:LINE: ..." for unknown or repeated keys and bad
// values, "origin: missing KEY" and consistency errors (heads not dividing
// d_model, kv heads not dividing heads).
enum cb_status cb_model_parse(const char *text, const char *origin, struct cb_model *out);

// A preset name, else a file path. CB_ERR_INVALID_ARG "unknown model ..."
// (listing the presets) when it is neither.
enum cb_status cb_model_load(const char *name_or_path, struct cb_model *out);

// Consistency checks shared by presets and files.
enum cb_status cb_model_validate(const struct cb_model *m);

void cb_model_params(const struct cb_model *m, struct cb_param_count *out);

#endif
