# SPDX-License-Identifier: MIT
"""same_shape.py: the scrape matrix in the real shape (tests/bench/scrape_matrix:
every worker holds the same series), each cell beside client_python's and
its targets (issue 18): 10k x 16 < 10 ms, 100k x 1 < 100 ms, 1k x 128 <
10 ms, faster than client_python in every cell.  summarize.py prints it in
`make bench`'s summary; run alone, it prints the table for `make
bench-scrape`.

Usage: /usr/bin/python3 same_shape.py OUTDIR
"""
import csv
import os
import sys

TARGETS = {("10000", "16"): 10.0, ("100000", "1"): 100.0, ("1000", "128"): 10.0}


def rows(out, name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def section(out, lines, result):
    same = rows(out, "same.tsv")
    if not same:
        return
    py = {(r["series"], r["workers"]): r for r in rows(out, "pysame.tsv")}
    yes = lambda ok: "yes" if ok else "NO"
    lines.append("Scrape, the real shape: each of W workers holds the same S series, every one changed "
                 "(ms, median; W x S cells merged into S series)")
    lines.append("  target: faster than client_python in every cell; 10k x 16 < 10 ms; 100k x 1 < 100 ms; "
                 "1k x 128 < 10 ms")
    lines.append("  %7s %7s %9s %8s %8s %8s %8s %11s %7s  %-22s %s" % (
        "series", "workers", "cells", "first", "changed", "idle", "render", "client_py", "ratio", "target", "met"))
    ok_all, chart = [], []
    for r in same:
        p = py.get((r["series"], r["workers"]))
        pms = float(p["ms"]) if p else float("nan")
        ch, idle = float(r["changed_ms"]), float(r["idle_ms"])
        bound = TARGETS.get((r["series"], r["workers"]))
        target = "< client_python" + (", < %g ms" % bound if bound else "")
        ok = (ch < pms and idle < pms and (bound is None or ch < bound) and r["exact"] == "1"
              and p is not None and p["exact"] == "1")
        ok_all.append(ok)
        lines.append("  %7s %7s %9s %8.2f %8.2f %8.2f %8.2f %11.2f %6.0fx  %-22s %s%s" % (
            r["series"], r["workers"], r["live_series"], float(r["first_ms"]), ch, idle, float(r["render_ms"]),
            pms, pms / ch if ch else float("nan"), target, yes(ok), "" if r["exact"] == "1" else "  NOT EXACT"))
        key = "same.%s.%s" % (r["series"], r["workers"])
        result(key + ".changed_ms", r["changed_ms"], target, yes(ok))
        result(key + ".idle_ms", r["idle_ms"])
        result(key + ".client_python_ms", "%.3f" % pms)
        chart.append((r["series"], r["workers"], ch, pms))
    left = os.path.join(out, "same-left-out.txt")
    if os.path.exists(left):
        for l in open(left):
            lines.append("  left out: " + l.strip())
    n = sum(ok_all)
    lines.append("  cells meeting every target: %d of %d  %s" % (n, len(ok_all), yes(n == len(ok_all))))
    result("same.cells_met", "%d/%d" % (n, len(ok_all)), "all", yes(n == len(ok_all)))
    with open(os.path.join(out, "scrape-same-chart.dat"), "w") as f:
        for series in ("1000", "10000", "100000"):
            f.write("# series %s: workers changed_ms client_python_ms\n" % series)
            for c in chart:
                if c[0] == series:
                    f.write("%s %.4f %.4f\n" % (c[1], c[2], c[3]))
            f.write("\n\n")


def main():
    out = sys.argv[1]
    lines, results = [], []
    section(out, lines, lambda *r: results.append(r))
    print("\n".join(lines))
    with open(os.path.join(out, "results-same.tsv"), "w") as f:
        f.write("metric\tvalue\ttarget\tmet\n")
        for r in results:
            f.write("\t".join(x if isinstance(x, str) else "" for x in (list(r) + ["", ""])[:4]) + "\n")


if __name__ == "__main__":
    main()
