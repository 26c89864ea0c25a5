#!/bin/sh
# test_allreduce.sh: the all-reduce op as a user meets it. Without mpirun its
# rows are skipped with the reason; under `mpirun -np 2 --oversubscribe` the
# f32 and bf16 rows of three small sizes verify on every rank, the CSV has
# ranks = 2 and bus_gbytes_per_s = gbytes_per_s x 2(N-1)/N; mpirun -np 1
# measures with a bus bandwidth of 0. Skips (with the reason) when mpirun or
# MPI in the build is missing. Runs with CHIPBENCH=path/to/chipbench.
set -u
CB=${CHIPBENCH:-build/chipbench}
tmp=$(mktemp -d /tmp/cb_allreduce.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0; skip=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
sk() { skip=$((skip + 1)); echo "SKIP $1: $2"; }
done_() { echo "test_allreduce: $pass passed, $fail failed, $skip skipped"; [ "$fail" -eq 0 ]; exit; }

fast="--max-time 0.2 --min-time 0.05 --warmup 0.01 --min-samples 3"
# Not under a launcher: listed, rows skipped with the reason, exit 0.
unset OMPI_COMM_WORLD_SIZE PMIX_RANK PMI_RANK PMI_SIZE CHIPBENCH_MPI
out=$("$CB" run --op allreduce --shape allreduce:bytes=4K $fast 2>&1); rc=$?
case $out in
    *"1 rank: run under mpirun"*|*"built without MPI"*)
        [ "$rc" -eq 0 ] && ok plain_run_skips || ko plain_run_skips "exit $rc";;
    *) ko plain_run_skips "no skip reason: $(printf '%s' "$out" | tail -n 2)";;
esac
out=$("$CB" run --shape allreduce:bytes=6 2>&1); rc=$?
[ "$rc" -eq 2 ] && case $out in *"multiple of 4"*) true;; *) false;; esac \
    && ok bad_bytes || ko bad_bytes "exit $rc: $out"

# cost --chips: no allreduce rows is exit 2 with the reason, never a made-up
# bandwidth; --allreduce-busbw is used and labelled "given".
root=$(cd "$(dirname "$0")/.." && pwd)
train="$root/results/vm-20261127-training-gpt2-124m-cpu.csv"
if [ -f "$train" ]; then
    out=$("$CB" cost --model gpt2-124m --from "$train" --chips 8 2>&1); rc=$?
    case $out in *"no f32 allreduce rows"*) r=0;; *) r=1;; esac
    [ "$rc" -eq 2 ] && [ "$r" -eq 0 ] && ok cost_chips_no_rows || ko cost_chips_no_rows "exit $rc: $(printf '%s' "$out" | tail -n 2)"
    out=$("$CB" cost --model gpt2-124m --from "$train" --chips 8 --allreduce-busbw 10 --overlap 0.5 2>&1); rc=$?
    case $out in *"50% of the all-reduce hidden"*"busbw 10 GB/s: given"*) r=0;; *) r=1;; esac
    [ "$rc" -eq 0 ] && [ "$r" -eq 0 ] && ok cost_chips_given || ko cost_chips_given "exit $rc: $(printf '%s' "$out" | tail -n 3)"
else
    sk cost_chips "no $train"
fi
out=$("$CB" cost --model gpt2-124m --explain --zero1 2>&1); rc=$?
[ "$rc" -eq 2 ] && ok cost_zero1_needs_chips || ko cost_zero1_needs_chips "exit $rc"

if printf '%s' "$out$("$CB" list 2>&1)" | grep -q "built without MPI"; then
    sk mpirun_runs "chipbench built without MPI (install libopenmpi-dev: make deps)"
    done_
fi
if ! command -v mpirun >/dev/null 2>&1; then
    sk mpirun_runs "mpirun not found (install openmpi-bin: make deps)"
    done_
fi
if ! command -v python3 >/dev/null 2>&1; then
    sk mpirun_runs "python3 not found (the CSV checks use its csv module)"
    done_
fi
# Root (containers, CI) needs Open MPI's consent; --oversubscribe lets two
# ranks share fewer cores.
if [ "$(id -u)" = 0 ]; then
    OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    export OMPI_ALLOW_RUN_AS_ROOT OMPI_ALLOW_RUN_AS_ROOT_CONFIRM
fi
MPIRUN="mpirun --oversubscribe"
# Sanitizer builds: Open MPI's own leaks are suppressed by library
# (tests/lsan.supp), which needs full stacks through its unloaded components.
ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export ASAN_OPTIONS

# check CSV NRANKS NROWS: every row ok with its ranks and bus bandwidth.
check() {
    python3 - "$@" <<'PY'
import csv, sys
path, ranks, nrows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = list(csv.DictReader(open(path)))
errs = []
if len(rows) != nrows:
    errs.append("%d rows, wanted %d" % (len(rows), nrows))
for r in rows:
    name = r["kernel"] + " " + r["n"]
    if r["status"] != "ok":
        errs.append(name + ": " + r["status"] + " " + r["note"])
        continue
    alg, bus = float(r["gbytes_per_s"]), float(r["bus_gbytes_per_s"])
    want = alg * 2.0 * (ranks - 1) / ranks
    if int(r["ranks"]) != ranks:
        errs.append(name + ": ranks " + r["ranks"])
    if abs(bus - want) > 1e-5 * max(alg, 1e-9):
        errs.append("%s: busbw %g, 2(N-1)/N algbw = %g" % (name, bus, want))
    if r["flops"] or r["gflops"]:
        errs.append(name + ": flops/gflops set")
    dsize = 2 if r["dtype"] == "bf16" else 4
    if int(r["bytes"]) != int(r["n"]) * dsize:
        errs.append(name + ": bytes " + r["bytes"] + " != n x " + str(dsize))
print("; ".join(errs) if errs else "ok")
PY
}

shapes="--shape allreduce:bytes=4K --shape allreduce:bytes=64K --shape allreduce:bytes=1M"
out=$(timeout 300 $MPIRUN -np 2 "$CB" run --op allreduce $shapes $fast --csv "$tmp/n2.csv" 2>&1); rc=$?
if [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q "6 rows: 6 ok"; then
    ok mpirun_np2
else
    ko mpirun_np2 "exit $rc: $(printf '%s\n' "$out" | tail -n 4)"
fi
# Only rank 0 prints: one summary line, not two.
n=$(printf '%s\n' "$out" | grep -c "rows: .* ok")
[ "$n" -eq 1 ] && ok rank0_prints_alone || ko rank0_prints_alone "$n summary lines"
res=$(check "$tmp/n2.csv" 2 6 2>&1)
[ "$res" = ok ] && ok csv_np2_busbw || ko csv_np2_busbw "$res"

out=$(timeout 120 $MPIRUN -np 1 "$CB" run --kernel allreduce_f32_mpi --shape allreduce:bytes=4K \
      $fast --csv "$tmp/n1.csv" 2>&1); rc=$?
res=$(check "$tmp/n1.csv" 1 1 2>&1)
[ "$rc" -eq 0 ] && [ "$res" = ok ] && ok mpirun_np1_busbw_zero || ko mpirun_np1_busbw_zero "exit $rc: $res"
done_
