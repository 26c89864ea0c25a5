#!/bin/sh
# test_cli.sh: the command line as a user meets it: usage errors give a
# clear message and exit 2, I/O errors exit 1 before any work, a real run
# writes a valid CSV, and Ctrl-C mid-run keeps every finished row.
# Runs with CHIPBENCH=path/to/chipbench from the repository root.
set -u
CB=${CHIPBENCH:-build/chipbench}
tmp=$(mktemp -d /tmp/cb_cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0; skip=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1: $2"; }

# expect NAME EXIT_CODE 'stderr/stdout substring' -- command...
expect() {
    name=$1; code=$2; want=$3; shift 3
    out=$("$@" 2>&1); rc=$?
    if [ "$rc" -ne "$code" ]; then ko "$name" "exit $rc, wanted $code; output: $(printf '%s' "$out" | head -n 3)"; return; fi
    case $out in *"$want"*) ok "$name";; *) ko "$name" "output lacks '$want': $(printf '%s' "$out" | head -n 3)";; esac
}

fast="--max-time 0.05 --min-time 0.01 --warmup 0"
expect no_args 2 "usage: chipbench" "$CB"
expect help 0 "usage: chipbench" "$CB" --help
expect unknown_command 2 "unknown command 'frobnicate'" "$CB" frobnicate
expect run_help 0 "--max-noise" "$CB" run --help
expect unknown_flag 2 "unknown option '--bogus'" "$CB" run --bogus
expect missing_value 2 "--shape needs a value" "$CB" run --shape
expect malformed_shape 2 "GEMM shape is MxNxK" "$CB" run --shape 10x10
for sh in 8x8x8x x8x8x8 8xx8x8; do
    expect "empty_dim_$sh" 2 "GEMM shape is MxNxK" "$CB" run --shape "$sh"
done
expect bad_ld 2 "leading dimension" "$CB" run --shape 8x8x8,lda=4
expect bad_attention 2 "multiple of kvh" "$CB" run --shape b=1,h=3,kvh=2,s=8,d=8
expect zero_threads 2 "--threads" "$CB" run --threads 0
expect junk_threads 2 "not an integer" "$CB" run --threads 2x
expect bad_noise 2 "--max-noise" "$CB" run --max-noise -1
expect bad_rounds 2 "--rounds" "$CB" run --rounds 0
expect many_rounds 2 "--rounds" "$CB" run --rounds 101
expect bad_suite 2 "unknown suite 'huge'" "$CB" run --suite huge
expect bad_op 2 "unknown op 'conv'" "$CB" run --op conv
expect no_kernel 2 "matches no kernel" "$CB" run --kernel 'nope*'
expect op_mismatch 2 "no selected kernel fits" "$CB" run --op attention --shape 8x8x8
expect bad_isa_cap 2 "CHIPBENCH_ISA" env CHIPBENCH_ISA=avx9000 "$CB" run --shape 8x8x8
expect csv_unwritable 1 "cannot write results" "$CB" run --kernel gemm_f32_ref --shape 8x8x8 --csv "$tmp/no/such/dir/x.csv"
expect list 0 "gemm_f32_ref" "$CB" list
expect list_extra 2 "unexpected argument" "$CB" list extra
expect info 0 "chip class" "$CB" info
expect info_bad 2 "" "$CB" info --bogus

if command -v python3 >/dev/null 2>&1; then
    out=$("$CB" info --json 2>&1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print("ok")' 2>&1)
    [ "$out" = ok ] && ok info_json || ko info_json "$out"
else
    skip=$((skip + 1)); echo "SKIP info_json: no python3"
fi

# OpenBLAS on narrower vectors than the CPU has is said, once, and kept in
# the row's note: forced to its SSE core here, on any CPU with AVX2.
if "$CB" list 2>/dev/null | grep -q '^gemm_f32_openblas .* yes' &&
    "$CB" info 2>/dev/null | grep -q 'ISA usable .* avx2'; then
    expect blas_core_note 0 "note: OpenBLAS runs its Prescott core (SSE)" \
        env OPENBLAS_CORETYPE=Prescott "$CB" run --kernel gemm_f32_openblas --shape 8x8x8 \
        --threads 1 $fast --csv "$tmp/blas.csv"
    grep -q 'OPENBLAS_CORETYPE=' "$tmp/blas.csv" && ok blas_core_note_csv ||
        ko blas_core_note_csv "the row's note lacks the core check"
else
    skip=$((skip + 2)); echo "SKIP blas_core_note: no OpenBLAS kernel or no AVX2 here"
fi

# A real run: 2 GEMM shapes + 1 attention shape at threads 1 and 2 (an
# explicit list), reference kernels only: the 2-thread rows are visible skips.
expect real_run 0 "6 rows: 3 ok, 3 skipped, 0 failed" "$CB" run --kernel gemm_f32_ref,attn_f32_ref \
    --shape 17x9x33:tn --shape b=1,h=2,kvh=1,s=16,d=8,causal=1 --shape 8x8x8 --threads 1,2 \
    $fast --csv "$tmp/a.csv"
rows=$(awk 'END { print NR - 1 }' "$tmp/a.csv" 2>/dev/null)
[ "${rows:-0}" -eq 6 ] && ok real_run_rows || ko real_run_rows "CSV has ${rows:-no} rows"
head -n 1 "$tmp/a.csv" | grep -q '^schema_version,timestamp_utc,' && ok csv_header || ko csv_header "bad header"
ls -a "$tmp" | grep -q '^\.a\.csv\.' && ko no_temp_left "temporary file left" || ok no_temp_left

# Ctrl-C mid-run: exit 130, valid CSV holding every finished row.
"$CB" run --kernel gemm_f32_ref --shape 64x64x64 --shape 65x65x65 --shape 66x66x66 \
    --shape 67x67x67 --shape 68x68x68 --shape 69x69x69 --threads 1 --max-time 0.7 --min-time 0.7 \
    --max-noise 0 --csv "$tmp/int.csv" >"$tmp/int.out" 2>&1 &
pid=$!
n=0
while [ "$n" -lt 300 ]; do
    rows=$(awk 'END { print NR - 1 }' "$tmp/int.csv" 2>/dev/null)
    [ "${rows:-0}" -ge 2 ] && break
    sleep 0.1; n=$((n + 1))
done
kill -INT "$pid"
wait "$pid"; rc=$?
rows=$(awk 'END { print NR - 1 }' "$tmp/int.csv" 2>/dev/null)
printed=$(grep -c '^gemm_f32_ref .* ok$' "$tmp/int.out")
if [ "$rc" -eq 130 ] && [ "${rows:-0}" -ge 2 ] && [ "${rows:-0}" -lt 6 ] && [ "$rows" -eq "$printed" ] &&
    grep -q "interrupted" "$tmp/int.out"; then
    ok sigint_keeps_rows
else
    ko sigint_keeps_rows "exit $rc, rows ${rows:-none}, printed $printed: $(tail -n 2 "$tmp/int.out")"
fi
if command -v python3 >/dev/null 2>&1; then
    out=$(python3 - "$tmp/int.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
assert all(len(r) == len(rows[0]) for r in rows), "ragged"
assert all(r[rows[0].index("status")] == "ok" for r in rows[1:]), "bad status"
print("ok")
PY
)
    [ "$out" = ok ] && ok sigint_csv_valid || ko sigint_csv_valid "$out"
fi

# --rounds: the kernels of a shape round-robin, each row holding every
# round's median; the ratio is the median of the rounds' ratios, in `run`'s
# table and in scripts/ratios.py.
if "$CB" list | grep -q '^gemm_f32_openblas .* yes' && command -v python3 >/dev/null 2>&1; then
    out=$("$CB" run --kernel gemm_f32_ref,gemm_f32_openblas --shape 24x24x24 --shape 7x9x5 \
          --threads 1 --rounds 3 $fast --power off --csv "$tmp/rounds.csv" 2>&1); rc=$?
    case $out in
    *"round 3/3"*"median over 3 rounds"*) [ "$rc" -eq 0 ] && ok rounds_run || ko rounds_run "exit $rc" ;;
    *) ko rounds_run "output: $(printf '%s' "$out" | tail -n 3)" ;;
    esac
    out=$(python3 - "$tmp/rounds.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert len(rows) == 4, len(rows)
for r in rows:
    assert r["status"] == "ok" and r["rounds"] == "3", (r["kernel"], r["rounds"])
    rm = [float(x) for x in r["round_medians_ns"].split()]
    assert len(rm) == 3 and all(x > 0 for x in rm), rm
    s = [float(x) for x in r["samples_ns"].split()]
    assert min(s) <= min(rm) and max(rm) <= max(s), "round medians outside the samples"
    assert len(s) == int(r["samples"]), "samples column"
# The order alternates, so rows stay in registry order within a shape.
assert [r["kernel"] for r in rows[:2]] == ["gemm_f32_ref", "gemm_f32_openblas"]
print("ok")
PY
)
    [ "$out" = ok ] && ok rounds_csv || ko rounds_csv "$out"
    expect ratios_script 0 "median over 1 file" python3 scripts/ratios.py "$tmp/rounds.csv"
    expect ratios_target 1 "below 1e+09" python3 scripts/ratios.py --target 1e9 "$tmp/rounds.csv"
    expect ratios_bad_csv 2 "not a chipbench result CSV" python3 scripts/ratios.py /etc/hostname
    expect ratios_min 0 "fastest sample" python3 scripts/ratios.py --stat min "$tmp/rounds.csv"
    expect ratios_bad_stat 2 "--stat is median or min" python3 scripts/ratios.py --stat mean "$tmp/rounds.csv"
else
    skip=$((skip + 1)); echo "SKIP rounds_run: no OpenBLAS baseline or no python3"
fi

# Ctrl-C in a later round: the row keeps the rounds it finished.
"$CB" run --kernel gemm_f32_ref --shape 64x64x64 --shape 65x65x65 --threads 1 --rounds 4 \
    --max-time 0.4 --min-time 0.4 --max-noise 0 --power off --csv "$tmp/intr.csv" >"$tmp/intr.out" 2>&1 &
pid=$!
n=0
while [ "$n" -lt 300 ] && ! grep -q "round 3/4" "$tmp/intr.out" 2>/dev/null; do
    sleep 0.1; n=$((n + 1))
done
kill -INT "$pid"
wait "$pid"; rc=$?
# Quoted cells hold commas (build_flags under the sanitizers): python's csv.
rounds=$(python3 -c 'import csv, sys
print(" ".join(r["rounds"] for r in csv.DictReader(open(sys.argv[1], newline=""))))' \
         "$tmp/intr.csv" 2>&1)
if ! command -v python3 >/dev/null 2>&1; then
    skip=$((skip + 1)); echo "SKIP sigint_rounds_keeps_row: no python3"
elif [ "$rc" -eq 130 ] && { [ "$rounds" = 2 ] || [ "$rounds" = 3 ]; }; then
    ok sigint_rounds_keeps_row
else
    ko sigint_rounds_keeps_row "exit $rc, rounds '${rounds:-none}': $(tail -n 2 "$tmp/intr.out")"
fi

# The CI wrapper: Markdown out, compare's exit status through.
cp "$tmp/a.csv" "$tmp/b.csv"
expect regression_check_same 0 "no significant regression" sh scripts/regression-check.sh "$tmp/a.csv" "$tmp/b.csv"
expect regression_check_usage 2 "usage" sh scripts/regression-check.sh "$tmp/a.csv"
expect compare_help 0 "--normalize-to" "$CB" compare --help
# Interleaved A/B runs: the mechanics (one CSV per run and side, the gate on
# run medians); the verdict itself is random here, so only 0 or 1 passes.
out=$(sh scripts/ab-runs.sh "$CB" "$CB" 2 "$tmp/ab" --kernel gemm_f32_ref --shape 24x24x24 \
      $fast --power off 2>&1); rc=$?
if [ "$rc" -le 1 ] && [ -s "$tmp/ab/base/run1.csv" ] && [ -s "$tmp/ab/base/run2.csv" ] &&
   [ -s "$tmp/ab/new/run1.csv" ] && [ -s "$tmp/ab/new/run2.csv" ]; then
    case $out in *"2 base runs, 2 new runs, Welch t"*"round 2/2, new"*|*"round 2/2, new"*"2 base runs, 2 new runs, Welch t"*) ok ab_runs;;
                 *) ko ab_runs "output: $(printf '%s' "$out" | tail -n 3)";; esac
else
    ko ab_runs "exit $rc; $(printf '%s' "$out" | tail -n 3)"
fi
expect ab_runs_one_run 2 "at least 2" sh scripts/ab-runs.sh "$CB" "$CB" 1 "$tmp/ab1"
expect ab_runs_bad_bin 2 "not an executable" sh scripts/ab-runs.sh "$tmp/none" "$CB" 3 "$tmp/ab2"

# OpenCL: missing devices are skips with a reason, never failures; `tune`
# verifies, saves and `run` picks the entry up.
if "$CB" list | grep -q '^gemm_f32_opencl .* yes'; then
    empty=$(mktemp -d "$tmp/icd.XXXXXX")
    expect ocl_no_platform 0 "1 rows: 0 ok, 1 skipped, 0 failed" env OCL_ICD_VENDORS="$empty" \
        "$CB" run --kernel gemm_f32_opencl --shape 8x8x8 $fast
    expect ocl_no_platform_info 0 "chip class" env OCL_ICD_VENDORS="$empty" "$CB" info
    expect ocl_no_platform_tune 1 "OpenCL" env OCL_ICD_VENDORS="$empty" "$CB" tune --budget 1 \
        --out "$tmp/none.csv"
    expect ocl_bad_device 0 "no OpenCL device name, vendor or platform contains 'nosuchgpu'" \
        "$CB" run --kernel gemm_f32_opencl --device nosuchgpu --shape 8x8x8 $fast
    expect tune_bad_budget 2 "--budget" "$CB" tune --budget 0
    expect tune_bad_shape 2 "not a GEMM or attention shape" "$CB" tune --shape stream:n=64
    expect tune_bad_op 2 "--op is gemm, attention or all" "$CB" tune --op conv
    expect tune_op_shape_mismatch 2 "attention shapes but --op leaves them out" "$CB" tune \
        --op gemm --shape b=1,h=1,s=4,d=4
    expect tune_saves 0 "saved 1 entry to $tmp/tune.csv" "$CB" tune --budget 2 --shape 48x40x33 \
        --out "$tmp/tune.csv"
    params=$(awk -F, 'NR == 2 { print $0 }' "$tmp/tune.csv" | sed 's/.*"\([a-z]*:[^"]*\)".*/\1/')
    expect tune_used_by_run 0 "1 ok" env CHIPBENCH_TUNING="$tmp/tune.csv" "$CB" run \
        --kernel gemm_f32_opencl --shape 48x40x33 $fast --csv "$tmp/tuned.csv"
    if grep -q "$params, tuned ($tmp/tune.csv)" "$tmp/tuned.csv"; then ok tune_entry_in_csv
    else ko tune_entry_in_csv "device column lacks '$params, tuned': $(cut -c1-300 "$tmp/tuned.csv" | tail -n 1)"; fi
    # Attention: one class per head dim, picked up by the forward kernel.
    expect tune_attn_saves 0 "saved 1 entry to $tmp/tune-attn.csv" "$CB" tune --budget 3 \
        --shape b=1,h=2,s=40,d=24,causal=1 --out "$tmp/tune-attn.csv"
    aparams=$(awk 'NR == 2' "$tmp/tune-attn.csv" | sed 's/.*"\(BQ=[^"]*\)".*/\1/')
    expect tune_attn_used_by_run 0 "1 ok" env CHIPBENCH_TUNING="$tmp/tune-attn.csv" "$CB" run \
        --kernel attn_f32_opencl --shape b=2,h=4,kvh=2,s=33,d=24 $fast --csv "$tmp/tuned-attn.csv"
    if grep -q "attn_f32_opencl,d24,\"$aparams\"" "$tmp/tune-attn.csv" &&
       grep -q "$aparams, tuned ($tmp/tune-attn.csv)" "$tmp/tuned-attn.csv"; then ok tune_attn_entry
    else ko tune_attn_entry "entry '$aparams' not saved as d24 or not used: $(cat "$tmp/tune-attn.csv")"; fi
    # The matrix-unit GEMM's space (warp tile, ldmatrix, cp.async), on the
    # emulated instructions: the winner is saved under its kernel and used.
    expect tune_mma_saves 0 "saved 1 entry to $tmp/tune-mma.csv" env CHIPBENCH_CL_MMA=emulate \
        "$CB" tune --kernel gemm_bf16_opencl --budget 3 --shape 40x36x50 --out "$tmp/tune-mma.csv"
    mparams=$(awk 'NR == 2' "$tmp/tune-mma.csv" | sed 's/.*"\(WM=[^"]*\)".*/\1/')
    expect tune_mma_used_by_run 0 "1 ok" env CHIPBENCH_CL_MMA=emulate \
        CHIPBENCH_TUNING="$tmp/tune-mma.csv" "$CB" run --kernel gemm_bf16_opencl \
        --shape 40x36x50:nt $fast --csv "$tmp/tuned-mma.csv"
    if grep -q "gemm_bf16_opencl,s,\"$mparams\"" "$tmp/tune-mma.csv" &&
       grep -q "$mparams, tuned ($tmp/tune-mma.csv)" "$tmp/tuned-mma.csv"; then ok tune_mma_entry
    else ko tune_mma_entry "entry '$mparams' not saved or not used: $(cat "$tmp/tune-mma.csv")"; fi
    expect tune_bad_kernel 2 "is not tunable" "$CB" tune --kernel gemm_f32_ref --budget 1
else
    skip=$((skip + 1)); echo "SKIP opencl_cli: no OpenCL device here"
fi

# cuBLAS (loaded at run time): a missing library or device is a skipped row
# with the reason; with the fake library (tests/fake_cuda.c) rows are ok and
# the CSV names the backend.
expect cublas_no_lib 0 "CUDA runtime not found (CHIPBENCH_CUDART_LIB=$tmp/none.so" \
    env CHIPBENCH_CUDART_LIB="$tmp/none.so" "$CB" run --kernel gemm_f32_cublas --shape 8x8x8 $fast
fake=$(dirname "$CB")/tests/libfake_cuda.so
if [ -r "$fake" ]; then
    expect cublas_no_device 0 "no CUDA device" env CHIPBENCH_CUDART_LIB="$fake" \
        CHIPBENCH_CUBLAS_LIB="$fake" FAKE_CUDA_DEVICES=0 "$CB" list
    expect cublas_fake_rows 0 "3 rows: 3 ok" env CHIPBENCH_CUDART_LIB="$fake" \
        CHIPBENCH_CUBLAS_LIB="$fake" "$CB" run --kernel 'gemm_*_cublas' --shape 24x20x28:nt $fast \
        --csv "$tmp/cublas.csv"
    if grep -q ',gemm_bf16_cublas,gemm,bf16,cublas,' "$tmp/cublas.csv" &&
       grep -q ',gemm_tf32_cublas,gemm,tf32,cublas,' "$tmp/cublas.csv"; then ok cublas_csv
    else ko cublas_csv "$(cut -c1-300 "$tmp/cublas.csv" | tail -n 1)"; fi
else
    skip=$((skip + 1)); echo "SKIP cublas_fake: $fake not built"
fi

# cost: model presets and files, bad input, the fit check, the training suite.
expect cost_explain 0 "check:  6 N tokens + attention" "$CB" cost --model gpt2-124m --explain
expect cost_unknown_model 2 "unknown model 'gpt9'" "$CB" cost --model gpt9 --explain
printf 'n_layer = 2\nd_model = 100\nn_head = 3\nd_ff = 8\nvocab = 8\nctx = 8\nmlp = gelu\ntied = 1\n' > "$tmp/bad.model"
expect cost_bad_model 2 "n_head 3 does not divide d_model 100" "$CB" cost --model "$tmp/bad.model" --explain
printf 'n_layer = 2\nwidth = 8\n' > "$tmp/bad2.model"
expect cost_unknown_key 2 "bad2.model:2: unknown key 'width'" "$CB" cost --model "$tmp/bad2.model" --explain
expect cost_seq_too_long 2 "seq 4096 in [1, 1024] (the model's context)" "$CB" cost --model gpt2-124m --seq 4096 --explain
expect cost_batch_too_big 2 "batch 2000000 must be in [1, 1048576]" "$CB" cost --model gpt2-124m --batch 2000000 --explain
expect cost_needs_from 2 "give --from" "$CB" cost --model gpt2-124m
expect cost_bad_csv 2 "nope.csv: cannot open" "$CB" cost --model gpt2-124m --from "$tmp/nope.csv"
printf 'chip_class,kernel,op,dtype,status,threads,time_ns_median,trans,m,n,k,lda,ldb,ldc,alpha,beta,batch,heads,kv_heads,seq_q,seq_kv,head_dim,causal,gflops\nchip:x,k,gemm,f32,ok,1,1000,nn,4096,2304,768,768,2304,2304,1,0,,,,,,,,100\n' > "$tmp/one.csv"
expect cost_missing_listed 0 "missing: gemm          4096x768x768:nn" "$CB" cost --model gpt2-124m --from "$tmp/one.csv" --bandwidth 10
# A real stream row (the ref kernel, tiny n) in a result CSV sets chip:x's bandwidth.
"$CB" run --op stream --kernel stream_f32_ref --shape stream:n=4096 --power off --max-time 0.2 --min-time 0.05 --csv "$tmp/stream.csv" >/dev/null 2>&1
expect cost_stream_bw 0 "from stream rows: stream_f32_ref stream:n=4096" "$CB" cost --model gpt2-124m --from "$tmp/stream.csv"
expect cost_user_bw_wins 0 "--bandwidth, given by the user" "$CB" cost --model gpt2-124m --from "$tmp/stream.csv" --bandwidth 10
expect run_stream_bad_shape 2 "stream needs n" "$CB" run --op stream --shape stream:
expect cost_no_fit 1 "fits on none of these chips" "$CB" cost --model llama3-8b --from "$tmp/one.csv" --memory-gb 16
for v in 2,,8 ,8 8, 0 x; do
    expect "cost_bad_chips_$v" 2 "--chips needs" "$CB" cost --model gpt2-124m --from "$tmp/one.csv" \
        --chips "$v" --allreduce-busbw 1
done
expect cost_breakdown 0 "timed with (shapes): k 1" "$CB" cost --model gpt2-124m \
    --from "$tmp/one.csv" --breakdown
expect cost_csv 0 "1 of 17 distinct shapes measured" "$CB" cost --model gpt2-124m --from "$tmp/one.csv" --csv "$tmp/cost.csv"
if head -n 1 "$tmp/cost.csv" | grep -q '^model,batch,seq,dtype,chip_class,'; then ok cost_csv_header
else ko cost_csv_header "$(head -n 1 "$tmp/cost.csv")"; fi
printf 'n_layer = 2\nd_model = 16\nn_head = 2\nd_ff = 32\nvocab = 40\nctx = 8\nmlp = gelu\ntied = 1\n' > "$tmp/tiny.model"
expect run_training_needs_model 2 "--suite training needs --model" "$CB" run --suite training
expect run_training_shapes 0 "counted 2 times" "$CB" run --suite training --model "$tmp/tiny.model" \
    --kernel gemm_f32_ref --threads 1 $fast

echo "test_cli: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
