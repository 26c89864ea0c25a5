#!/usr/bin/env python3
"""plot.py RESULTS_DIR OUT_DIR: figures from chipbench result CSVs.

Renders PNG and SVG into OUT_DIR from every result CSV in RESULTS_DIR (files
whose first column is schema_version) and the measured roofs
(<host>-roofs.csv, written by `make roofs`):

  gemm_gflops_vs_size   GFLOP/s of square nn GEMM against size, per kernel,
                        one panel per thread count
  roofline_<chip>       the chip's measured compute and bandwidth roofs with
                        every measured row placed by arithmetic intensity
  gflops_per_joule      GFLOP/J per chip class: a bar group per shape, a bar
                        per kernel, only rows whose power_quality is measured
                        or integrated; classes and kernels without an energy
                        counter are listed in a note, never drawn as zero
  cost_per_step_<model> step seconds and tokens/s per chip class from the
                        `chipbench cost --csv` files (header model,batch,...);
                        lower bounds (>=) hatched, unmeasured classes listed

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
                        # the faster bf16 unit: vector dot products or AMX tiles
                        "bf16": max(float(row.get("bf16_dot_gflops") or 0),
                                    float(row.get("bf16_amx_gflops") or 0)),
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
    # CPU rows: one panel per thread count. OpenCL device rows (chip class
    # opencl:...) run on the device whatever the host thread count: one panel
    # of their own, log scale (a GPU is 100x a CPU, which would flatten it).
    panels = [(f"GEMM, CPU, {t} thread{'s' if t > 1 else ''}", False,
               [r for r in sel if int(r["threads"]) == t
                and not r["chip_class"].startswith("opencl:")])
              for t in sorted({int(r["threads"]) for r in sel})]
    panels.append(("GEMM, OpenCL devices (log scale)", True,
                   [r for r in sel if r["chip_class"].startswith("opencl:")]))
    panels = [p for p in panels if p[2]]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), squeeze=False)
    for ax, (title, logy, prow) in zip(axes[0], panels):
        series = {}
        for r in prow:
            key = (short_chip(r["chip_class"]), r["kernel"])
            pts = series.setdefault(key, {})
            m = int(r["m"])
            pts[m] = max(pts.get(m, 0), num(r, "gflops"))  # repeated runs: best
        for i, ((chip, kernel), pts) in enumerate(sorted(series.items())):
            xs = sorted(pts)
            style = "--" if any(b in kernel for b in ("openblas", "onednn", "clblast")) else "-"
            ax.plot(xs, [pts[x] for x in xs], style, marker="o", color=f"C{i % 10}",
                    label=f"{kernel} ({chip})")
        ax.set_xscale("log", base=2)
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("n (square GEMM, m = n = k)")
        ax.set_ylabel("GFLOP/s (median; best of repeated rows)")
        ax.set_title(title)
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


MEASURED = ("measured", "integrated")


def shape_label(r):
    op = r.get("op", "")
    if op == "gemm":
        m, n, k = r["m"], r["n"], r["k"]
        dims = f"{m}\u00b3" if m == n == k else f"{m}x{n}x{k}"
        return f"gemm {r.get('trans', '')} {dims}"
    if op.startswith("attention"):
        kv = f"/{r['kv_heads']}kv" if r.get("kv_heads") and r["kv_heads"] != r["heads"] else ""
        sq = r["seq_q"] if r["seq_q"] == r["seq_kv"] else f"{r['seq_q']}x{r['seq_kv']}"
        causal = " causal" if r.get("causal") == "1" else ""
        name = "attn bwd" if op == "attention_bwd" else "attn"
        return f"{name} b{r['batch']} h{r['heads']}{kv}\ns{sq} d{r['head_dim']}{causal}"
    return op


def gflops_per_joule(plt, rows, out):
    """GFLOP/J per chip class: one panel per class with measured energy, one
    bar group per shape, one bar per kernel. Rows without a measured or
    integrated energy are listed in a note, never drawn as zero."""
    ok = [r for r in rows if r.get("status") == "ok"]
    meas = [r for r in ok if r.get("power_quality") in MEASURED
            and num(r, "gflops_per_w") and num(r, "gflops_per_w") > 0]
    if not meas:
        print("plot: gflops_per_joule skipped: no ok rows with power_quality measured or "
              "integrated")
        return
    chips = sorted({r["chip_class"] for r in meas})
    notes = []
    for chip in sorted({r["chip_class"] for r in ok} - set(chips)):
        n = sum(1 for r in ok if r["chip_class"] == chip)
        notes.append(f"{short_chip(chip)}: no energy counter ({n} rows, power_quality "
                     "unavailable or not recorded): not plotted")
    for chip in chips:
        miss = sorted({r["kernel"] for r in ok if r["chip_class"] == chip
                       and r.get("power_quality") not in MEASURED}
                      - {r["kernel"] for r in meas if r["chip_class"] == chip})
        for k in miss:
            n = sum(1 for r in ok if r["chip_class"] == chip and r["kernel"] == k)
            notes.append(f"{short_chip(chip)} {k}: no energy counter ({n} rows, "
                         "power_quality unavailable): not plotted")
    kernels = sorted({r["kernel"] for r in meas})
    colors = {k: f"C{i}" for i, k in enumerate(kernels)}
    ngroups = max(len({(r.get("op"), r.get("m"), r.get("trans"), shape_label(r))
                       for r in meas if r["chip_class"] == c}) for c in chips)
    wide = ngroups > 10  # many shapes: wider panels, slanted labels
    fig, axes = plt.subplots(len(chips), 1, squeeze=False,
                             figsize=(max(11, 0.55 * ngroups), (5.8 if wide else 4.8) * len(chips)))
    for ax, chip in zip(axes[:, 0], chips):
        vals, runs, srcs = {}, {}, set()
        for r in meas:
            if r["chip_class"] != chip:
                continue
            key = (r.get("op"), int(r.get("m") or 0), r.get("trans"), shape_label(r), r["kernel"])
            vals[key] = max(vals.get(key, 0), num(r, "gflops_per_w"))
            runs[key] = runs.get(key, 0) + 1
            srcs.add(f"{r.get('power_source')} ({r.get('power_scope') or '?'}, "
                     f"{r.get('power_quality')})")
        groups = sorted({k[:4] for k in vals}, key=lambda g: (g[0], -g[1], g[2], g[3]))
        width = 0.8 / max(1, max(sum(1 for k in vals if k[:4] == g) for g in groups))
        seen = set()
        for gi, g in enumerate(groups):
            ks = [k for k in kernels if g + (k,) in vals]
            for j, k in enumerate(ks):
                x = gi + (j - (len(ks) - 1) / 2) * width
                v = vals[g + (k,)]
                ax.bar(x, v, width * 0.95, color=colors[k],
                       label=k if k not in seen else None)
                seen.add(k)
                tag = f"{v:.1f}" + (f"\n(best of {runs[g + (k,)]})" if runs[g + (k,)] > 1 else "")
                ax.annotate(tag, (x, v), ha="center", va="bottom", fontsize=7,
                            xytext=(0, 2), textcoords="offset points")
        if len(groups) > 10:
            ax.set_xticks(range(len(groups)), [g[3] for g in groups], fontsize=7, rotation=40,
                          ha="right", rotation_mode="anchor")
        else:
            ax.set_xticks(range(len(groups)), [g[3] for g in groups], fontsize=8)
        ax.set_ylabel("GFLOP/J (GFLOP/s per W, median time)")
        ax.set_ylim(0, max(vals.values()) * 1.2)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
        ax.set_title(f"energy efficiency, {short_chip(chip)}\nenergy source: "
                     + "; ".join(sorted(srcs)), fontsize=10)
    if notes:
        fig.text(0.01, -0.01, "\n".join(notes), fontsize=7.5, va="top", ha="left")
    fig.tight_layout()
    save(fig, out, "gflops_per_joule")
    plt.close(fig)


COST_HEAD = ("model", "batch", "seq", "dtype", "chip_class")
MONEY = ("rent_usd_step", "own_usd_step", "energy_usd_step")


def load_cost(results):
    """Rows of `chipbench cost --csv` files (header starts model,batch,seq,...)."""
    rows = []
    for path in sorted(glob.glob(os.path.join(results, "*.csv"))):
        with open(path, newline="") as f:
            r = csv.DictReader(f)
            if tuple((r.fieldnames or [])[:5]) != COST_HEAD:
                continue
            for row in r:
                row["_file"] = os.path.basename(path)
                rows.append(row)
    return rows


def cost_per_step(plt, cost, out):
    """Step seconds and tokens/s per chip class, one figure per (model, batch,
    seq, dtype). Partial sums are drawn hatched and labelled >= (time) / <=
    (tokens/s); classes with no measured shape are listed, not drawn."""
    if not cost:
        print("plot: cost_per_step skipped: no `chipbench cost --csv` files in results/")
        return
    configs = sorted({(r["model"], r["batch"], r["seq"], r["dtype"]) for r in cost})
    for cfg in configs:
        # One row per chip class: the one with the fewest missing shapes (a
        # later file wins a tie), so an old table that had no rows for a
        # class does not list it as unmeasured beside a newer measurement.
        best = {}
        for r in cost:
            if (r["model"], r["batch"], r["seq"], r["dtype"]) != cfg:
                continue
            miss = int(float(r["missing_shapes"] or 0))
            old = best.get(r["chip_class"])
            if old is None or miss <= int(float(old["missing_shapes"] or 0)):
                best[r["chip_class"]] = r
        sel = list(best.values())
        drawn, notes, unmeasured = [], [], []
        for r in sel:
            n_sh = int(float(r["shapes"] or 0))
            n_miss = int(float(r["missing_shapes"] or 0))
            t = num(r, "t_step_s")
            if t is None:
                t = num(r, "t_compute_s")
            if n_miss == n_sh or not t:
                notes.append(f"{short_chip(r['chip_class'])}: not measured "
                             f"({n_miss} of {n_sh} shapes missing)")
                unmeasured.append(short_chip(r["chip_class"]))
                continue
            complete = r.get("complete") == "1"
            why = []
            if n_miss:
                why.append(f"{n_miss} of {n_sh} shapes missing")
            if num(r, "t_mem_s") is None:
                why.append("memory-bound ops left out: no bandwidth")
            toks = int(r["batch"]) * int(r["seq"])
            drawn.append((short_chip(r["chip_class"]), t, toks / t, complete, why,
                          {m: num(r, m) for m in MONEY}))
        if not drawn:
            print(f"plot: cost_per_step for {cfg[0]} skipped: no chip class measured")
            continue
        money = any(v is not None for d in drawn for v in d[5].values())
        drawn.sort(key=lambda d: d[1])
        labels = [d[0] for d in drawn] + unmeasured
        fig, axes = plt.subplots(1, 2, figsize=(12, 2.2 + 0.9 * len(labels)))
        for ax, col, unit, bound in ((axes[0], 1, "seconds per training step", ">="),
                                     (axes[1], 2, "tokens/s", "<=")):
            ys = range(len(drawn))
            for y, d in zip(ys, drawn):
                ax.barh(y, d[col], color="C0" if d[3] else "white", edgecolor="C0",
                        hatch=None if d[3] else "//")
                txt = (f"{d[col]:.4g}" if d[3] else f"{bound}{d[col]:.4g}")
                ax.annotate(txt, (d[col], y), va="center", fontsize=8,
                            xytext=(3, 0), textcoords="offset points")
            for y in range(len(drawn), len(labels)):
                ax.annotate("not measured", (0, y), va="center", fontsize=8, color="0.4",
                            xytext=(3, 0), textcoords="offset points")
            ax.set_yticks(range(len(labels)), labels, fontsize=8)
            ax.set_ylim(len(labels) - 0.5, -0.5)  # first (fastest) on top
            ax.set_xlabel(unit)
            ax.set_xlim(0, max(d[col] for d in drawn) * 1.25)
            ax.grid(True, axis="x", alpha=0.3)
        axes[1].tick_params(labelleft=False)
        model, b, s, dt = cfg
        price = ("" if money else
                 "\nno prices for these chip classes (results/prices.csv): time only, no money")
        fig.suptitle(f"cost per training step, {model} (B={b}, T={s}, {dt}){price}", fontsize=11)
        foot = [f"{d[0]}: hatched, lower bound on time, upper bound on tokens/s ({'; '.join(d[4])})"
                for d in drawn if not d[3]] + notes
        if foot:
            fig.text(0.01, -0.01, "\n".join(foot), fontsize=7.5, va="top", ha="left")
        fig.tight_layout()
        save(fig, out, "cost_per_step_" + slug(model))
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
    gflops_per_joule(plt, rows, out)
    cost_per_step(plt, load_cost(results), out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
