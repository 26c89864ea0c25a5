// suites.c: the named shape sets for `chipbench run --suite NAME`.
//
// quick: a few minutes on a 2-core VM; the default for `make run`.
// standard: the shapes a training step of a GPT-2-class model makes
// (hidden 768/3072, 4096 for larger models) and square sizes 256-4096,
// in all three transpose forms of forward and backward, plus attention.
// gemm: GEMM only. attention: attention shapes only (forward and backward).
// training: the shapes of one training step of a model (--model).
#include <string.h>

#include "chipbench/cb_shape.h"

static const char *const quick_shapes[] = {
    "128x128x128",
    "512x512x512",
    "1024x1024x1024",
    "512x768x3072:nt",
    "b=1,h=8,s=256,d=64,causal=0",
    "b=1,h=8,kvh=2,s=512,d=64,causal=1",
    NULL,
};

static const char *const standard_shapes[] = {
    "256x256x256", "512x512x512", "1024x1024x1024", "2048x2048x2048", "4096x4096x4096",
    // forward Y = X W (nn), backward dX = dY W^T (nt) and dW = X^T dY (tn)
    "512x768x768", "512x3072x768", "512x768x3072", "512x4096x4096",
    "2048x768x768", "2048x3072x768", "2048x768x3072", "2048x4096x4096",
    "4096x768x768", "4096x3072x768", "4096x768x3072",
    "512x768x768:nt", "512x3072x768:nt", "512x768x3072:nt",
    "2048x768x768:nt", "2048x3072x768:nt", "2048x768x3072:nt",
    "768x768x512:tn", "3072x768x512:tn", "768x3072x512:tn",
    "768x768x2048:tn", "3072x768x2048:tn", "768x3072x2048:tn",
    "b=1,h=12,s=512,d=64,causal=1", "b=1,h=12,s=1024,d=64,causal=1",
    "b=1,h=12,s=1024,d=64,causal=0", "b=1,h=8,kvh=2,s=1024,d=128,causal=1",
    "b=1,h=8,kvh=2,s=2048,d=128,causal=1",
    NULL,
};

// Square 256-4096, then m in {512, 2048, 4096} x (n, k) in {(768, 768),
// (3072, 768), (768, 3072), (4096, 4096)} -- the projections and MLP of a
// GPT-2-small-to-Llama-class layer -- in each of the forms a training step
// uses: nn (forward), nt (dX = dY W^T), tn (dW = X^T dY).
static const char *const gemm_shapes[] = {
    // 4096^3 nn comes with the transformer list (m = 4096, n = k = 4096)
    "256x256x256", "512x512x512", "1024x1024x1024", "2048x2048x2048",
#define T(m, n, k) #m "x" #n "x" #k ":nn", #m "x" #n "x" #k ":nt", #m "x" #n "x" #k ":tn"
#define M(m) T(m, 768, 768), T(m, 3072, 768), T(m, 768, 3072), T(m, 4096, 4096)
    M(512), M(2048), M(4096),
#undef M
#undef T
    NULL,
};

// Attention (forward and backward kernels alike: an attention shape serves
// both ops): batch 1, 16 query heads with 16 (multi-head) or 4 (grouped-
// query) kv heads, sequence 512-4096, head dim 64 and 128, causal or not.
static const char *const attention_shapes[] = {
#define C(h, s, d) "b=1,h=16,kvh=" #h ",s=" #s ",d=" #d ",causal=0", \
                   "b=1,h=16,kvh=" #h ",s=" #s ",d=" #d ",causal=1"
#define D(h, s) C(h, s, 64), C(h, s, 128)
#define S(s) D(16, s), D(4, s)
    S(512), S(1024), S(2048), S(4096),
#undef S
#undef D
#undef C
    NULL,
};

// allreduce: payloads 4 KiB to 256 MiB per rank in powers of 4 (a 2-core VM
// runs it in a few minutes under mpirun -np 2); 1 GiB on request with
// --shape allreduce:bytes=1G.
static const char *const allreduce_shapes[] = {
    "allreduce:bytes=4K", "allreduce:bytes=16K", "allreduce:bytes=64K",
    "allreduce:bytes=256K", "allreduce:bytes=1M", "allreduce:bytes=4M",
    "allreduce:bytes=16M", "allreduce:bytes=64M", "allreduce:bytes=256M",
    NULL,
};

// training: no fixed list; `chipbench run --suite training --model NAME`
// fills in the distinct shapes of that model's step (harness/step.c).
static const char *const training_shapes[] = {NULL};

static const struct cb_suite suites[] = {
    {.name = "quick", .desc = "a few GEMM and attention shapes, minutes on 2 cores",
     .shapes = quick_shapes, .min_time_s = 0.3, .max_time_s = 1.5, .max_noise = 0.02,
     .ref_max_flops = 2.5e9},
    {.name = "standard", .desc = "square 256-4096 and transformer GEMM shapes (nn/nt/tn), "
     "attention 512-2048", .shapes = standard_shapes, .min_time_s = 0.5, .max_time_s = 5.0,
     .max_noise = 0.01, .ref_max_flops = 2.5e9},
    {.name = "gemm", .desc = "GEMM only: square 256-4096 and transformer shapes in nn/nt/tn, "
     "ours against OpenBLAS and oneDNN", .shapes = gemm_shapes, .min_time_s = 0.3,
     .max_time_s = 2.0, .max_noise = 0.02, .ref_max_flops = 0},
    {.name = "attention", .desc = "attention forward and backward: s 512-4096, d 64/128, "
     "causal 0/1, 16 heads with 16 or 4 kv heads", .shapes = attention_shapes,
     .min_time_s = 0.2, .max_time_s = 1.0, .max_noise = 0.03, .ref_max_flops = 2.5e9},
    {.name = "training", .desc = "the distinct GEMM and attention shapes of one training "
     "step of --model NAME at --batch B --seq T", .shapes = training_shapes,
     .min_time_s = 0.2, .max_time_s = 2.0, .max_noise = 0.03, .ref_max_flops = 2.5e9},
    {.name = "allreduce", .desc = "MPI all-reduce (sum, f32 and bf16) of 4 KiB to 256 MiB per "
     "rank; run under mpirun -np N", .shapes = allreduce_shapes, .min_time_s = 0.3,
     .max_time_s = 3.0, .max_noise = 0.03, .ref_max_flops = 2.5e9},
    {.name = NULL},
};

const struct cb_suite *cb_suites(void) { return suites; }

const struct cb_suite *cb_suite_find(const char *name)
{
    for (const struct cb_suite *s = suites; name && s->name; s++)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}
