// ptx_prelude.cl: put in front of an OpenCL kernel source so clang's nvptx
// target (which has no OpenCL built-in library) can compile it to PTX for
// ptxas (tests/test_ptx.sh): the built-ins our kernels use, mapped to NVVM
// ones or plain C. Not for running anything; NVIDIA's OpenCL has its own.
#define asm __asm__
#define get_local_id(d) ((d) == 0 ? __nvvm_read_ptx_sreg_tid_x() : (d) == 1 ? __nvvm_read_ptx_sreg_tid_y() : __nvvm_read_ptx_sreg_tid_z())
#define get_group_id(d) ((d) == 0 ? __nvvm_read_ptx_sreg_ctaid_x() : (d) == 1 ? __nvvm_read_ptx_sreg_ctaid_y() : __nvvm_read_ptx_sreg_ctaid_z())
#define barrier(f) __asm__ volatile("bar.sync 0;" ::: "memory")
#define exp2(x) __nvvm_ex2_approx_f(x)
#define log(x) (__nvvm_lg2_approx_f(x) * 0.69314718f)
#define fmax(a, b) __builtin_fmaxf((a), (b))
#define fma(a, b, c) __builtin_fmaf((a), (b), (c))
#define min(a, b) ((a) < (b) ? (a) : (b))
#define clamp(x, lo, hi) min(max((x), (lo)), (hi))
#define max(a, b) ((a) > (b) ? (a) : (b))
