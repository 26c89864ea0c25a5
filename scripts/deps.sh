#!/bin/sh
# deps.sh: install the Debian packages chipbench uses, only those missing.
# As root with apt-get: runs `apt-get update` (once, only if something is
# missing) and installs. Otherwise prints the exact command and carries on:
# every one of these is optional at build time except a C compiler and make.
PKGS="build-essential pkg-config libopenblas-dev ocl-icd-opencl-dev opencl-headers
pocl-opencl-icd clinfo libclblast-dev libhwloc-dev libcpuid-dev libdnnl-dev python3-matplotlib
libopenmpi-dev openmpi-bin"
# On x86-64 the NEON kernels are cross-compiled and tested under qemu-user.
if [ "$(uname -m)" = x86_64 ]; then
    PKGS="$PKGS gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"
fi
# The fuzz targets (clang with its libFuzzer runtime: libclang-rt-dev pulls
# in the current libclang-rt-N-dev) and `make valgrind`.
PKGS="$PKGS clang libclang-rt-dev valgrind"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: not a Debian/Ubuntu system; install the equivalents of:$missing" >&2
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "deps: missing packages:$missing" >&2
    echo "deps: run: sudo apt-get update && sudo apt-get install -y$missing" >&2
    echo "deps: continuing with what is installed" >&2
    exit 0
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq || ! apt-get install -y -qq --no-install-recommends $missing >/tmp/chipbench-deps.log 2>&1; then
    echo "deps: apt-get failed (log: /tmp/chipbench-deps.log); continuing with what is installed" >&2
    tail -n 5 /tmp/chipbench-deps.log >&2 2>/dev/null
fi
exit 0
