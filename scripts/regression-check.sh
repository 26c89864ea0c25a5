#!/bin/sh
# regression-check.sh BASE NEW [compare options...]
#
# For CI: compares chipbench results, prints the result as Markdown
# (paste it into a job summary or a pull-request comment) and exits with
# chipbench compare's status: 0 no regression, 1 at least one SLOWER row,
# 2 bad input. BASE and NEW are each a CSV, a comma-separated list of CSVs or
# a directory of CSVs, one per run: several runs a side make the test count
# run-to-run drift (scripts/ab-runs.sh makes them, interleaved). Extra
# options go to `chipbench compare`, e.g.
#   --normalize-to gemm_f32_openblas   (drift-robust on shared CI runners)
#   --threshold 10 --alpha 0.01
# CHIPBENCH names the binary (default: build/chipbench beside this script).
set -u
if [ $# -lt 2 ]; then
    echo "usage: regression-check.sh BASE NEW [chipbench compare options]" >&2
    exit 2
fi
base=$1 new=$2
shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
cb=${CHIPBENCH:-$here/build/chipbench}
if [ ! -x "$cb" ]; then
    echo "regression-check: $cb not found (run make, or set CHIPBENCH)" >&2
    exit 2
fi
echo "### chipbench regression check"
echo
echo "base \`$base\`, new \`$new\`"
echo
"$cb" compare --format markdown "$@" "$base" "$new"
rc=$?
echo
case $rc in
0) echo "Result: no significant regression." ;;
1) echo "Result: **regression** (at least one SLOWER row)." ;;
*) echo "Result: could not compare (exit $rc)." ;;
esac
exit $rc
