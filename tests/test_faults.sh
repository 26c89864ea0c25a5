#!/bin/sh
# test_faults.sh: faults, bad input and untrusted text, as a user or CI meets
# them (issue 9): a full disk or read-only results folder, SIGTERM and a
# second signal mid-run, shapes too large for memory, OpenCL and power-counter
# faults, every command-line option with malformed values, malformed input
# files, and outside text that reaches a CSV. Every case checks the exit
# status, a one-line error naming the problem, and that no result is lost or
# half-written. tests/test_faults.c holds the in-process half (the CSV
# writer's guard and UTF-8 rules, devices as targets, number parsing).
#
# What it is not: the basic CLI cases (test_cli.sh: unknown options, SIGINT,
# unwritable directory) or the fuzzers (tests/fuzz).
# Runs with CHIPBENCH=path/to/chipbench from the repository root. Cases that
# need root and mount namespaces (unshare) are skipped without them.
set -u
CB=${CHIPBENCH:-build/chipbench}
tmp=$(mktemp -d /tmp/cb_faults.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
CHIPBENCH_POWER=off
CHIPBENCH_TUNING=${CHIPBENCH_TUNING:-$tmp/tuning.csv}  # never the user's file
export CHIPBENCH_POWER CHIPBENCH_TUNING
pass=0; fail=0; skip=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
sk() { skip=$((skip + 1)); echo "SKIP $1: $2"; }
first() { printf '%s' "$1" | head -n 3 | cut -c1-300; }

# expect NAME EXIT_CODE 'substring' -- command...
expect() {
    name=$1; code=$2; want=$3; shift 3
    out=$("$@" 2>&1); rc=$?
    if [ "$rc" -ne "$code" ]; then ko "$name" "exit $rc, wanted $code: $(first "$out")"; return; fi
    case $out in *"$want"*) ok "$name";; *) ko "$name" "output lacks '$want': $(first "$out")";; esac
}

# bad NAME 'substring' -- command...: a usage or input error: exit 2, one
# line on stderr holding the substring, nothing on stdout, no $tmp/out.csv.
bad() {
    name=$1; want=$2; shift 2
    rm -f "$tmp/out.csv"
    err=$("$@" 2>&1 >"$tmp/stdout"); rc=$?
    n=$(printf '%s\n' "$err" | wc -l)
    if [ "$rc" -ne 2 ]; then ko "$name" "exit $rc, wanted 2: $(first "$err")"
    elif [ "$n" -ne 1 ]; then ko "$name" "$n lines on stderr: $(first "$err")"
    elif [ -s "$tmp/stdout" ]; then ko "$name" "wrote to stdout: $(first "$(cat "$tmp/stdout")")"
    elif [ -e "$tmp/out.csv" ]; then ko "$name" "left an output file"
    else case $err in *"$want"*) ok "$name";; *) ko "$name" "error lacks '$want': $err";; esac
    fi
}

# valid_csv NAME FILE ROWS_MIN: the file loads as a result CSV (compare is the
# validator) and has at least ROWS_MIN rows.
valid_csv() {
    out=$("$CB" compare "$2" "$2" 2>&1); rc=$?
    rows=$(awk 'END { print NR - 1 }' "$2" 2>/dev/null)
    if [ "$rc" -eq 0 ] && [ "${rows:-0}" -ge "$3" ]; then ok "$1"
    else ko "$1" "compare exit $rc, ${rows:-no} rows: $(first "$out")"; fi
}

fast="--max-time 0.02 --min-time 0.01 --warmup 0 --threads 1"
run1="$CB run --kernel gemm_f32_ref --shape 8x8x8 $fast"
# The good results file every fault below must leave alone.
$CB run --kernel gemm_f32_ref --shape 8x8x8 --shape 9x9x9 $fast --csv "$tmp/good.csv" >/dev/null 2>&1
valid_csv good_csv "$tmp/good.csv" 2
# A root-only namespace helper: `ns_ok` when this shell may make mount
# namespaces (root, unshare present and permitted).
ns_ok=0
unshare -m true 2>/dev/null && ns_ok=1

# --- 1. Full disk, read-only folder, standard output ---------------------
# A device is written in place: /dev/full says so, and stays a device (a
# rename over it, as root, would have replaced the device node).
expect csv_dev_full 1 "write /dev/full: No space left on device" $run1 --csv /dev/full
[ -c /dev/full ] && ok dev_full_still_a_device || ko dev_full_still_a_device "$(ls -l /dev/full)"

# RLIMIT_FSIZE (works unprivileged; SIGXFSZ ignored, so write gets EFBIG as
# on a full disk): the header of the new file does not fit; the old one stays.
cp "$tmp/good.csv" "$tmp/keep.csv"
expect csv_fsize_open 1 "File too large" sh -c 'trap "" XFSZ; ulimit -f 1; exec "$@"' sh \
    $run1 --csv "$tmp/keep.csv"
cmp -s "$tmp/good.csv" "$tmp/keep.csv" && ok csv_fsize_keeps_old || ko csv_fsize_keeps_old "changed"
# Mid-run: the limit lets the header and one row through, not a second row:
# exit 1 with the reason, and the file holds the finished row, complete.
# (prlimit sets the limit in bytes; rows vary by a few bytes, the limit sits
# half a row above the first.)
hdr=$(head -n 1 "$tmp/good.csv" | wc -c)
row=$(sed -n 2p "$tmp/good.csv" | wc -c)
if command -v prlimit >/dev/null 2>&1; then
    lim=$((hdr + row * 3 / 2))
    expect csv_fsize_midrun 1 "File too large" sh -c 'trap "" XFSZ; exec prlimit --fsize="$@"' sh \
        "$lim:$lim" $CB run --kernel gemm_f32_ref --shape 8x8x8 --shape 9x9x9 --shape 10x10x10 \
        $fast --csv "$tmp/mid.csv"
    valid_csv csv_fsize_midrun_rows "$tmp/mid.csv" 1
else
    sk csv_fsize_midrun "no prlimit (util-linux)"
fi
ls -a "$tmp" | grep -q '^\.[a-z]*\.csv\.' && ko no_temp_files "a temporary file was left" || ok no_temp_files

# A read-only bind mount and a real full file system (a 64 KiB tmpfs): root
# ignores permissions, so chmod cannot make a folder read-only for us.
if [ "$ns_ok" -eq 1 ]; then
    mkdir -p "$tmp/ro" "$tmp/full"
    cp "$tmp/good.csv" "$tmp/ro/r.csv"
    expect csv_readonly_dir 1 "Read-only file system" unshare -m sh -c \
        'mount --bind -o ro "$1" "$1" && shift && exec "$@"' sh "$tmp/ro" $run1 --csv "$tmp/ro/r.csv"
    cmp -s "$tmp/good.csv" "$tmp/ro/r.csv" && ok csv_readonly_keeps_old || ko csv_readonly_keeps_old "changed"
    # Inside the namespace: fill the tmpfs around a good file, run, compare.
    out=$(unshare -m sh -c '
        d=$1; shift
        mount -t tmpfs -o size=64k tmpfs "$d" || exit 9
        cp "$0" "$d/r.csv" && cat /dev/zero > "$d/fill" 2>/dev/null
        "$@" --csv "$d/r.csv" 2>&1; rc=$?
        cmp -s "$0" "$d/r.csv" && echo "SAME" || echo "CHANGED"
        ls -a "$d" | grep -c "^\.r\.csv\." | sed "s/^/TEMPS /"
        exit $rc' "$tmp/good.csv" "$tmp/full" $run1)
    rc=$?
    case $out in
    *"No space left on device"*SAME*"TEMPS 0"*) [ "$rc" -eq 1 ] && ok csv_disk_full || ko csv_disk_full "exit $rc";;
    *) ko csv_disk_full "exit $rc: $(first "$out")";;
    esac
else
    sk csv_readonly_dir "needs root and unshare -m"
    sk csv_disk_full "needs root and unshare -m"
fi

# Results printed into a full disk are lost results: not exit 0.
expect stdout_full_compare 1 "cannot write standard output: No space left on device" sh -c \
    '"$@" > /dev/full' sh $CB compare "$tmp/good.csv" "$tmp/good.csv" --format json
expect stdout_full_run 1 "cannot write standard output" sh -c '"$@" > /dev/full' sh $run1
expect stdout_full_list 1 "cannot write standard output" sh -c '"$@" > /dev/full' sh $CB list
expect stdout_full_cost 1 "cannot write standard output" sh -c '"$@" > /dev/full' sh \
    $CB cost --model gpt2-124m --explain

# --- 2. SIGTERM, and a second signal while rows are being written ---------
"$CB" run --kernel gemm_f32_ref --shape 64x64x64 --shape 65x65x65 --shape 66x66x66 \
    --shape 67x67x67 --threads 1 --max-time 0.3 --min-time 0.3 --max-noise 0 --warmup 0 \
    --csv "$tmp/term.csv" >"$tmp/term.out" 2>&1 &
pid=$!
n=0
while [ "$n" -lt 200 ]; do
    rows=$(awk 'END { print NR - 1 }' "$tmp/term.csv" 2>/dev/null)
    [ "${rows:-0}" -ge 1 ] && break
    sleep 0.05; n=$((n + 1))
done
kill -TERM "$pid"
wait "$pid" 2>/dev/null; rc=$?
rows=$(awk 'END { print NR - 1 }' "$tmp/term.csv" 2>/dev/null)
if [ "$rc" -eq 130 ] && [ "${rows:-0}" -ge 1 ] && [ "${rows:-0}" -lt 4 ] && grep -q interrupted "$tmp/term.out"
then ok sigterm_keeps_rows; else ko sigterm_keeps_rows "exit $rc, ${rows:-no} rows"; fi
valid_csv sigterm_csv_valid "$tmp/term.csv" 1
# Many short rows, so publishes are frequent; the second signal kills at once
# (by design) and may land inside a publish: the file is still the previous
# complete version (temp file + rename).
shapes=""
for i in 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31; do
    shapes="$shapes --shape ${i}x${i}x${i}"
done
"$CB" run --kernel gemm_f32_ref $shapes --threads 1 --max-time 0.005 --min-time 0.001 \
    --warmup 0 --csv "$tmp/two.csv" >/dev/null 2>&1 &
pid=$!
n=0
while [ "$n" -lt 200 ]; do
    rows=$(awk 'END { print NR - 1 }' "$tmp/two.csv" 2>/dev/null)
    [ "${rows:-0}" -ge 2 ] && break
    sleep 0.02; n=$((n + 1))
done
kill -TERM "$pid"; kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null; rc=$?
if [ "$rc" -eq 130 ] || [ "$rc" -eq 143 ] || [ "$rc" -eq 0 ]; then ok second_signal_exit
else ko second_signal_exit "exit $rc"; fi
valid_csv second_signal_csv_valid "$tmp/two.csv" 2
# ... and leaves no temp file behind: the handler of the second signal removes
# the one of an interrupted publish before dying (cb_csv_signal_cleanup).
left=$(ls -A "$tmp" | grep '^\.two\.csv\.' || true)
if [ -z "$left" ]; then ok second_signal_no_temp_file
else ko second_signal_no_temp_file "left behind: $left"; fi

# --- 3. Shapes too large for memory, and sizes whose products overflow ----
# Refused before allocating, as skips with the memory they would need; the
# run goes on to the shape that fits. 2^30 on every side: 2^62 bytes per
# operand, past int64 in bytes for the three of them.
expect too_large_gemm 0 "needs 11175.87 GiB of buffers, the machine has" $CB run \
    --kernel gemm_f32_ref --shape 1000000x1000000x1000000 --shape 8x8x8 $fast
expect too_large_attention 0 "attention shape too large: needs" $CB run --kernel attn_f32_ref \
    --shape b=1,h=1,s=1073741824,d=1073741824 --shape b=1,h=1,s=8,d=8 $fast
expect too_large_overflow 0 "needs 1.29e+10 GiB for A, B and C" $CB run --kernel gemm_f32_ref \
    --shape 1073741824x1073741824x1073741824 --shape 8x8x8 $fast
expect too_large_in_csv 0 "2 rows: 1 ok, 1 skipped, 0 failed" $CB run --kernel gemm_f32_ref \
    --shape 8x8x8 --shape 1000000x1000000x1000000 $fast --csv "$tmp/big.csv"
if grep -q ',skipped,"needs 11175.87 GiB of buffers, the machine has .* GiB available' "$tmp/big.csv"
then ok too_large_row_in_csv; else ko too_large_row_in_csv "$(cut -c1-200 "$tmp/big.csv" | tail -n 2)"; fi
expect too_large_attn_bwd 0 "needs" $CB run --kernel attn_bwd_f32_ref \
    --shape b=1073741824,h=1073741824,kvh=1,s=4194304,d=4096 $fast
bad shape_past_int_range "must be an integer in" $CB run --shape 99999999999999999999x1x1

# --- 4. OpenCL faults, power counters -------------------------------------
# CHIPBENCH_CL_FAULT (kernels/opencl/clrt.c) makes one step fail as a lost or
# broken device does; the OpenCL row says why and the next rows still run.
if "$CB" list | grep -q '^gemm_f32_opencl .* yes'; then
    for f in open:0:"skipped: clCreateContext: -2 (CL_DEVICE_NOT_AVAILABLE)" \
             build:0:"skipped: OpenCL build of" \
             enqueue:0:"skipped: clEnqueueWriteBuffer: -5 (CL_OUT_OF_RESOURCES)" \
             finish:0:"skipped: clFinish: -5 (CL_OUT_OF_RESOURCES)"; do
        step=${f%%:*}; rest=${f#*:}; code=${rest%%:*}; want=${rest#*:}
        out=$(CHIPBENCH_CL_FAULT=$step "$CB" run --kernel gemm_f32_opencl,gemm_f32_ref \
            --shape 16x16x16 --shape 9x9x9 $fast --csv "$tmp/cl.csv" 2>&1); rc=$?
        later=$(printf '%s\n' "$out" | grep -c '^gemm_f32_ref .*9x9x9:nn .* ok$')
        case $out in
        *"$want"*) if [ "$rc" -eq "$code" ] && [ "$later" -eq 1 ]; then ok "opencl_fault_$step"
                   else ko "opencl_fault_$step" "exit $rc (wanted $code), later row ok: $later"; fi;;
        *) ko "opencl_fault_$step" "output lacks '$want': $(first "$out")";;
        esac
        valid_csv "opencl_fault_${step}_csv" "$tmp/cl.csv" 4
    done
else
    sk opencl_faults "no OpenCL device here"
fi

# A fake sysfs (CHIPBENCH_SYSFS_ROOT): a frozen RAPL counter, then an
# unreadable one. The rows are ok and timed; the note says why there is no
# energy.
rapl=$tmp/sys/sys/class/powercap/intel-rapl:0
mkdir -p "$rapl"
echo package-0 > "$rapl/name"
echo 7000000 > "$rapl/energy_uj"
echo 262143328850 > "$rapl/max_energy_range_uj"
pw="--power auto --power-window 0.02"
CHIPBENCH_SYSFS_ROOT=$tmp/sys $run1 $pw --csv "$tmp/pw.csv" >/dev/null 2>&1
if grep -q ',ok,"\{0,1\}power unavailable: rapl-powercap: counter did not advance' "$tmp/pw.csv"
then ok power_counter_frozen; else ko power_counter_frozen "$(tail -n 1 "$tmp/pw.csv" | cut -c1-300)"; fi
: > "$rapl/energy_uj.eacces"  # the fake tree's EACCES (root reads anything)
CHIPBENCH_SYSFS_ROOT=$tmp/sys $run1 $pw --csv "$tmp/pw.csv" >/dev/null 2>&1
if grep -q ',ok,"\{0,1\}power unavailable: no readable CPU package energy.*root-only' "$tmp/pw.csv"
then ok power_counter_unreadable; else ko power_counter_unreadable "$(tail -n 1 "$tmp/pw.csv" | cut -c1-300)"; fi

# --- 5. Bad input: every option of every command --------------------------
# Table rows: OPTION|VALUES|NEEDLE. Values are separated by '/'; "E" stands
# for the empty string. Each must give exit 2, one line naming the option, no
# output and no file. num and int are the malformed classes (negative, huge,
# non-numeric, empty, trailing junk, leading blank, hex, fraction); zero is
# added where it is not a meaningful value. The number parser's full list
# (nan, inf, underflow, ...) is in test_faults.c.
num="-1/1e30/abc/E/5x/ 5/0x10"
int="-1/99999999999999999999/abc/E/5x/1.5"
# bad_table PREFIX "COMMAND": each table row on stdin (OPTION|VALUES|NEEDLE)
# gives one bad case per value, COMMAND OPTION VALUE, named PREFIX_OPTION_[VALUE].
bad_table() {
    prefix=$1 base=$2
    while IFS='|' read -r opt vals needle; do
        [ -n "$opt" ] || continue
        set -f
        IFS=/; set -- $vals; unset IFS
        for v in "$@"; do
            [ "$v" = E ] && v=""
            # shellcheck disable=SC2086  # base is a word list on purpose
            bad "${prefix}_${opt#--}_[$v]" "$needle" $base "$opt" "$v"
        done
        set +f
    done
}
runbase="$CB run --kernel gemm_f32_ref --shape 8x8x8 $fast --csv $tmp/out.csv"
bad_table run "$runbase" <<EOF
--min-time|$num|min-time
--max-time|$num/0|max-time
--max-noise|$num/2|max-noise
--warmup|$num|warmup
--power-window|$num|power-window
--idle-seconds|$num|idle-seconds
--min-samples|$int/0|min-samples
--max-samples|$int/0/2|max-samples
--seed|$int|seed
--threads|$int/0/1,,2/4097|threads
--batch|$int/0|batch
--seq|$int/0|seq
--suite|E/abc/-1|suite
--op|E/abc/-1|op
--dtype|E/abc/f64|dtype
--cache|E/abc/cold|cache
--power|E/abc/on|power
--kernel|E/nope*|kernel
--shape|E/abc/-1x8x8/0x8x8/8x8/8x8x8:xx/8x8x8,lda=abc/8x8x8,lda=4/8x8x8,alpha=nan/b=1,h=0,s=8,d=8/b=1,h=1,s=8,d=8,causal=2/b=1,h=3,kvh=2,s=8,d=8/stream:n=0|shape
--device|E|device
--csv|E|csv
--power-cmd|E|power-cmd
--model|E|model
EOF
costbase="$CB cost --model gpt2-124m --explain"
bad_table cost "$costbase" <<EOF
--batch|$int/0|batch
--seq|$int/0/1025|seq
--usd-per-kwh|$num|usd-per-kwh
--pue|$num|pue
--tokens|$num/0|tokens
--bandwidth|$num/0/x=abc/x=|bandwidth
--memory-gb|$num/0/x=-1|memory-gb
--dtype|E/abc/f16|dtype
--from|E|from
--prices|E|prices
--roofs|E|roofs
--csv|E|csv
EOF
bad cost_model_empty "model" $CB cost --explain --model ""
bad cost_csv_without_from "need --from" $CB cost --model gpt2-124m --explain --csv "$tmp/out.csv"
# tune: a case wrongly accepted would start a search; with no OpenCL platform
# visible it fails at once instead (exit 1, caught as a failure).
empty_icd=$tmp/icd
mkdir -p "$empty_icd"
for v in -1 0 0.5 1e30 abc "" 5x " 5" 0x10; do
    bad "tune_budget_[$v]" "budget" env OCL_ICD_VENDORS="$empty_icd" $CB tune --budget "$v" --out "$tmp/out.csv"
done
for v in "" abc 8x8 stream:n=8 0x8x8 b=1,h=0,s=8,d=8; do
    bad "tune_shape_[$v]" "shape" env OCL_ICD_VENDORS="$empty_icd" $CB tune --shape "$v" --out "$tmp/out.csv"
done
bad tune_device_empty "device" env OCL_ICD_VENDORS="$empty_icd" $CB tune --device "" --out "$tmp/out.csv"
bad tune_out_empty "out" env OCL_ICD_VENDORS="$empty_icd" $CB tune --budget 1 --out ""
g=$tmp/good.csv
for v in -1 1e30 abc "" 5x " 5" 0x10; do
    bad "compare_threshold_[$v]" "threshold" $CB compare --threshold "$v" "$g" "$g"
done
for v in -1 0 0.6 abc "" 0x10; do
    bad "compare_alpha_[$v]" "alpha" $CB compare --alpha "$v" "$g" "$g"
done
for v in "" csv JSON; do
    bad "compare_format_[$v]" "format" $CB compare --format "$v" "$g" "$g"
done
bad compare_normalize_empty "normalize-to" $CB compare --normalize-to "" "$g" "$g"
bad info_extra "'extra'" $CB info extra
bad info_bogus "'--bogus'" $CB info --json --bogus
bad list_bogus "'--bogus'" $CB list --bogus
bad list_empty "''" $CB list ""

# Malformed result CSVs to compare: one line naming the file (and the line
# where there is one), exit 2.
bad_csv() {  # NAME 'needle' FILE
    bad "compare_csv_$1" "$2" $CB compare "$3" "$g"
}
hdr_line=$(head -n 1 "$g")
row_line=$(sed -n 2p "$g")
: > "$tmp/empty.csv"
bad_csv empty "empty.csv: line 1: empty input" "$tmp/empty.csv"
printf '%s\n' "$hdr_line" > "$tmp/hdr.csv"
bad_csv header_only "hdr.csv: no result rows" "$tmp/hdr.csv"
printf 'schema_version,kernel\n1,gemm_f32_ref\n' > "$tmp/cols.csv"
bad_csv missing_columns "cols.csv: column '" "$tmp/cols.csv"
printf '%s\n%s\n' "$hdr_line" "$(printf '%s' "$row_line" | sed 's/^1,/99,/')" > "$tmp/v99.csv"
bad_csv schema_version "v99.csv: line 2: unknown schema_version '99'" "$tmp/v99.csv"
printf '%s\n%s\n' "$hdr_line" "$(printf '%s' "$row_line" | sed 's/ok,,[0-9.]*/ok,,1 2 x/')" > "$tmp/nn.csv"
bad_csv non_numeric "nn.csv: line 2: samples_ns" "$tmp/nn.csv"
printf '%s\n%s\n' "$hdr_line" "$(printf '%s' "$row_line" | sed 's/,gemm_f32_ref,/,gemm\xff_ref,/')" > "$tmp/utf.csv"
bad_csv invalid_utf8 "utf.csv: line 2: invalid UTF-8" "$tmp/utf.csv"
printf '%s\n%s\n' "$hdr_line" "$(printf '%s' "$row_line" | sed 's/,gemm_f32_ref,/,gemm\x01_ref,/')" |
    tr '\001' '\000' > "$tmp/nul.csv"
bad_csv nul_byte "nul.csv: line 2: NUL byte" "$tmp/nul.csv"
printf '%s\n%s,x\n' "$hdr_line" "$row_line" > "$tmp/ragged.csv"
bad_csv ragged "ragged.csv: line 2: expected" "$tmp/ragged.csv"
# An enormous line (10 MB in one quoted cell, never closed): an error, not a
# hang or a crash; the same cell closed is a valid note and the file loads.
{ printf '%s\n%s' "$hdr_line" "$(printf '%s' "$row_line" | sed 's/,ok,,/,ok,"/')"
  head -c 10000000 /dev/zero | tr '\0' 'x'; printf '\n'; } > "$tmp/huge.csv"
bad_csv enormous_line "huge.csv: line 2: unterminated quoted field" "$tmp/huge.csv"
{ printf '%s\n%s' "$hdr_line" "$(printf '%s' "$row_line" | sed 's/,ok,,/,ok,"/')"
  head -c 10000000 /dev/zero | tr '\0' 'x'; printf '",'
  printf '%s\n' "$row_line" | sed 's/.*,ok,,//'; } > "$tmp/long.csv"
expect compare_csv_long_note 0 "" $CB compare "$tmp/long.csv" "$g"

# Malformed model and price files to cost: file and line named, exit 2.
printf 'n_layer = 2\nd_model = abc\n' > "$tmp/m1.model"
bad model_not_number "m1.model:2: d_model" $CB cost --model "$tmp/m1.model" --explain
printf 'n_layer 2\n' > "$tmp/m2.model"
bad model_no_equals "m2.model:1: expected 'key = value'" $CB cost --model "$tmp/m2.model" --explain
printf 'n_layer = 99999999999999999999\n' > "$tmp/m3.model"
bad model_huge "m3.model:1: n_layer" $CB cost --model "$tmp/m3.model" --explain
printf 'n_layer = 2\nn_layer = 3\n' > "$tmp/m4.model"
bad model_twice "m4.model:2: n_layer given twice" $CB cost --model "$tmp/m4.model" --explain
: > "$tmp/m5.model"
bad model_empty "m5.model: missing n_layer" $CB cost --model "$tmp/m5.model" --explain
head -c 100000 /dev/zero | tr '\0' 'a' > "$tmp/m6.model"
bad model_enormous "m6.model: larger than 64 KiB" $CB cost --model "$tmp/m6.model" --explain
printf 'n_layer = 16777216\nd_model = 16777216\nn_head = 16777216\nd_ff = 16777216\nvocab = 16777216\nctx = 16777216\nmlp = gelu\ntied = 1\n' > "$tmp/m7.model"
bad model_overflow "m7.model: about 3.31e+22 parameters" $CB cost --model "$tmp/m7.model" --explain
ph=$(head -n 1 results/prices.csv)
printf '%s\n*X*,abc,,,,,,3,0.7,,0.10,1.0,,,,,\n' "$ph" > "$tmp/p1.csv"
bad prices_not_number "p1.csv: line 2: usd_per_chip_hour" $CB cost --model gpt2-124m --from "$g" --prices "$tmp/p1.csv"
printf '%s\n*X*,1,,,,,,3,7,,0.10,1.0,,,,,\n' "$ph" > "$tmp/p2.csv"
bad prices_out_of_range "p2.csv: line 2: utilization" $CB cost --model gpt2-124m --from "$g" --prices "$tmp/p2.csv"
printf '%s\n*X*,1,,,,,,3\n' "$ph" > "$tmp/p3.csv"
bad prices_ragged "p3.csv: line 2: expected" $CB cost --model gpt2-124m --from "$g" --prices "$tmp/p3.csv"
: > "$tmp/p4.csv"
bad prices_empty "p4.csv: line 1: empty input" $CB cost --model gpt2-124m --from "$g" --prices "$tmp/p4.csv"

# --- 6. Untrusted text reaching a CSV --------------------------------------
# A model name (from a model file) and a chip class (from a results file)
# land in the cost CSV: a formula becomes text, commas and quotes stay in
# their cell, and our reader gets the original text back.
printf 'name = =cmd|%s /C calc%s!A0,"x"\nn_layer = 2\nd_model = 16\nn_head = 2\nd_ff = 32\nvocab = 40\nctx = 8\nmlp = gelu\ntied = 1\n' \
    "'" "'" > "$tmp/evil.model"
sed '2,$s/,cpu:[^,]*/,=1+2/' "$g" > "$tmp/evil_in.csv"
$CB cost --model "$tmp/evil.model" --from "$tmp/evil_in.csv" --csv "$tmp/cost.csv" >/dev/null 2>&1
if grep -q "^\"'=cmd|' /C calc'!A0,\"\"x\"\"\",4,8,f32,'=1+2," "$tmp/cost.csv"; then ok untrusted_model_name
else ko untrusted_model_name "$(cut -c1-120 "$tmp/cost.csv" | tail -n 1)"; fi
# A host name with a formula, a comma and quotes (a UTS namespace: root only).
if [ "$ns_ok" -eq 1 ] && unshare -u true 2>/dev/null; then
    unshare -u sh -c 'printf "%s" "$1" > /proc/sys/kernel/hostname && shift && exec "$@"' sh \
        '@SUM(1+1)*cmd|x,"q"' $run1 --csv "$tmp/host.csv" >/dev/null 2>&1
    if grep -q "^1,[^,]*,\"'@SUM(1+1)\*cmd|x,\"\"q\"\"\",cpu:" "$tmp/host.csv"; then ok untrusted_host_name
    else ko untrusted_host_name "$(cut -c1-120 "$tmp/host.csv" | tail -n 1)"; fi
    valid_csv untrusted_host_csv_loads "$tmp/host.csv" 1
else
    sk untrusted_host_name "needs root and unshare -u"
fi
# Numbers stay numbers; build flags ("-O2 ...") are text and are guarded.
if grep -q ",\"\{0,1\}'-O" "$g" && ! grep -q ",'[0-9]" "$g"; then ok guard_text_not_numbers
else ko guard_text_not_numbers "$(cut -c1-200 "$g" | tail -n 1)"; fi

# Nothing from an input file is executed: shell syntax in a model file, a
# results file and a price table runs nothing, and only the --power-cmd
# code path starts a program.
mark=$tmp/executed
printf 'name = $(touch %s)`touch %s`\nn_layer = 2\nd_model = 16\nn_head = 2\nd_ff = 32\nvocab = 40\nctx = 8\nmlp = gelu\ntied = 1\n' \
    "$mark" "$mark" > "$tmp/sh.model"
sed "s|,gemm_f32_ref,|,\$(touch $mark)|" "$g" > "$tmp/sh.csv"
printf '%s\n$(touch %s),1,,,,,,3,0.7,,0.10,1.0,,,,,\n' "$ph" "$mark" > "$tmp/sh_prices.csv"
$CB cost --model "$tmp/sh.model" --from "$tmp/sh.csv" --prices "$tmp/sh_prices.csv" \
    --csv "$tmp/sh_cost.csv" >/dev/null 2>&1
$CB compare "$tmp/sh.csv" "$g" >/dev/null 2>&1
[ -e "$mark" ] && ko nothing_executed "an input file ran a command" || ok nothing_executed
if [ -d harness ]; then
    hits=$(grep -lE '\b(system|popen|exec[lv]p?e?|posix_spawnp?)[[:space:]]*\(' harness/*.c kernels/*/*.c kernels/*.c 2>/dev/null)
    [ "$hits" = harness/power_cmd.c ] && ok only_power_cmd_executes || ko only_power_cmd_executes "$hits"
fi

echo "test_faults: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
