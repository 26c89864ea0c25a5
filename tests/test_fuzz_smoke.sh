#!/bin/sh
# test_fuzz_smoke.sh: the short fuzzing pass of `make test`. Builds the
# libFuzzer targets (tests/fuzz/fuzz_*.c, `make fuzz-build`: clang, ASan +
# UBSan) into BUILD-fuzz, replays every kept crash input under
# tests/fuzz/regressions/<parser>/ (each once crashed a parser; all must now
# pass), then fuzzes each target for FUZZ_SMOKE_SECONDS (default 2) from its
# seed corpus into a scratch corpus. Long runs are `make fuzz`.
# Runs with CHIPBENCH=BUILD/chipbench from the repository root, once per
# `make test`: in the sanitizer build it skips, as the targets carry their
# own sanitizers. Without clang's libFuzzer it skips with the reason.
set -u
build=$(dirname "${CHIPBENCH:-build/chipbench}")
secs=${FUZZ_SMOKE_SECONDS:-2}
pass=0; fail=0; skip=0
ok() { pass=$((pass + 1)); echo "PASS $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1: $2"; }
sk() { skip=$((skip + 1)); echo "SKIP $1: $2"; }
done_() { echo "test_fuzz_smoke: $pass passed, $fail failed, $skip skipped"; exit 0; }

case $build in
*-san) sk fuzz "runs once, in the plain build (the targets are ASan+UBSan builds)"; done_;;
esac
# The make variables name the build directory relative to the repository.
rel=${build#"$(pwd)"/}
tmp=$(mktemp -d /tmp/cb_fuzz.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
if ! make --no-print-directory -s fuzz-check BUILD="$rel" >"$tmp/check.log" 2>&1; then
    why=$(sed -n 's/^fuzz: //p' "$tmp/check.log" | head -n 1)
    sk fuzz "${why:-$(tail -n 1 "$tmp/check.log")}"
    done_
fi
if ! make --no-print-directory BUILD="$rel" fuzz-build >"$tmp/build.log" 2>&1; then
    ko fuzz_build "$(grep -m 3 -E 'error|Error' "$tmp/build.log")"
    done_
fi
ok fuzz_build
for src in tests/fuzz/fuzz_*.c; do
    t=$(basename "$src" .c); t=${t#fuzz_}
    bin=$rel-fuzz/fuzz_$t
    set -- tests/fuzz/regressions/"$t"/*
    if [ -e "$1" ]; then
        if "$bin" "$@" >"$tmp/replay_$t.log" 2>&1; then
            ok "fuzz_${t}_regressions ($# inputs)"
        else
            ko "fuzz_${t}_regressions" "$(grep -m 2 -E 'ERROR|runtime error|Running:' "$tmp/replay_$t.log" | tail -n 2)"
        fi
    fi
    mkdir -p "$tmp/corpus_$t"
    dict=""
    [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
    # shellcheck disable=SC2086  # $dict is empty or one word
    if "$bin" -max_total_time="$secs" -max_len=16384 -artifact_prefix="$tmp/$t-" $dict \
            "$tmp/corpus_$t" "tests/fuzz/corpus/$t" >"$tmp/fuzz_$t.log" 2>&1; then
        ok "fuzz_$t ($(grep -o 'Done [0-9]* runs' "$tmp/fuzz_$t.log"))"
    else
        ko "fuzz_$t" "$(grep -m 2 -E 'ERROR|runtime error' "$tmp/fuzz_$t.log"); input kept as:"
        for a in "$tmp/$t"-*; do
            [ -e "$a" ] && cp "$a" "$rel-fuzz/" && echo "    $rel-fuzz/$(basename "$a")"
        done
    fi
done
done_
