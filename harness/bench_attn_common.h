// bench_attn_common.h: buffer-set pieces shared by the attention forward and
// backward benches (defined in bench_attn.c, used by bench_attn_bwd.c);
// private to harness/. The shape rules are shared through
// cb_bench_attn.check_shape.
#ifndef CHIPBENCH_BENCH_ATTN_COMMON_H
#define CHIPBENCH_BENCH_ATTN_COMMON_H

#include <stddef.h>

#include "chipbench/cb_bench.h"

// Floats of one buffer set: q_len for Q-shaped tensors (B,H,Lq,D), kv_len
// for K-shaped ones (B,Hkv,Lk,D), lse_len for (B,H,Lq).
void cb_attn_bench_lens(const struct cb_attn_args *a, size_t *q_len, size_t *kv_len,
                        size_t *lse_len);

// Elements of Q (B,H,Lq,D) and of K (B,Hkv,Lk,D) as doubles (set_bytes).
void cb_attn_bench_elems(const struct cb_attn_args *a, double *qo, double *kv);

// n per-set pointer arrays: *arrs[x] = nbuf NULL pointers. 0 when out of
// memory (the arrays made so far are kept for cb_attn_bench_free).
int cb_attn_bench_alloc_ptrs(float ***const *arrs, size_t n, int nbuf);

// Buffer set i: arrs[x][i] = lens[x] floats for x < n; the first n_in (the
// inputs, filled by the caller) are left as allocated, the rest zeroed.
// 0 when out of memory.
int cb_attn_bench_alloc_set(float **const *arrs, const size_t *lens, size_t n, size_t n_in,
                            int i);

// Free the nbuf sets of the n per-set arrays, and the pointer arrays.
void cb_attn_bench_free(float **const *arrs, size_t n, int nbuf);

// Q, K, V of one set uniform in [-1, 1), drawn in that order from rng.
void cb_attn_bench_fill_qkv(struct cb_rng *rng, float *q, float *k, float *v, size_t q_len,
                            size_t kv_len);

// Rewrite n floats in place as n bf16 or f16 values (round to nearest
// even) in the first half of the same buffer: 16-bit inputs are drawn in f32
// and rounded in set-up, so the float64 checks read exactly what the kernel
// read (defined in bench_gemm.c).
void cb_bench_to_16bit(void *buf, size_t n, enum cb_dtype d);

#endif
