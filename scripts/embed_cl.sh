#!/bin/sh
# embed_cl.sh FILE SYMBOL: print a C file defining `const char SYMBOL[]` with
# FILE's bytes and a terminating NUL, so OpenCL sources ship inside the binary
# (no path to find at run time). od and sed only: works in any build sandbox.
set -e
[ $# -eq 2 ] || { echo "usage: embed_cl.sh FILE SYMBOL" >&2; exit 2; }
printf '// generated from %s by scripts/embed_cl.sh\nconst char %s[] = {\n' "$1" "$2"
od -An -v -tx1 "$1" | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'
printf '0x00};\n'
