// cb_step.h: one training step (forward, backward, AdamW) of a cb_model as
// the list of calls it makes.
//
// Compute calls carry a cb_call shape (GEMM or attention) in the project's
// row-major convention, so the same shape text `chipbench run --shape`
// takes identifies the measured row. For a linear layer
// Y(M,out) = X(M,in) W(in,out), M = B*T tokens:
//   forward  Y  = X W      GEMM m=M   n=out k=in  nn
//   backward dX = dY W^T   GEMM m=M   n=in  k=out nt
//            dW = X^T dY   GEMM m=in  n=out k=M   tn
// Q, K, V are one fused projection (n = (H + 2 Hkv) hd) and SwiGLU's gate and
// up one fused GEMM (n = 2 d_ff), as fused training codes (llm.c) do. The LM
// head uses the same (in,out) = (d, V) convention, tied or not.
// Attention: ATTN and ATTN_BWD at b=B, h=H, kvh=Hkv, s=T, d=hd, causal=1
// (FlashAttention FLOPs: forward 4 B H T^2 hd / 2, backward 2.5x).
//
// Memory-bound calls have no FLOPs in the model count and carry bytes under
// this traffic model: every op reads each input tensor once and writes each
// output once at the activation dtype's size, nothing stays in cache between
// ops and no two ops are fused (bias adds are fused into the GEMM epilogue,
// softmax-cross-entropy is one fused forward+backward op); AdamW keeps fp32
// parameters, gradients and both moments: reads p, g, m, v and writes p, m,
// v, 28 bytes per parameter.
#ifndef CHIPBENCH_CB_STEP_H
#define CHIPBENCH_CB_STEP_H

#include "cb_kernel.h"
#include "cb_model.h"

#define CB_STEP_MAX_ITEMS 64

enum cb_step_phase { CB_PHASE_FWD, CB_PHASE_BWD, CB_PHASE_OPT };

struct cb_step_item {
    char name[40];          // "mlp.up dW"
    enum cb_step_phase phase;
    int compute;            // 1: call holds a GEMM/attention shape; 0: memory-bound
    struct cb_call call;    // data pointers NULL
    int64_t count;          // calls per step (n_layer for per-layer ops)
    double flops, bytes;    // per call
};

struct cb_step {
    struct cb_model model;
    int64_t batch, seq;
    enum cb_dtype dtype;    // GEMM/attention inputs and activations
    int n;
    struct cb_step_item items[CB_STEP_MAX_ITEMS];
};

// Decompose. CB_ERR_INVALID_ARG when batch/seq are out of range (seq above
// the model's context, B*T*vocab beyond 2^53).
enum cb_status cb_step_build(const struct cb_model *m, int64_t batch, int64_t seq,
                             enum cb_dtype dtype, struct cb_step *out);

// Totals over items x count.
double cb_step_flops(const struct cb_step *s);           // model FLOPs per step
double cb_step_attn_flops(const struct cb_step *s);      // attention part of it
double cb_step_mem_bytes(const struct cb_step *s);       // memory-bound bytes

// Memory needed on one chip for training (bytes): fp32 weights, fp32
// gradients, AdamW m and v (16 bytes per parameter) plus the activations
// saved for the backward pass (flash attention: no T x T scores; no
// recomputation) at the step's dtype.
struct cb_step_memory { double weights, grads, optimizer, activations, total; };
void cb_step_memory(const struct cb_step *s, struct cb_step_memory *out);

// Is items[i] the first of its shape among compute items? Identical shapes
// (e.g. an nt GEMM shared by two layers' ops) are timed once.
int cb_step_first_of_shape(const struct cb_step *s, int i);

const char *cb_step_phase_name(enum cb_step_phase p);  // "fwd", "bwd", "opt"

#endif
