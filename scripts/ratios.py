#!/usr/bin/env python3
"""ratios.py: ours / baseline per row, over one or more `chipbench run` CSVs.

usage: ratios.py [--stat median|min] [--target X] [--kernel SUBSTR] [--baseline NAME]
                 CSV|DIR [...]

What it is: the ratio table `chipbench run` prints at its end, taken over
several runs (one CSV per run; a directory stands for its *.csv files). For
each of our kernels' rows and each baseline of the same op, dtype, shape,
threads, chip and device in the same file:
  - rows measured with `--rounds N` on both sides: the median over the
    rounds of each round's ratio (round_medians_ns), whose two sides ran
    seconds apart;
  - otherwise: baseline median time / our median time.
With --stat min: baseline fastest sample / our fastest sample (time_ns_min,
over every round), the best each reached in the run. Interference from
other tenants only ever adds time, so on a shared machine the minimum moves
least from run to run; BenchmarkTools.jl reports it for that reason (Chen
and Revels, "Robust benchmarking in noisy environments", 2016). It answers
"how fast can each go here", the median "how fast did each go".
A row's figure is the median of its files' ratios; the summary gives, per
kernel, threads and baseline, the range, median and geometric mean, and with
--target the rows below it. > 1 means ours is faster.

What it is not: a significance test (chipbench compare does that) or a
comparison across machines (compare --chips).

Exit: 0; 1 when --target is given and a row is below it; 2 bad input.
"""
import csv
import glob
import math
import os
import signal
import statistics
import sys

BASELINES = ("openblas", "onednn", "clblast")
SHAPE_COLS = ("op", "dtype", "trans", "m", "n", "k", "lda", "ldb", "ldc", "alpha", "beta",
              "batch", "heads", "kv_heads", "seq_q", "seq_kv", "head_dim", "causal", "threads",
              "chip_class", "device")


def die(msg):
    print("ratios.py: " + msg, file=sys.stderr)
    sys.exit(2)


def label(r):
    if r["op"] == "gemm":
        return "%sx%sx%s:%s" % (r["m"], r["n"], r["k"], r["trans"])
    if r["op"] in ("attention", "attention_bwd"):
        return "%s b=%s,h=%s,kvh=%s,sq=%s,skv=%s,d=%s,causal=%s" % (
            "fwd" if r["op"] == "attention" else "bwd", r["batch"], r["heads"], r["kv_heads"],
            r["seq_q"], r["seq_kv"], r["head_dim"], r["causal"])
    return "%s:n=%s" % (r["op"], r["n"])


def rounds_of(r):
    cell = r.get("round_medians_ns", "")
    return [float(x) for x in cell.split()] if cell else []


def ratio(ours, base, stat):
    if stat == "min":
        return float(base["time_ns_min"]) / float(ours["time_ns_min"])
    a, b = rounds_of(ours), rounds_of(base)
    n = min(len(a), len(b))
    if n >= 2:
        return statistics.median(b[i] / a[i] for i in range(n))
    return float(base["time_ns_median"]) / float(ours["time_ns_median"])


def load(path):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        die("%s: %s" % (path, e))
    if not rows or "schema_version" not in rows[0] or "time_ns_median" not in rows[0]:
        die("%s: not a chipbench result CSV with rows" % path)
    return [r for r in rows if r["status"] == "ok"]


def main(argv):
    target, kpat, bpat, stat, paths = None, "", "", "median", []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        if a in ("--target", "--kernel", "--baseline", "--stat"):
            if i + 1 >= len(argv):
                die(a + " needs a value")
            v = argv[i + 1]
            if a == "--target":
                try:
                    target = float(v)
                except ValueError:
                    die("--target is a number, got '%s'" % v)
            elif a == "--kernel":
                kpat = v
            elif a == "--stat":
                if v not in ("median", "min"):
                    die("--stat is median or min, got '%s'" % v)
                stat = v
            else:
                bpat = v
            i += 2
            continue
        if a.startswith("--"):
            die("unknown option '%s'" % a)
        if os.path.isdir(a):
            found = sorted(glob.glob(os.path.join(a, "*.csv")))
            if not found:
                die("%s: no *.csv in it" % a)
            paths += found
        else:
            paths.append(a)
        i += 1
    if not paths:
        die("no CSV given (usage: ratios.py [--target X] CSV|DIR ...)")

    per_row = {}  # (kernel, baseline, label, threads) -> [ratio per file]
    order = []
    for p in paths:
        rows = load(p)
        key = lambda r: tuple(r.get(c, "") for c in SHAPE_COLS)
        bases = {}
        for r in rows:
            if r["backend"] in BASELINES:
                bases.setdefault(key(r), []).append(r)
        for r in rows:
            if r["backend"] in BASELINES or kpat not in r["kernel"]:
                continue
            for b in bases.get(key(r), []):
                # OpenCL kernels against CLBlast, CPU kernels against the CPU libraries.
                if (r["backend"] == "opencl") != (b["backend"] == "clblast"):
                    continue
                if bpat not in b["backend"]:
                    continue
                k = (r["kernel"], b["backend"], label(r), int(r["threads"]))
                if k not in per_row:
                    per_row[k] = []
                    order.append(k)
                per_row[k].append(ratio(r, b, stat))
    if not per_row:
        die("no row of ours has a baseline row beside it in the same file")

    if stat == "min":
        how = "each file: baseline's fastest sample over ours"
    else:
        how = "each file: median of its rounds' ratios when measured with --rounds"
    print("ours / baseline, median over %d file(s) (%s); > 1 means ours is faster"
          % (len(paths), how))
    print("%-26s %-9s %-48s %3s %7s  %s" % ("kernel", "baseline", "shape", "thr", "ratio",
                                           "per file"))
    below = 0
    groups = {}
    for k in order:
        v = per_row[k]
        med = statistics.median(v)
        mark = ""
        if target is not None and med < target:
            mark = "  < %.3g" % target
            below += 1
        print("%-26s %-9s %-48s %3d %7.3f  %s%s" % (k[0], k[1], k[2], k[3], med,
                                                    " ".join("%.3f" % x for x in v), mark))
        groups.setdefault((k[0], k[3], k[1]), []).append(med)
    print("\nsummary per kernel, threads and baseline:")
    for (kern, thr, base), v in groups.items():
        gm = math.exp(sum(math.log(x) for x in v) / len(v))
        extra = ""
        if target is not None:
            extra = ", %d below %.3g" % (sum(1 for x in v if x < target), target)
        print("  %-26s t=%-3d / %-8s %3d rows: %.3f-%.3f, median %.3f, gmean %.3f%s" % (
            kern, thr, base, len(v), min(v), max(v), statistics.median(v), gm, extra))
    return 1 if below else 0


if __name__ == "__main__":
    # Piped into head: stop quietly when the reader goes away.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main(sys.argv[1:]))
