// cb_kernel.h: kernel descriptors and the registry.
//
// A kernel is described by data (struct cb_kernel, one designated-initializer
// row in its file's table) and selected at run time by what the CPU/OS allow.
// Each kernel file exports one NULL-name-terminated table; kernels/registry.c
// is the one place that lists the tables.
//
// Layouts (all row-major, shapes in comments follow the llm.c habit):
//   GEMM   C(m,n) = alpha * op(A)(m,k) * op(B)(k,n) + beta * C(m,n)
//          trans_a=0: A stored (m,k), lda >= k;  trans_a=1: A stored (k,m), lda >= m
//          trans_b=0: B stored (k,n), ldb >= n;  trans_b=1: B stored (n,k), ldb >= k
//          beta == 0 means C is not read (NaN in C must not propagate).
//          dtype bf16: A and B hold uint16_t bf16 bit patterns (same layouts
//          and leading dimensions, in elements), C is float; products are
//          accumulated in f32.
//   ATTN   Q (B,H,Lq,D)  K,V (B,Hkv,Lk,D)  O (B,H,Lq,D), contiguous;
//          query head h reads kv head h / (H/Hkv) (grouped-query attention).
//          causal: query i sees keys j <= i + (Lk - Lq) (bottom-right aligned,
//          as in FlashAttention-2), so Lq == Lk is the usual lower triangle.
//          lse (B,H,Lq), optional: natural-log log-sum-exp of the scaled
//          scores per query row, for the backward pass.
//   ATTN_BWD  the gradients of ATTN (FlashAttention-2 backward). Inputs: the
//          forward's shape, Q, K, V, its output O and lse (both as produced
//          by a forward kernel), and dO (B,H,Lq,D). Outputs: dQ (B,H,Lq,D),
//          dK and dV (B,Hkv,Lk,D); with grouped-query attention dK and dV
//          sum the contributions of all query heads of their group.
//            P = exp(scale q.k - lse)   Di = sum_d dO_id O_id
//            dV = P^T dO   dP = dO V^T   dS = P * (dP - Di)
//            dQ = scale dS K   dK = scale dS^T Q
//   STREAM the STREAM triad a[i] = b[i] + scalar * c[i] over n contiguous f32
//          (i in [0, n)); a must not alias b or c.
//   ALLREDUCE  recv[i] = sum over the ranks of a collective of their send[i],
//          count elements (f32, or bf16 as uint16_t bit patterns summed in
//          f32 and rounded to nearest even per step); every rank calls it
//          with the same count. send and recv are distinct.
#ifndef CHIPBENCH_CB_KERNEL_H
#define CHIPBENCH_CB_KERNEL_H

#include <stdint.h>
#include "cb_status.h"

enum cb_op {
    CB_OP_GEMM, CB_OP_ATTN, CB_OP_ATTN_BWD, CB_OP_STREAM, CB_OP_ALLREDUCE, CB_OP_COUNT
};
// tf32: f32 storage, products at TensorFloat-32 precision (inputs rounded to
// an 11-bit significand by the matrix unit), f32 accumulate; checked within
// that rounding, never passed off as f32.
enum cb_dtype { CB_DTYPE_F32, CB_DTYPE_F16, CB_DTYPE_BF16, CB_DTYPE_TF32, CB_DTYPE_COUNT };

// Where a kernel runs / whose code it is. Closed set; names in registry.c.
enum cb_backend {
    CB_BACKEND_REF,       // portable C reference
    CB_BACKEND_AVX2,
    CB_BACKEND_AVX512,
    CB_BACKEND_NEON,
    CB_BACKEND_OPENBLAS,
    CB_BACKEND_ONEDNN,
    CB_BACKEND_OPENCL,
    CB_BACKEND_CLBLAST,
    CB_BACKEND_MPI,       // a collective of the MPI library (Open MPI)
    CB_BACKEND_CUBLAS,    // NVIDIA's cuBLAS, loaded at run time (kernels/cuda)
    CB_BACKEND_AMX,       // Intel's AMX tile unit (x86, Sapphire Rapids and later)
    CB_BACKEND_COUNT
};

struct cb_gemm_args {
    int64_t m, n, k;
    int trans_a, trans_b;
    const void *a; int64_t lda;
    const void *b; int64_t ldb;
    void *c; int64_t ldc;
    float alpha, beta;
};

struct cb_attn_args {
    int64_t batch, heads, kv_heads, seq_q, seq_kv, head_dim;
    int causal;
    float scale;  // multiplies q.k; 0 means 1/sqrt(head_dim)
    const void *q, *k, *v;
    void *o;
    float *lse;   // may be NULL
};

// Attention backward: the forward's arguments (o and lse are inputs here,
// never written) plus the incoming gradient and the three outputs.
struct cb_attn_bwd_args {
    struct cb_attn_args fwd;   // shape, q, k, v, o (input), lse (input, required)
    const void *dout;          // dO (B,H,Lq,D)
    void *dq;                  // (B,H,Lq,D)
    void *dk, *dv;             // (B,Hkv,Lk,D)
};

// STREAM triad (memory bandwidth): a = b + scalar * c, n floats each.
struct cb_stream_args {
    int64_t n;
    float scalar;  // 3.0 as in McCalpin's STREAM (the shape text has no key for it)
    const void *b, *c;
    void *a;
};

// All-reduce (sum) across the processes of an MPI job. The shape is the
// payload in bytes (dtype-free, as nccl-tests sizes it); the bench fills in
// count = bytes / element size and the buffers.
struct cb_allreduce_args {
    int64_t bytes;    // payload per rank, a multiple of 4 (f32 and bf16 alike)
    int64_t count;    // elements: bytes / dtype size (0 in a bare shape)
    const void *send;
    void *recv;
};

// Number of keys query row i sees: all Lk without a mask; with the causal
// mask (bottom-right aligned) i + (Lk - Lq) + 1, clamped to [0, Lk]. The one
// definition of the mask, shared by kernels and the float64 check.
static inline int64_t cb_attn_visible_keys(const struct cb_attn_args *a, int64_t i)
{
    if (!a->causal)
        return a->seq_kv;
    int64_t n = i + (a->seq_kv - a->seq_q) + 1;
    return n < 0 ? 0 : n > a->seq_kv ? a->seq_kv : n;
}

// One call as the harness hands it to a kernel.
struct cb_call {
    enum cb_op op;
    union {
        struct cb_gemm_args gemm;
        struct cb_attn_args attn;          // CB_OP_ATTN
        struct cb_attn_bwd_args attn_bwd;  // CB_OP_ATTN_BWD (u.attn aliases .fwd)
        struct cb_stream_args stream;      // CB_OP_STREAM
        struct cb_allreduce_args allreduce;  // CB_OP_ALLREDUCE
    } u;
};

// Shapes are written per op family (cb_shape.h): an attention shape serves
// both ATTN and ATTN_BWD kernels. Returns 1 and fills *out (data pointers
// NULL) when `shape` can feed a kernel of `op`, else 0.
int cb_shape_as_op(const struct cb_call *shape, enum cb_op op, struct cb_call *out);

// Per-(shape, threads) setup, done outside the timed region. A plan may hold
// workspaces, device buffers or library handles; it must not bind the data
// pointers of `shape` (the harness rotates buffers between launches).
struct cb_plan_req {
    const struct cb_call *shape;  // pointers inside are valid but may change
    int threads;                  // >= 1, already validated
    const char *device;           // --device text or NULL
};

struct cb_kernel {
    const char *name;         // "gemm_f32_ref": unique, stable, the CSV key
    enum cb_op op;
    enum cb_dtype dtype;
    enum cb_backend backend;
    uint64_t isa;             // CB_ISA_* bits required
    int priority;             // higher wins among kernels usable here
    int max_threads;          // 1 = single-threaded kernel; 0 = any
    int mr, nr;               // register tile, 0 when not applicable

    // Optional: is the back-end present at run time (library loaded, device
    // found)? Returns CB_ERR_UNSUPPORTED with a message when not.
    enum cb_status (*available)(void);
    // Optional setup; *plan may stay NULL.
    enum cb_status (*plan)(const struct cb_kernel *k,
                           const struct cb_plan_req *req, void **plan);
    // The timed unit of work. Must be callable many times with one plan.
    enum cb_status (*run)(void *plan, const struct cb_call *call);
    // Optional: wait for asynchronous work to complete (devices).
    enum cb_status (*finish)(void *plan);
    // Optional: copy device results back into the call's host output.
    enum cb_status (*readback)(void *plan, const struct cb_call *call);
    void (*plan_free)(void *plan);
    // Optional (devices): the device the plan runs on, for the CSV's device
    // and chip_class columns.
    void (*where)(void *plan, char *device, int dlen, char *chip_class, int clen);
    // Optional (devices): the device's PCI address ("0000:17:00.0"), "" when
    // the driver does not tell; the power layer matches counters with it.
    void (*pci_bus)(void *plan, char *buf, int len);
    // Optional (devices): median device-side time of one call in ns, from
    // profiling events of the timed launches; < 0 when the driver gave none.
    double (*device_time_ns)(void *plan);

    const char *desc;         // one line for `chipbench list`
    int not_built;            // 1: kernels/absent.c lists it, its library was missing
};

// Registry ------------------------------------------------------------------

// Number of registered kernels and the i-th one (stable order).
int cb_registry_count(void);
const struct cb_kernel *cb_registry_get(int i);
// Exact name lookup; NULL if unknown.
const struct cb_kernel *cb_registry_find(const char *name);

// Can `k` run here? CB_OK, or CB_ERR_UNSUPPORTED with the reason recorded
// (missing ISA bits named, back-end unavailable). Never executes the kernel.
enum cb_status cb_kernel_usable(const struct cb_kernel *k);

// Best usable kernel for (op, dtype): highest priority among usable ones,
// unless CHIPBENCH_KERNEL names one for this op/dtype, in which case that one
// is returned or CB_ERR_UNSUPPORTED/CB_ERR_INVALID_ARG explains why not.
enum cb_status cb_registry_best(enum cb_op op, enum cb_dtype dtype,
                                const struct cb_kernel **out);

// Shell-style pattern match ('*' and '?') used by --kernel.
int cb_name_match(const char *pattern, const char *name);

const char *cb_op_name(enum cb_op op);          // "gemm", "attention", "stream"
const char *cb_dtype_name(enum cb_dtype d);     // "f32", "f16", "bf16"
const char *cb_backend_name(enum cb_backend b); // "ref", "openblas", ...
// Parse the names above; CB_ERR_INVALID_ARG when unknown.
enum cb_status cb_op_parse(const char *s, enum cb_op *out);
enum cb_status cb_dtype_parse(const char *s, enum cb_dtype *out);
int cb_dtype_size(enum cb_dtype d);

// Work declared per call (used for GFLOP/s, GB/s and the cost model).
// GEMM: 2*m*n*k flops; bytes = A + B read once, C written (and read if beta).
// ATTN: 4*B*H*Lq*Lk*D, halved when causal (the FlashAttention convention);
//       bytes = Q, K, V read once and O written once.
// ATTN_BWD: 2.5x the forward (the five L x L x D products of FlashAttention-2's
//       backward against the forward's two; recomputation is not counted);
//       bytes = Q, K, V, O, dO, lse read once, dQ, dK, dV written once.
// STREAM: 2n flops; bytes = 3 n elements (b and c read, a written once):
//       12n for f32. The write-allocate read of a that a cache may add is not
//       counted (McCalpin's STREAM convention), so GB/s is what the program
//       moves, a lower bound on what the memory bus carried.
// ALLREDUCE: 0 flops (the N-1 additions per element depend on the rank
//       count and are not the point; GFLOP/s stays empty); bytes = the
//       payload of one rank, so GB/s is the algorithm bandwidth of
//       nccl-tests (bus bandwidth: cb_mpi.h).
double cb_call_flops(const struct cb_call *c);
double cb_call_bytes(const struct cb_call *c, enum cb_dtype d);

#endif
