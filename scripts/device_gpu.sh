#!/bin/sh
# device_gpu.sh: the prepared run on a lent GPU machine (scripts/device_pack.sh
# says what must be carried there). It registers NVIDIA's OpenCL driver with
# the ICD loader we carry, records the device, then runs the steps named in
# STEPS (default: all), each under its own timeout so a hang in one cannot eat
# the others, writing CSVs and logs to $OUT:
#   tune    autotune the OpenCL GEMM and attention forward (TUNE_BUDGET
#           seconds, shared by their classes; every candidate is
#           verified against float64 first) into $OUT/opencl-tuning.csv;
#           without this step `run` uses the built-in entries
#           (results/tuning/opencl.csv)
#   tuneattn  autotune only the attention forward, both variants (rows and
#           tiles): d128 for ATUNE_BUDGET seconds, then d64 for a third of
#           it, into the same tuning file
#   torchref  PyTorch's SDPA (fp32 without TF32, bf16) and 8192^3 matmuls on
#           the same card (scripts/torch_ref.py), the same-session references
#           for the attention and GEMM ratios, into $OUT/torch-ref.csv
#   tunemma autotune the matrix-unit GEMMs (warp tile, ldmatrix, cp.async) at
#           MID^3 (the "l" class, which the gemm step's big shapes use):
#           bf16 for MMA_BUDGET seconds, tf32 for half of it, into the same
#           tuning file; run it right before gemm
#   gemm    ours (f32, f16 storage, bf16 on the matrix units) vs CLBlast and cuBLAS (f32 without
#           TF32, bf16; found on the machine, else skipped with the reason)
#           on the same device, one run
#   training  the GEMM and attention shapes of one GPT-2 124M training step
#           (--suite training) and the stream triad, for `chipbench cost`
#   bf16    the training-step shapes of GPT-2 124M and Llama-3.2 1B with the
#           bf16 kernels (ours on the matrix units, cuBLAS beside them), for
#           `chipbench cost --dtype bf16`
#   attn    attention forward and backward (f32, and bf16 on the matrix
#           units), the bf16 pair again on the other fragment path (forward
#           LDM=0, backward LDM=1), the bf16 forward with cp.async (CPA=1),
#           then the f32 forward again with the rows variant's default
#           forced, same run
#   regs    NVIDIA's ptxas report (registers, spills, shared memory) of the
#           attention forward's built-in tiles set with and without a
#           register cap, and of what `run` picks, into $OUT/cl-build.txt
#   energy  one long GEMM row with NVML energy while nvidia-smi samples power
#           every 50 ms independently, for the cross-check
#   DRY=1 sh scripts/device_gpu.sh   rehearses it here on PoCL with small sizes.
# Within one device call (at most 8 files come back, and a call cut at its
# limit loses what the command would have done after):
#   BUDGET_S=N  the whole run's seconds: each step's timeout is cut to what
#               is left, and a step with under 40 s left is skipped, said so
#   PACK=FILE   after every step, $OUT packed into FILE (a .tgz outside
#               $OUT, e.g. the tool's $OUT/device.tgz), so what finished
#               comes back even if the call is cut
# e.g. T=$OUT; OUT=/tmp/w PACK=$T/device.tgz BUDGET_S=520 STEPS='gemm attn' sh ...
# (T first: in `OUT=/tmp/w PACK=$OUT/...` the second $OUT is already /tmp/w)
# (Never end such a command with `pkill -f chipbench`: it matches the
# calling shell's own command line and kills it before anything is packed.)
set -u
OUT=${OUT:-/tmp/chipbench-device}
mkdir -p "$OUT"
CB=${CB:-build-dev/chipbench}
STEPS=${STEPS:-tune gemm training attn energy}  # tuneattn: on request
# device_pack.sh packs the libraries; unpack them once.
if [ -f devlibs/libs.tar.xz ] && [ ! -e devlibs/libOpenCL.so.1 ]; then
    tar xJf devlibs/libs.tar.xz -C devlibs || echo "device_gpu: could not unpack devlibs/libs.tar.xz"
fi
export LD_LIBRARY_PATH="$PWD/devlibs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
log() { echo "== $(date -u +%H:%M:%S) $*"; }
START=$(date +%s)
BUDGET_S=${BUDGET_S:-86400}
left() { echo $((START + BUDGET_S - $(date +%s))); }
# tmo N: N seconds, or less if the budget has less left (25 s kept: a
# row that ignores the TERM is killed 10 s later, then the pack)
tmo() { l=$(($(left) - 25)); [ "$1" -lt "$l" ] && echo "$1" || echo "$((l > 1 ? l : 1))"; }
pack() {
    [ -n "${PACK:-}" ] || return 0
    tar czf "$PACK.tmp" -C "$OUT" . 2>/dev/null && mv "$PACK.tmp" "$PACK"
}
# cbrun NAME SECS ENV ARGS...: `chipbench run --device DEV --threads 1 ARGS`
# under the budget (ENV: one VAR=VALUE for this run, or -), its rows shown
# without the progress lines, and its own exit status reported (after a
# pipe into grep, $? would be grep's).
cbrun() {
    name=$1; secs=$2; envset=$3; shift 3
    [ "$envset" = - ] && envset=
    tmp=${TMPDIR:-/tmp}/cbrun.$$
    env $envset timeout -k 10 $(tmo "$secs") "$CB" run --device "$DEV" --threads 1 "$@" \
        > "$tmp" 2>&1
    rc=$?
    grep -v '^\[' "$tmp"
    rm -f "$tmp"
    echo "$name exit $rc"
}
want() {
    case " $STEPS " in *" $1 "*) ;; *) return 1 ;; esac
    pack
    [ "$(left)" -gt 40 ] && return 0
    log "skipped $1: the ${BUDGET_S} s budget is spent"
    return 1
}

if [ "${DRY:-0}" = 1 ]; then
    DEV=${DEV:-pthread}
    BIG=512; MID=256; SMALL=128; TUNE_BUDGET=${TUNE_BUDGET:-20}; ATTN_L=256; ATTN_B=1
    ATUNE_BUDGET=${ATUNE_BUDGET:-15}; MMA_BUDGET=${MMA_BUDGET:-10}; STREAM_N=4194304
    RUN_TIME="--min-time 0.2 --max-time 0.5"; ENERGY_TIME=2
else
    # NVIDIA's OpenCL library, wherever this image keeps it.
    icd="$PWD/devlibs/icd"
    mkdir -p "$icd"
    for f in /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 /usr/lib/libnvidia-opencl.so.1 \
             /usr/lib64/libnvidia-opencl.so.1 /usr/local/nvidia/lib64/libnvidia-opencl.so.1; do
        if [ -e "$f" ]; then echo "$f" > "$icd/nvidia.icd"; break; fi
    done
    if [ ! -s "$icd/nvidia.icd" ]; then
        found=$(find / -name 'libnvidia-opencl.so.1' 2>/dev/null | head -n 1)
        [ -n "$found" ] && echo "$found" > "$icd/nvidia.icd"
    fi
    export OCL_ICD_VENDORS="$icd"
    # cuBLAS for the vendor-baseline rows (gemm_*_cublas), wherever this
    # image has it (a CUDA toolkit, or PyTorch's nvidia-* wheels): the
    # runtime of the same major version as cuBLAS, their folders on the
    # library path for cuBLASLt.
    if [ -z "${CHIPBENCH_CUBLAS_LIB:-}" ]; then
        # The usual homes first (a search of / can take half a minute).
        for root in /opt /usr/local /usr/lib /usr/lib64 /; do
            [ -d "$root" ] || continue
            libs=$(timeout 30 find "$root" \( -name 'libcublas.so.[0-9]*' -o -name 'libcudart.so.[0-9]*' \) \
                   -not -path '/proc/*' 2>/dev/null | sort)
            [ -n "$libs" ] && break
        done
        blas=$(printf '%s\n' "$libs" | grep '/libcublas\.so\.[0-9]*$' | tail -n 1)
        if [ -n "$blas" ]; then
            major=${blas##*.so.}
            rt=$(printf '%s\n' "$libs" | grep "/libcudart\.so\.$major" | tail -n 1)
            export CHIPBENCH_CUBLAS_LIB="$blas"
            [ -n "$rt" ] && export CHIPBENCH_CUDART_LIB="$rt"
            LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$(dirname "$blas")${rt:+:$(dirname "$rt")}"
        fi
    fi
    echo "cuBLAS: ${CHIPBENCH_CUBLAS_LIB:-none found}, runtime: ${CHIPBENCH_CUDART_LIB:-default}"
    # OpenBLAS 0.3.21 does not know the H200 host's Xeon (family 6 model
    # 207) and falls back to its Prescott (SSE) core. Its dgemm is every
    # GEMM row's float64 check: 40 s of host time a row at Llama's LM head,
    # most of a device call (the CSV notes of 2026-11-29). chipbench info
    # names the core OpenBLAS took.
    if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx512f /proc/cpuinfo; then
        if grep -qw avx512_bf16 /proc/cpuinfo; then
            export OPENBLAS_CORETYPE=Cooperlake
        else
            export OPENBLAS_CORETYPE=SkylakeX
        fi
    fi
    echo "OpenBLAS core: ${OPENBLAS_CORETYPE:-its own choice}"
    DEV=${DEV:-NVIDIA}
    BIG=8192; MID=4096; SMALL=1024; TUNE_BUDGET=${TUNE_BUDGET:-140}; ATTN_L=4096; ATTN_B=8
    ATUNE_BUDGET=${ATUNE_BUDGET:-120}; MMA_BUDGET=${MMA_BUDGET:-75}; STREAM_N=268435456
    RUN_TIME=${RUN_TIME:-"--min-time 1 --max-time 3"}; ENERGY_TIME=15
fi

log "device"
cat "${icd:-/nonexistent}/nvidia.icd" 2>/dev/null
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv > "$OUT/nvidia-smi.csv" 2>&1
"$CB" info > "$OUT/info.txt" 2>&1; tail -n 24 "$OUT/info.txt"
"$CB" list > "$OUT/list.txt" 2>&1; grep -E 'opencl|clblast' "$OUT/list.txt"

if want torchref; then
    log "PyTorch references (SDPA, matmul) on the same card"
    if [ "${DRY:-0}" = 1 ]; then
        echo "torchref: skipped in a rehearsal (needs PyTorch and a GPU)"
    else
        timeout -k 10 $(tmo 90) python3 scripts/torch_ref.py > "$OUT/torch-ref.csv" 2> "$OUT/torch-ref.err"
        echo "torchref exit $?"; cat "$OUT/torch-ref.csv"; tail -n 3 "$OUT/torch-ref.err"
    fi
fi

if want tune; then
    log "tune (budget ${TUNE_BUDGET}s)"
    export CHIPBENCH_TUNING="$OUT/opencl-tuning.csv"
    timeout -k 10 $(tmo $((TUNE_BUDGET + 30))) "$CB" tune --device "$DEV" --budget "$TUNE_BUDGET" \
        --shape ${SMALL}x${SMALL}x${SMALL} --shape ${MID}x${MID}x${MID} \
        --shape b=$ATTN_B,h=16,s=$((ATTN_L / 2)),d=128 \
        --out "$OUT/opencl-tuning.csv" > "$OUT/tune.txt" 2> "$OUT/tune-progress.txt"
    echo "tune exit $?"; cat "$OUT/tune.txt"
fi

if want tuneattn; then
    export CHIPBENCH_TUNING="$OUT/opencl-tuning.csv"
    for d in ${ATUNE_D:-128 64}; do
        b=$ATUNE_BUDGET
        [ "$d" = 64 ] && b=$((ATUNE_BUDGET / 3))
        log "tune attention d=$d (budget ${b}s)"
        timeout -k 10 $(tmo $((b + 40))) "$CB" tune --device "$DEV" --budget "$b" \
            --shape b=$((ATTN_B / 2 > 0 ? ATTN_B / 2 : 1)),h=16,s=$((ATTN_L / 2)),d=$d \
            --out "$OUT/opencl-tuning.csv" >> "$OUT/tune.txt" 2>> "$OUT/tune-progress.txt"
        echo "tune d=$d exit $?"
    done
    cat "$OUT/tune.txt"
    grep -E 'default|rejected' "$OUT/tune-progress.txt" | head -n 12
fi

if want tunemma; then
    export CHIPBENCH_TUNING="$OUT/opencl-tuning.csv"
    for k in gemm_bf16_opencl gemm_tf32_opencl; do
        b=$MMA_BUDGET
        [ "$k" = gemm_tf32_opencl ] && b=$((MMA_BUDGET / 2))
        log "tune $k (budget ${b}s)"
        timeout -k 10 $(tmo $((b + 60))) "$CB" tune --device "$DEV" --kernel "$k" --budget "$b" \
            --shape ${MID}x${MID}x${MID} --out "$OUT/opencl-tuning.csv" >> "$OUT/tune.txt" \
            2>> "$OUT/tune-progress.txt"
        echo "tune $k exit $?"
    done
    grep -E 'gemm_(bf16|tf32)_opencl|WM=' "$OUT/tune.txt" | tail -n 4
fi

if want gemm; then
    log "gemm: ours vs CLBlast"
    cbrun gemm 300 - \
        --kernel "${GEMM_KERNELS:-gemm_f32_opencl,gemm_f16_opencl,gemm_bf16_opencl,gemm_tf32_opencl,gemm_f32_clblast,gemm_*_cublas}" \
        --shape ${BIG}x${BIG}x${BIG} --shape ${MID}x${MID}x${MID} --shape ${MID}x${MID}x${MID}:nt \
        --shape ${MID}x${MID}x${MID}:tn --shape ${SMALL}x${SMALL}x${SMALL} \
        $RUN_TIME --csv "$OUT/gpu-gemm.csv"
fi

if want attn; then
    # B=8 H=16 L=4096 D=128 (rehearsals: smaller): causal 0, causal 1, causal 1 with Hkv 4
    A0=b=$ATTN_B,h=16,kvh=16,s=$ATTN_L,d=128,causal=0
    A1=b=$ATTN_B,h=16,kvh=16,s=$ATTN_L,d=128,causal=1
    A1G=b=$ATTN_B,h=16,kvh=4,s=$ATTN_L,d=128,causal=1
    log "attention forward and backward"
    cbrun attention 200 - \
        --kernel 'attn_f32_opencl,attn_bwd_f32_opencl,attn_bf16_opencl,attn_bwd_bf16_opencl' \
        --shape $A0 --shape $A1 --shape $A1G $RUN_TIME --csv "$OUT/gpu-attn.csv"
    log "bf16 attention, the other fragment path: forward LDM=0, backward LDM=1"
    cbrun "attention fwd ldm0" 60 CHIPBENCH_CL_MMA_ATTN=LDM=0 --kernel attn_bf16_opencl \
        --shape $A0 $RUN_TIME --csv "$OUT/gpu-attn-bf16-ldm0.csv"
    cbrun "attention fwd cpa" 60 CHIPBENCH_CL_MMA_ATTN=LDM=1,CPA=1 --kernel attn_bf16_opencl \
        --shape $A0 --shape $A1 $RUN_TIME --csv "$OUT/gpu-attn-bf16-cpa.csv"
    cbrun "attention bwd ldm1" 120 CHIPBENCH_CL_MMA_ATTN=LDM=1 --kernel attn_bwd_bf16_opencl \
        --shape $A0 --shape $A1 $RUN_TIME --csv "$OUT/gpu-attn-bwd-bf16-ldm1.csv"
    log "attention forward, rows variant default forced (same run)"
    cbrun "attention rows" 60 CHIPBENCH_CL_ATTN=BQ=32,BK=32,TX=16,RQ=4,PAD=4 \
        --kernel attn_f32_opencl --shape $A0 $RUN_TIME --csv "$OUT/gpu-attn-rows.csv"
fi

if want training; then
    log "training step shapes (gpt2-124m) and stream, for chipbench cost"
    cbrun training 240 - --suite training --model "${MODEL:-gpt2-124m}" \
        --kernel '*_f32_opencl' $RUN_TIME --csv "$OUT/gpu-training.csv"
    cbrun stream 60 - --op stream --kernel stream_f32_opencl --shape stream:n=$STREAM_N \
        $RUN_TIME --csv "$OUT/gpu-stream.csv"
fi

if want bf16; then
    for model in ${MODELS:-gpt2-124m llama3.2-1b}; do
        [ "$(left)" -gt 40 ] || { log "skipped bf16 $model: the budget is spent"; break; }
        log "bf16 training step shapes ($model)"
        cbrun "bf16 $model" 240 - --suite training --model "$model" \
            --kernel 'gemm_bf16_opencl,gemm_bf16_cublas,attn_bf16_opencl,attn_bwd_bf16_opencl' \
            $RUN_TIME --csv "$OUT/gpu-training-bf16-$model.csv"
    done
fi

if want regs; then
    log "attention forward build reports (-cl-nv-verbose)"
    for p in "" "tiles:BQ=64,BK=128,TK=8,TV=8,RM=8,RS=8,PAD=4" \
             "tiles:BQ=64,BK=128,TK=8,TV=8,RM=8,RS=8,PAD=4,REG=168" \
             "tiles:BQ=64,BK=128,TK=8,TV=8,RM=8,RS=8,PAD=4,REG=128"; do
        echo "== CHIPBENCH_CL_ATTN='$p'" >> "$OUT/cl-build.txt"
        CHIPBENCH_CL_ATTN="$p" CHIPBENCH_CL_BUILD_OPTS=-cl-nv-verbose CHIPBENCH_CL_BUILD_LOG=1 \
            timeout -k 10 $(tmo 60) "$CB" run --device "$DEV" --kernel attn_f32_opencl --threads 1 \
            --shape b=1,h=4,s=256,d=128 --min-time 0.05 --max-time 0.1 >> "$OUT/cl-build.txt" 2>&1
    done
    grep -E '^==|ptxas|registers|spill|cl-build' "$OUT/cl-build.txt" | cut -c1-300 | head -n 40
fi

if want energy; then
    log "energy: one long GEMM row, nvidia-smi sampling power every 50 ms beside it"
    smi_pid=
    if command -v nvidia-smi >/dev/null 2>&1; then
        nvidia-smi --query-gpu=timestamp,power.draw --format=csv,noheader,nounits -lms 50 \
            > "$OUT/smi-power.csv" 2>&1 &
        smi_pid=$!
    fi
    date -u +%s.%N > "$OUT/energy-window.txt"
    cbrun energy 120 - --kernel gemm_f32_opencl --shape ${BIG}x${BIG}x${BIG} --warmup 2 \
        --min-time $ENERGY_TIME --max-time $ENERGY_TIME --max-noise 0 --csv "$OUT/gpu-energy.csv"
    date -u +%s.%N >> "$OUT/energy-window.txt"
    [ -n "$smi_pid" ] && kill "$smi_pid" 2>/dev/null
fi
pack
log "done"
