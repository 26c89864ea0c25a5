#!/bin/sh
# device_gpu.sh: the one prepared run on a lent GPU machine (see
# scripts/device_pack.sh for what must be carried there). It registers
# NVIDIA's OpenCL driver with the ICD loader we carry, records the device,
# autotunes the OpenCL GEMM within a fixed budget (every candidate verified
# against float64 first), then benchmarks our kernels against CLBlast on the
# same device in one run and writes CSVs and the tuning file to $OUT.
# Budget: about 7 minutes in all; each step has its own timeout so a hang in
# one cannot eat the others.
#   DRY=1 sh scripts/device_gpu.sh   rehearses it here on PoCL with small sizes.
set -u
OUT=${OUT:-/tmp/chipbench-device}
mkdir -p "$OUT"
CB=${CB:-build-dev/chipbench}
export LD_LIBRARY_PATH="$PWD/devlibs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CHIPBENCH_TUNING="$OUT/opencl-tuning.csv"
log() { echo "== $(date -u +%H:%M:%S) $*"; }

if [ "${DRY:-0}" = 1 ]; then
    DEV=${DEV:-pthread}
    BIG=512; MID=256; SMALL=128; TUNE_BUDGET=20; ATTN_L=256; ATTN_B=1
    RUN_TIME="--min-time 0.2 --max-time 0.5"
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
    DEV=${DEV:-NVIDIA}
    BIG=8192; MID=4096; SMALL=1024; TUNE_BUDGET=${TUNE_BUDGET:-140}; ATTN_L=4096; ATTN_B=8
    RUN_TIME="--min-time 1 --max-time 3"
fi

log "device"
cat "${icd:-/nonexistent}/nvidia.icd" 2>/dev/null
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv > "$OUT/nvidia-smi.csv" 2>&1
"$CB" info > "$OUT/info.txt" 2>&1; tail -n 12 "$OUT/info.txt"
"$CB" list > "$OUT/list.txt" 2>&1; grep -E 'opencl|clblast' "$OUT/list.txt"

log "tune (budget ${TUNE_BUDGET}s)"
timeout $((TUNE_BUDGET + 30)) "$CB" tune --device "$DEV" --budget "$TUNE_BUDGET" \
    --shape ${SMALL}x${SMALL}x${SMALL} --shape ${MID}x${MID}x${MID} \
    --out "$OUT/opencl-tuning.csv" > "$OUT/tune.txt" 2> "$OUT/tune-progress.txt"
echo "tune exit $?"; cat "$OUT/tune.txt"

log "gemm: ours vs CLBlast"
timeout 200 "$CB" run --device "$DEV" --kernel gemm_f32_opencl,gemm_f32_clblast --threads 1 \
    --shape ${BIG}x${BIG}x${BIG} --shape ${MID}x${MID}x${MID} --shape ${MID}x${MID}x${MID}:nt \
    --shape ${MID}x${MID}x${MID}:tn --shape ${SMALL}x${SMALL}x${SMALL} \
    $RUN_TIME --csv "$OUT/gpu-gemm.csv" 2>&1 | grep -v '^\['
echo "gemm exit $?"

if grep -q '^attn_f32_opencl .* yes' "$OUT/list.txt"; then
    log "attention"
    timeout 90 "$CB" run --device "$DEV" --kernel attn_f32_opencl --threads 1 \
        --shape b=$ATTN_B,h=16,kvh=16,s=$ATTN_L,d=128,causal=0 \
        --shape b=$ATTN_B,h=16,kvh=16,s=$ATTN_L,d=128,causal=1 \
        --shape b=$ATTN_B,h=16,kvh=4,s=$ATTN_L,d=128,causal=1 \
        $RUN_TIME --csv "$OUT/gpu-attn.csv" 2>&1 | grep -v '^\['
    echo "attention exit $?"
fi
log "done"
