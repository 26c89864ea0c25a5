#!/bin/sh
# device_pack.sh: prepare what a lent GPU machine needs to run chipbench
# built here: build-dev/chipbench (no oneDNN: its 40 MB library is not
# needed for device rows) and devlibs/ with the shared libraries ldd lists
# that a bare machine lacks (everything but glibc's own), packed as one
# devlibs/libs.tar.xz (the libraries are about 50 MB, and with the working
# tree they would pass the 64 MiB the device tool carries; xz makes them 8).
# Both are git-ignored; the device tool carries them (`carry: build-dev,
# devlibs`). Then scripts/device_gpu.sh, there, unpacks and runs.
set -eu
make -s BUILD=build-dev USE_ONEDNN=0 build-dev/chipbench >/dev/null
rm -rf devlibs && mkdir -p devlibs
ldd build-dev/chipbench | awk '$3 ~ /^\// { print $3 }' | while read -r lib; do
    case $(basename "$lib") in
        libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*) continue ;;
    esac
    cp -L "$lib" devlibs/
done
tar cJf devlibs.tar.xz -C devlibs . && rm -rf devlibs && mkdir devlibs && mv devlibs.tar.xz devlibs/libs.tar.xz
du -sh build-dev/chipbench devlibs
