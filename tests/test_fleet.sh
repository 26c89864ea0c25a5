#!/bin/sh
# test_fleet.sh: scripts/slurm_fleet.sbatch under a fake Slurm: an `srun` on
# PATH that records its options and runs the task once per fake node (with a
# `hostname` that names that node), the way srun --ntasks-per-node=1 runs it
# once per node of the allocation. Checks one CSV and one log per node, the
# srun options (one task per node, no MPI wiring), the compare step, and the
# usage error. Runs with CHIPBENCH=path/to/chipbench from the repository root.
set -u
CB=${CHIPBENCH:-build/chipbench}
tmp=$(mktemp -d /tmp/cb_fleet.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0; skip=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1: $2"; }

mkdir -p "$tmp/bin"
cat > "$tmp/bin/srun" <<'SH'
#!/bin/sh
# Fake srun: record the options, then run `sh -c CMD` once per node.
echo "$*" > "$FLEET_LOG"
while [ "$#" -gt 0 ] && [ "$1" != sh ]; do shift; done
shift 2  # "sh" "-c"
for node in node-a node-b; do
    FAKE_NODE=$node sh -c "$1" || true
done
SH
cat > "$tmp/bin/hostname" <<'SH'
#!/bin/sh
echo "${FAKE_NODE:-fake-login}"
SH
chmod +x "$tmp/bin/srun" "$tmp/bin/hostname"

out=$(env PATH="$tmp/bin:$PATH" FLEET_LOG="$tmp/srun-args" SLURM_JOB_ID=4242 \
      SLURM_JOB_NUM_NODES=2 CHIPBENCH="$CB" OUT="$tmp/fleet" COMPARE=1 \
      sh scripts/slurm_fleet.sbatch --kernel gemm_f32_ref --shape 24x24x24 --threads 1 \
      --max-time 0.05 --min-time 0.01 --warmup 0 --power off 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && [ -s "$tmp/fleet/node-a.csv" ] && [ -s "$tmp/fleet/node-b.csv" ] &&
   [ -s "$tmp/fleet/node-a.log" ]; then ok fleet_csv_per_node
else ko fleet_csv_per_node "exit $rc, files: $(ls "$tmp/fleet" 2>&1); $(printf '%s' "$out" | tail -n 3)"; fi
case $(cat "$tmp/srun-args" 2>/dev/null) in
*--ntasks-per-node=1*--mpi=none*) ok fleet_srun_options ;;
*) ko fleet_srun_options "srun got: $(cat "$tmp/srun-args" 2>/dev/null)" ;;
esac
case $out in
*"job 4242, 2 node(s)"*"2 CSV(s) in $tmp/fleet"*"best GFLOP/s per chip class"*) ok fleet_compare ;;
*) ko fleet_compare "$(printf '%s' "$out" | tail -n 5)" ;;
esac
# Each node's CSV is a valid result file.
if "$CB" compare "$tmp/fleet/node-a.csv" "$tmp/fleet/node-b.csv" > /dev/null 2>&1 ||
   [ $? -eq 1 ]; then ok fleet_csv_valid
else ko fleet_csv_valid "compare rejected the node CSVs"; fi
out=$(CHIPBENCH="$tmp/none" sh scripts/slurm_fleet.sbatch 2>&1); rc=$?
case "$rc:$out" in 2:*"is not an executable"*) ok fleet_no_binary ;;
*) ko fleet_no_binary "exit $rc: $out" ;; esac
echo "test_fleet: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
