#!/usr/bin/env python3
"""nvml_crosscheck.py ENERGY_CSV SMI_POWER_CSV: check chipbench's NVML energy
for one row against an independent integration of nvidia-smi power samples.

ENERGY_CSV is a chipbench result CSV with one ok row measured with
power_quality=measured; SMI_POWER_CSV is the output of
  nvidia-smi --query-gpu=timestamp,power.draw --format=csv,noheader,nounits -lms 50
recorded beside the run (scripts/device_gpu.sh, step energy). The timed window
is the row's last samples*iters_per_sample*time_ns_mean of wall time before
the row's timestamp; the nvidia-smi samples inside that window are
integrated by the trapezoid rule and scaled to its length. Prints both
energies and their difference; exit 1 when they differ by more than 5%.
"""
import csv
import datetime
import sys


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    rows = [r for r in csv.DictReader(open(sys.argv[1], newline="")) if r["status"] == "ok"]
    if len(rows) != 1 or rows[0]["power_quality"] != "measured":
        print("need exactly one ok row with measured energy", file=sys.stderr)
        return 2
    r = rows[0]
    calls = int(r["samples"]) * int(r["iters_per_sample"])
    window = calls * float(r["time_ns_mean"]) * 1e-9
    ours = float(r["energy_j"]) * calls
    end = datetime.datetime.strptime(r["timestamp_utc"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp() + 1.0  # the stamp is truncated to seconds
    pts = []
    for line in open(sys.argv[2]):
        t, p = [x.strip() for x in line.split(",")]
        ts = datetime.datetime.strptime(t, "%Y/%m/%d %H:%M:%S.%f").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        pts.append((ts, float(p)))
    pts = [x for x in pts if x[0] <= end]
    # The row's window ends at most a second before the truncated stamp:
    # take the window-long stretch of highest energy ending in that second.
    best = None
    for lag in [i * 0.05 for i in range(21)]:
        t1 = end - lag
        w = [x for x in pts if t1 - window <= x[0] <= t1]
        if len(w) < 2:
            continue
        j = sum((w[i + 1][0] - w[i][0]) * (w[i + 1][1] + w[i][1]) / 2 for i in range(len(w) - 1))
        j *= window / (w[-1][0] - w[0][0])
        if best is None or j > best[0]:
            best = (j, len(w))
    if best is None:
        print("no nvidia-smi samples inside the row's window", file=sys.stderr)
        return 2
    theirs, n = best
    diff = (ours - theirs) / theirs
    print(f"{r['kernel']} {r['m']}x{r['n']}x{r['k']}: window {window:.2f} s, {calls} calls")
    print(f"chipbench  {r['power_source']}: {ours:.0f} J ({ours / window:.1f} W)")
    print(f"nvidia-smi power.draw, {n} samples at 50 ms: {theirs:.0f} J ({theirs / window:.1f} W)")
    print(f"difference {100 * diff:+.2f}%")
    return 0 if abs(diff) <= 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
