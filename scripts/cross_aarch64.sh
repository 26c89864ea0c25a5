#!/bin/sh
# cross_aarch64.sh: cross-build chipbench for AArch64 (static, no optional
# back-ends) into build-aarch64/, run the C test binaries under qemu-user,
# and check that the NEON GEMM kernel is registered, usable and correct.
# Prints one summary line per test binary and "aarch64: N passed, N failed,
# N skipped" last (also into BUILD/test-summary.txt for run_tests.sh
# --total); exits non-zero on any failure. Usage: cross_aarch64.sh [BUILD]. Without the cross compiler
# or qemu it prints "SKIP aarch64: ..." and counts one skip (exit 0).
#
# Tools (Debian): gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
# (qemu-user-static works too: either qemu-aarch64 or qemu-aarch64-static).
set -u
cd "$(dirname "$0")/.." || exit 1
. scripts/test_lib.sh

BUILD=${1:-build-aarch64}
CROSS_CC=aarch64-linux-gnu-gcc
TESTS="test_kernels test_attn_bwd test_dispatch test_harness test_schema test_csv test_cpu"
# Kernel that must be usable and verified under emulation.
NEON_KERNEL=gemm_f32_neon_8x12

missing=""
command -v "$CROSS_CC" >/dev/null 2>&1 || missing="$CROSS_CC"
QEMU=""
for q in qemu-aarch64 qemu-aarch64-static; do
    if command -v "$q" >/dev/null 2>&1; then
        QEMU=$q
        break
    fi
done
[ -n "$QEMU" ] || missing="${missing:+$missing, }qemu-aarch64 (or qemu-aarch64-static)"
if [ -n "$missing" ]; then
    echo "SKIP aarch64: $missing not found"
    echo "aarch64: 0 passed, 0 failed, 1 skipped"
    mkdir -p "$BUILD" && echo "0 0 1" > "$BUILD/test-summary.txt"
    exit 0
fi

# A cap or forced kernel from the caller's (x86) environment would hide the
# NEON kernel; the tests set what they need themselves.
unset CHIPBENCH_ISA CHIPBENCH_KERNEL CHIPBENCH_GEMM_KC CHIPBENCH_GEMM_NC CHIPBENCH_GEMM_MC

p=0; f=0; s=0
summary() {
    echo "aarch64: $p passed, $f failed, $s skipped"
    mkdir -p "$BUILD" && echo "$p $f $s" > "$BUILD/test-summary.txt"
    [ "$f" -eq 0 ]
    exit
}

targets="all"
for t in $TESTS; do
    targets="$targets $BUILD/tests/$t"
done
jobs=$(nproc 2>/dev/null || echo 2)
echo "== cross build ($BUILD, $CROSS_CC, $QEMU)"
# shellcheck disable=SC2086  # $targets is a word list
if ! make --no-print-directory -j"$jobs" BUILD="$BUILD" CC="$CROSS_CC" \
        USE_OPENBLAS=0 USE_OPENCL=0 USE_HWLOC=0 USE_LIBCPUID=0 USE_ONEDNN=0 \
        LDFLAGS=-static $targets; then
    echo "FAIL aarch64 build"
    f=$((f + 1))
    summary
fi

# The NEON kernel must be registered and runnable here, else test_kernels
# would pass without ever testing it.
echo "== $NEON_KERNEL (list, run)"
line=$("$QEMU" "$BUILD/chipbench" list 2>&1 | grep "^$NEON_KERNEL ")
case $line in
    *" yes"*) echo "PASS neon_listed: $line"; p=$((p + 1));;
    *) echo "FAIL neon_listed: '$NEON_KERNEL' not runnable in 'chipbench list': ${line:-absent}"
       f=$((f + 1));;
esac
out=$("$QEMU" "$BUILD/chipbench" run --kernel "$NEON_KERNEL" --shape 67x53x41:nt,beta=0.5 \
      --threads 2 --max-time 0.05 --min-time 0.01 --warmup 0 2>&1); rc=$?
if [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q "^$NEON_KERNEL .* ok$"; then
    echo "PASS neon_run"
    p=$((p + 1))
else
    echo "FAIL neon_run: exit $rc: $(printf '%s\n' "$out" | tail -n 3)"
    f=$((f + 1))
fi

for t in $TESTS; do
    bin=$BUILD/tests/$t
    echo "== $t (qemu)"
    out=$("$QEMU" "$bin" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -v '^PASS '
    tally "$t" "$rc" "$out"
done
summary
