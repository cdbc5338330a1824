#!/usr/bin/env python3
"""Per-kernel time of one profiled decode step, from `ncu --csv --metrics gpu__time_duration.sum`
output (bench_engine_cuda --profile B under ncu): kernels grouped by name, total and count,
largest first, and the sum (the step's GPU time without launch gaps).
  ncu_summary.py NCU_CSV [--top N]"""
import argparse
import collections
import csv
import re
import sys


def short_name(name):
    """The kernel's own name with its template arguments: `void ns::<unnamed>::k<128>(...)` -> `k<128>`."""
    name = name.replace("(anonymous namespace)", "anon").replace("<unnamed>", "anon")
    name = re.sub(r"\(.*$", "", name)          # parameter list
    name = name.replace("void ", "").strip()
    depth, cut = 0, 0                          # the last '::' outside template arguments
    for i, ch in enumerate(name):
        depth = max(0, depth + (ch == "<") - (ch == ">"))  # ncu may cut a name inside "<unnamed>"
        if depth == 0 and name.startswith("::", i):
            cut = i + 2
    return name[cut:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    with open(a.csv, newline="") as f:
        lines = [l for l in f if l.startswith('"')]  # ncu's own messages start with ==
    if not lines:
        sys.exit(f"{a.csv}: no kernel rows (did ncu profile anything?)")
    total = collections.Counter()
    count = collections.Counter()
    for row in csv.DictReader(lines):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        value = float(row["Metric Value"].replace(",", ""))
        unit = row.get("Metric Unit", "ns")
        us = value / 1e3 if unit in ("ns", "nsecond") else value * 1e3 if unit in ("ms", "msecond") else value
        k = short_name(row["Kernel Name"])
        total[k] += us
        count[k] += 1
    step = sum(total.values())
    print(f"{'kernel':<44} {'calls':>5} {'us':>9} {'share':>6}")
    for k, us in total.most_common(a.top):
        print(f"{k[:44]:<44} {count[k]:>5} {us:>9.1f} {100 * us / step:>5.1f}%")
    print(f"{'all ' + str(sum(count.values())) + ' kernels':<44} {'':>5} {step:>9.1f}")


if __name__ == "__main__":
    main()
