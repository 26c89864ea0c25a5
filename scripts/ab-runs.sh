#!/bin/sh
# ab-runs.sh BASE_BIN NEW_BIN RUNS OUTDIR [chipbench run options...]
#
# A/B benchmarking on one machine, for CI: runs the same suite with two
# chipbench builds (the base commit's and the new one's), RUNS times each,
# interleaved in ABBA order (base new new base base new ...), one CSV per run
# under OUTDIR/base/ and OUTDIR/new/, then gates with regression-check.sh on
# the two directories (run medians, Welch t, rows adjusted as one family).
#
# Why interleaved: on a shared machine, runs close in time share its state
# (neighbours, clocks), so a base measured yesterday and a new build measured
# now differ by the machine's drift as well as by the code. Alternating puts
# the drift on both sides; ABBA also cancels a steady trend. Why several runs:
# within one run the samples cannot show run-to-run drift (see README,
# "Comparing results and gating CI"). RUNS >= 3; 5 for a suite of ~100 rows.
#
# Exit: regression-check's status (0 no regression, 1 SLOWER, 2 bad input);
# 2 also when a run itself fails. The CSVs stay in OUTDIR for inspection.
# COMPARE_ARGS adds options to the compare, e.g. "--normalize-to gemm_f32_openblas".
set -u
if [ $# -lt 4 ]; then
    echo "usage: ab-runs.sh BASE_BIN NEW_BIN RUNS OUTDIR [chipbench run options...]" >&2
    exit 2
fi
base_bin=$1 new_bin=$2 runs=$3 out=$4
shift 4
case $runs in
'' | *[!0-9]*) echo "ab-runs: RUNS must be a whole number, got '$runs'" >&2; exit 2 ;;
esac
if [ "$runs" -lt 2 ]; then
    echo "ab-runs: RUNS must be at least 2 (run-to-run drift needs replicates)" >&2
    exit 2
fi
for b in "$base_bin" "$new_bin"; do
    [ -x "$b" ] || { echo "ab-runs: $b is not an executable" >&2; exit 2; }
done
mkdir -p "$out/base" "$out/new" || exit 2
i=1
while [ "$i" -le "$runs" ]; do
    # ABBA: odd rounds base first, even rounds new first.
    if [ $((i % 2)) -eq 1 ]; then order="base new"; else order="new base"; fi
    for side in $order; do
        if [ "$side" = base ]; then bin=$base_bin; else bin=$new_bin; fi
        echo "ab-runs: round $i/$runs, $side" >&2
        if ! "$bin" run "$@" --csv "$out/$side/run$i.csv" > "$out/$side/run$i.log" 2>&1; then
            echo "ab-runs: the $side run $i failed; its log: $out/$side/run$i.log" >&2
            tail -n 5 "$out/$side/run$i.log" >&2
            exit 2
        fi
    done
    i=$((i + 1))
done
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2086 # COMPARE_ARGS is a list of options on purpose
CHIPBENCH=$new_bin sh "$here/regression-check.sh" "$out/base" "$out/new" ${COMPARE_ARGS:-}
