#!/bin/sh
# test_ptx.sh: the OpenCL kernels that carry inline PTX (the matrix-unit
# GEMMs and attention: mma.sync, cvt.rna.tf32, shfl.sync) and the tuned GPU
# attention forward, compiled to PTX by clang's nvptx target and assembled
# by NVIDIA's ptxas for sm_80 and sm_90, without a GPU: a wrong PTX operand,
# constraint or instruction fails here, before any device time is spent.
# ptxas's report (registers, spills, local memory) is printed for each build;
# a build with a stack frame (spills, or fragments left in memory) fails.
#
# What it is not: NVIDIA's own OpenCL compiler (its register allocation
# differs) or a run. Skipped where clang with the NVPTX target or ptxas is
# missing (ptxas comes with a CUDA toolkit: PTXAS=path, or on PATH, or
# /usr/local/cuda/bin/ptxas).
set -u
pass=0; fail=0; skip=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
PTXAS=${PTXAS:-$(command -v ptxas || echo /usr/local/cuda/bin/ptxas)}
tmp=$(mktemp -d /tmp/cb_ptx.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
K=kernels/opencl
if ! [ -x "$PTXAS" ] || ! command -v clang >/dev/null 2>&1 ||
   ! printf '__kernel void k(void) {}\n' > "$tmp/probe.cl" ||
   ! clang -x cl -cl-std=CL1.2 -target nvptx64-nvidia-nvcl -S -o /dev/null "$tmp/probe.cl" \
       2>/dev/null; then
    echo "SKIP test_ptx: needs clang with the NVPTX target and ptxas (a CUDA toolkit)"
    echo "test_ptx: 0 passed, 0 failed, 1 skipped"
    exit 0
fi

# check NAME "DEFINES" SOURCES...: PTX for sm_80, assembled for sm_80 and sm_90.
check() {
    name=$1; defs=$2; shift 2
    cat tests/ptx_prelude.cl "$@" > "$tmp/$name.cl"
    # shellcheck disable=SC2086  # defs are several -D words
    if ! out=$(clang -x cl -cl-std=CL1.2 -target nvptx64-nvidia-nvcl -Xclang \
               -finclude-default-header -S -O3 -march=sm_80 $defs -o "$tmp/$name.ptx" \
               "$tmp/$name.cl" 2>&1); then
        ko "$name" "clang: $(printf '%s' "$out" | grep error | head -n 2)"
        return
    fi
    for arch in sm_80 sm_90; do
        if ! out=$("$PTXAS" -arch=$arch -v "$tmp/$name.ptx" -o "$tmp/$name.cubin" 2>&1); then
            ko "$name $arch" "ptxas: $(printf '%s' "$out" | grep -i error | head -n 2)"
            return
        fi
    done
    # A stack frame means a fragment array or accumulator went to memory
    # (a helper not inlined, a loop not unrolled, spills): slow, so fail.
    stack=$(printf '%s' "$out" | grep -o '[0-9]* bytes stack frame' | sort -n | tail -n 1)
    case "$stack" in
        "0 bytes stack frame"|"") ;;
        *) ko "$name" "$stack (sm_90)"; return ;;
    esac
    ok "$name ($(printf '%s' "$out" | grep -o 'Used [0-9]* registers' | head -n 1), $(printf '%s' "$out" | grep -o '[0-9]* bytes spill stores' | head -n 1), sm_90)"
}

for t in 0 1; do
    for ab in "0 0" "0 1" "1 0" "1 1"; do
        set -- $ab
        check "gemm_mma_tf32=${t}_at=$1_bt=$2" "-DTF32=$t -DA_T=$1 -DB_T=$2" \
            $K/mma_common.cl $K/gemm_mma.cl
    done
done
# ldmatrix and cp.async (the tuner's LDM and CPA) in all four layouts:
# ldmatrix .trans reads the m- or n-contiguous ones (tf32 never: it is rounded).
for ab in "0 0" "0 1" "1 0" "1 1"; do
    set -- $ab
    check "gemm_mma_ldm_cpa_at=$1_bt=$2" "-DTF32=0 -DA_T=$1 -DB_T=$2 -DLDM=1 -DCPA=1" \
        $K/mma_common.cl $K/gemm_mma.cl
done
# The default set since an H200 measured it (ldmatrix without cp.async), and
# the tf32 set tuned there (results/tuning/opencl.csv).
for ab in "0 0" "0 1" "1 0" "1 1"; do
    set -- $ab
    check "gemm_mma_ldm_at=$1_bt=$2" "-DTF32=0 -DA_T=$1 -DB_T=$2 -DLDM=1 -DCPA=0" \
        $K/mma_common.cl $K/gemm_mma.cl
done
check "gemm_mma_tf32_tuned" "-DTF32=1 -DA_T=0 -DB_T=0 -DLDM=1 -DCPA=1 -DWM=64 -DWN=32" \
    $K/mma_common.cl $K/gemm_mma.cl
# Three cp.async stages (the tuner's ST=3), in the layout that needs LDM
# for it and in the one that does not.
check "gemm_mma_st3_at=0_bt=0" "-DTF32=0 -DA_T=0 -DB_T=0 -DLDM=1 -DCPA=1 -DNSTG=3" \
    $K/mma_common.cl $K/gemm_mma.cl
check "gemm_mma_st3_at=0_bt=1" "-DTF32=0 -DA_T=0 -DB_T=1 -DLDM=0 -DCPA=1 -DNSTG=3" \
    $K/mma_common.cl $K/gemm_mma.cl
check "gemm_mma_tf32_ldm_wm32" "-DTF32=1 -DA_T=0 -DB_T=1 -DLDM=1 -DWM=32 -DWN=16" \
    $K/mma_common.cl $K/gemm_mma.cl
for d in 64 128; do
    check "attn_mma_d$d" "-DD=$d" $K/mma_common.cl $K/attn_mma.cl
    check "attn_mma_ldm_d$d" "-DD=$d -DLDM=1" $K/mma_common.cl $K/attn_mma.cl
    check "attn_mma_cpa_d$d" "-DD=$d -DLDM=1 -DCPA=1" $K/mma_common.cl $K/attn_mma.cl
    check "attn_bwd_mma_d$d" "-DD=$d" $K/mma_common.cl $K/attn_bwd_mma.cl
    check "attn_bwd_mma_ldm_d$d" "-DD=$d -DLDM=1" $K/mma_common.cl $K/attn_bwd_mma.cl
done
# The H200's tuned f32 attention forward (results/tuning/opencl.csv).
check attn_tiles_d128 "-DD=128 -DDP=128 -DBQ=64 -DBK=128 -DTK=8 -DTV=8 -DRM=8 -DRS=8 -DPAD=4" \
    $K/attn_flash_tiles.cl
# P in two passes with 128 x 128 blocks, the tuner's first untried set there:
# its pass index must stay a constant (else P's registers go to the stack).
check attn_tiles_d128_ps2 "-DD=128 -DDP=128 -DBQ=128 -DBK=128 -DTK=8 -DTV=8 -DRM=8 -DRS=8 -DPAD=4 -DPS=2" \
    $K/attn_flash_tiles.cl
echo "test_ptx: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
