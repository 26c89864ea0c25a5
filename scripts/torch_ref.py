#!/usr/bin/env python3
"""torch_ref.py: the vendor-framework references for chipbench's GPU rows,
measured in the same session on the same card (scripts/device_gpu.sh, step
`torchref`). It is not part of chipbench and is never run by the tests: it
needs PyTorch and an NVIDIA GPU, which only the lent device machine has.

Measures, on random normal inputs (never zeros), with CUDA events around
each call, median of REPS after WARM warm-up calls:
  - scaled_dot_product_attention forward, B=8 H=16 L=4096 D=128, causal 0/1,
    in fp32 (TF32 off, so the same arithmetic as chipbench's f32 kernels) and
    bf16; FLOPs counted as chipbench counts them: 4*B*H*L*L*D, halved for
    causal (the masked half is not useful work);
  - an 8192^3 matmul in bf16, in tf32 and in fp32 without TF32 (cuBLAS
    through PyTorch), a cross-check of the gemm_*_cublas rows.
Writes CSV to stdout: what,dtype,shape,ms_median,tflops.
"""
import sys

import torch
import torch.nn.functional as F

WARM, REPS = 3, 15


def median_ms(fn):
    for _ in range(WARM):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(REPS):
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    times.sort()
    return times[len(times) // 2]


def row(what, dtype, shape, ms, flops):
    print(f"{what},{dtype},{shape},{ms:.4f},{flops / ms / 1e9:.1f}", flush=True)


def main():
    if not torch.cuda.is_available():
        print("torch_ref: no CUDA device", file=sys.stderr)
        return 2
    print("what,dtype,shape,ms_median,tflops")
    torch.manual_seed(1)
    b, h, l, d = 8, 16, 4096, 128
    for dtype, name in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        q, k, v = (torch.randn(b, h, l, d, device="cuda", dtype=dtype) for _ in range(3))
        for causal in (0, 1):
            ms = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal)))
            flops = 4.0 * b * h * l * l * d / (2 if causal else 1)
            row("sdpa_fwd", name, f"b={b},h={h},s={l},d={d},causal={causal}", ms, flops)
        del q, k, v
    n = 8192
    for dtype, name, tf32 in ((torch.bfloat16, "bf16", False), (torch.float32, "tf32", True),
                              (torch.float32, "f32", False)):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        a = torch.randn(n, n, device="cuda", dtype=dtype)
        bm = torch.randn(n, n, device="cuda", dtype=dtype)
        ms = median_ms(lambda: torch.matmul(a, bm))
        row("matmul", name, f"{n}x{n}x{n}", ms, 2.0 * n * n * n)
        del a, bm
    return 0


if __name__ == "__main__":
    sys.exit(main())
