#!/usr/bin/env python3
"""plot.py RESULTS_DIR OUT_DIR: figures from chipbench result CSVs.

Renders PNG and SVG into OUT_DIR from every result CSV in RESULTS_DIR (files
whose first column is schema_version) and the measured roofs
(<host>-roofs.csv, written by `make roofs`):

  gemm_gflops_vs_size   GFLOP/s of square nn GEMM against size, per kernel,
                        one panel per thread count
  roofline_<chip>       the chip's measured compute and bandwidth roofs with
                        every measured row placed by arithmetic intensity
  gflops_per_joule      best GFLOP/J per chip class (rows with measured energy)
  cost_per_step         cost per training step per chip class (cost rows)

A figure whose data is absent is skipped with a line saying why; nothing is
ever drawn from made-up numbers. Needs matplotlib (Debian: python3-matplotlib,
installed by `make deps`); standard library otherwise.
"""
import csv
import glob
import math
import os
import re
import sys


def load_rows(results):
    rows = []
    for path in sorted(glob.glob(os.path.join(results, "*.csv"))):
        with open(path, newline="") as f:
            r = csv.reader(f)
            header = next(r, None)
            if not header or header[0] != "schema_version":
                continue
            for cells in r:
                if len(cells) != len(header):
                    continue
                row = dict(zip(header, cells))
                row["_file"] = os.path.basename(path)
                rows.append(row)
    return rows


def load_roofs(results):
    roofs = {}
    for path in glob.glob(os.path.join(results, "*-roofs.csv")):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                chip = row["chip_class"]
                t = int(row["threads"])
                if chip not in roofs or t > roofs[chip]["threads"]:
                    roofs[chip] = {
                        "threads": t,
                        "gflops": max(float(row["fma_avx2_gflops"] or 0),
                                      float(row["fma_avx512_gflops"] or 0)),
                        "gbs": float(row["triad_gbytes_per_s"] or 0),
                        "bf16": float(row.get("bf16_dot_gflops") or 0),
                    }
    return roofs


def num(row, key):
    try:
        v = float(row.get(key, ""))
        return v if math.isfinite(v) else None
    except ValueError:
        return None


def slug(s):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_")


def save(fig, out, name):
    for ext in ("png", "svg"):
        fig.savefig(os.path.join(out, f"{name}.{ext}"), dpi=110, bbox_inches="tight")
    print(f"plot: wrote {out}/{name}.png and .svg")


def short_chip(chip):
    return chip.replace("cpu:x86_64:", "").replace("cpu:aarch64:", "arm:")


def gflops_vs_size(plt, rows, out):
    sel = [r for r in rows if r.get("status") == "ok" and r.get("op") == "gemm"
           and r.get("trans") == "nn" and r["m"] == r["n"] == r["k"] and num(r, "gflops")]
    if not sel:
        print("plot: gemm_gflops_vs_size skipped: no ok square nn GEMM rows")
        return
    threads = sorted({int(r["threads"]) for r in sel})
    fig, axes = plt.subplots(1, len(threads), figsize=(6.5 * len(threads), 4.5), squeeze=False)
    for ax, t in zip(axes[0], threads):
        series = {}
        for r in sel:
            if int(r["threads"]) != t:
                continue
            key = (short_chip(r["chip_class"]), r["kernel"])
            series.setdefault(key, {})[int(r["m"])] = num(r, "gflops")
        for (chip, kernel), pts in sorted(series.items()):
            xs = sorted(pts)
            style = "--" if any(b in kernel for b in ("openblas", "onednn", "clblast")) else "-"
            ax.plot(xs, [pts[x] for x in xs], style, marker="o", label=f"{kernel} ({chip})")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("n (square GEMM, m = n = k)")
        ax.set_ylabel("GFLOP/s (median)")
        ax.set_title(f"GEMM, {t} thread{'s' if t > 1 else ''}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    save(fig, out, "gemm_gflops_vs_size")
    plt.close(fig)


def roofline(plt, rows, roofs, out):
    if not roofs:
        print("plot: roofline skipped: no <host>-roofs.csv (run `make roofs`)")
        return
    for chip, roof in sorted(roofs.items()):
        pts = [r for r in rows if r.get("chip_class") == chip and r.get("status") == "ok"
               and int(r["threads"]) == roof["threads"] and num(r, "gflops")
               and num(r, "flops") and num(r, "bytes")]
        if not pts:
            print(f"plot: roofline for {chip} skipped: no ok rows at {roof['threads']} threads")
            continue
        fig, ax = plt.subplots(figsize=(7, 5))
        ai = [num(r, "flops") / num(r, "bytes") for r in pts]
        lo, hi = min(ai + [0.1]) / 2, max(ai + [1000]) * 2
        xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
        ax.plot(xs, [min(roof["gflops"], roof["gbs"] * x) for x in xs], "k-",
                label=f"f32 roof: {roof['gflops']:.0f} GFLOP/s FMA, {roof['gbs']:.0f} GB/s triad")
        if roof["bf16"] > 0:
            ax.plot(xs, [min(roof["bf16"], roof["gbs"] * x) for x in xs], "k--",
                    label=f"bf16 roof: {roof['bf16']:.0f} GFLOP/s vdpbf16ps")
        kernels = sorted({r["kernel"] for r in pts})
        for k in kernels:
            kp = [(num(r, "flops") / num(r, "bytes"), num(r, "gflops")) for r in pts
                  if r["kernel"] == k]
            ax.scatter([p[0] for p in kp], [p[1] for p in kp], s=18, label=k)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("arithmetic intensity (declared flops / bytes)")
        ax.set_ylabel("GFLOP/s (median)")
        ax.set_title(f"roofline, {short_chip(chip)}, {roof['threads']} threads")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        save(fig, out, "roofline_" + slug(short_chip(chip)))
        plt.close(fig)


def per_chip_bars(plt, rows, out, column, name, ylabel):
    best = {}
    for r in rows:
        v = num(r, column)
        if r.get("status") == "ok" and v and v > 0:
            chip = short_chip(r["chip_class"] + (" " + r["device"] if r.get("device") else ""))
            best[chip] = max(best.get(chip, 0), v)
    if not best:
        print(f"plot: {name} skipped: no rows with a measured {column} "
              "(the power / cost columns are empty)")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    chips = sorted(best)
    ax.bar(range(len(chips)), [best[c] for c in chips])
    ax.set_xticks(range(len(chips)), chips, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    save(fig, out, name)
    plt.close(fig)


def main():
    if len(sys.argv) != 3:
        print("usage: plot.py RESULTS_DIR OUT_DIR", file=sys.stderr)
        return 2
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot: matplotlib is not installed (Debian: apt-get install python3-matplotlib; "
              "`make deps` does it)", file=sys.stderr)
        return 1
    results, out = sys.argv[1], sys.argv[2]
    rows = load_rows(results)
    if not rows:
        print(f"plot: no chipbench result CSVs in {results}", file=sys.stderr)
        return 1
    os.makedirs(out, exist_ok=True)
    gflops_vs_size(plt, rows, out)
    roofline(plt, rows, load_roofs(results), out)
    per_chip_bars(plt, rows, out, "gflops_per_w", "gflops_per_joule", "best GFLOP/J")
    per_chip_bars(plt, rows, out, "cost_per_step_usd", "cost_per_step", "USD per training step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
