# test_lib.sh: sourced by run_tests.sh and cross_aarch64.sh.
# tally NAME RC OUTPUT: add the last "NAME: N passed, N failed, N skipped"
# line of OUTPUT to the running totals p, f, s; a missing summary line, or a
# non-zero exit status with no failure counted, is one more failure.
tally() {
    _name=$1 _rc=$2 _out=$3
    _line=$(printf '%s\n' "$_out" | grep -E '^[A-Za-z_0-9.]+: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' | tail -n 1)
    if [ -z "$_line" ]; then
        echo "FAIL $_name: exited $_rc without a summary line"
        f=$((f + 1))
        return
    fi
    set -- $(printf '%s\n' "$_line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped/\1 \2 \3/')
    p=$((p + $1)); f=$((f + $2)); s=$((s + $3))
    if [ "$_rc" -ne 0 ] && [ "$2" -eq 0 ]; then
        echo "FAIL $_name: exit status $_rc"
        f=$((f + 1))
    fi
}
