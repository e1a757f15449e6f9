"""summarize.py: the summary of `make bench`: medians over rounds, the ratios
promfcgi/bare and promfcgi/seed, scrape, churn and RSS figures, each next to
its target (issue 5).  Reads the TSV files tests/bench/run wrote in OUTDIR,
prints the summary and writes OUTDIR/results.tsv (metric, value, target, met).

Usage: /usr/bin/python3 summarize.py OUTDIR
"""
import csv
import os
import statistics
import sys


def rows(out, name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def med(values):
    return statistics.median(values) if values else float("nan")


def main():
    out = sys.argv[1]
    rounds = rows(out, "rounds.tsv")
    results = []  # (metric, value, target, met)

    def result(metric, value, target="", met=""):
        results.append((metric, value, target, met))

    def yes(ok):
        return "yes" if ok else "NO"

    lines = []
    by = {}
    for r in rounds:
        by.setdefault((r["server"], r["stack"]), []).append(r)
    lines.append("HTTP (wrk -t1 -c16; medians over rounds; CPU = web server + workers, from /proc/PID/stat)")
    lines.append("  %-9s %-5s %6s %9s %9s %9s %12s" % ("server", "stack", "rounds", "req/s", "p50 us", "p99 us", "CPU us/req"))
    for (server, stack), rs in by.items():
        f = lambda k: med([float(x[k]) for x in rs])
        lines.append("  %-9s %-5s %6d %9.0f %9.0f %9.0f %12.1f" % (server, stack, len(rs), f("rps"), f("p50_us"), f("p99_us"), f("cpu_us_per_req")))
        for k in ("rps", "p50_us", "p99_us", "cpu_us_per_req"):
            result("%s.%s.%s" % (server, stack, k), "%.1f" % f(k))

    def ratio(server, a, b, key):
        ra = {x["round"]: float(x[key]) for x in by.get((server, a), [])}
        rb = {x["round"]: float(x[key]) for x in by.get((server, b), [])}
        per = [ra[k] / rb[k] for k in ra if k in rb and rb[k] > 0]
        return med(per)

    lines.append("Ratios (median of per-round ratios)")
    for server, target in (("nginx", 0.90), ("lighttpd", 0.90), ("lighttpd-cgi", 0.85)):
        if (server, "pf") not in by:
            continue
        v = ratio(server, "pf", "bare", "rps")
        lines.append("  %-12s promfcgi/bare req/s   %5.2f   target >= %.2f  %s" % (server, v, target, yes(v >= target)))
        result("%s.ratio.pf_bare.rps" % server, "%.3f" % v, ">= %.2f" % target, yes(v >= target))
        v = ratio(server, "pf", "bare", "cpu_us_per_req")
        lines.append("  %-12s promfcgi/bare CPU/req %5.2f" % (server, v))
        result("%s.ratio.pf_bare.cpu" % server, "%.3f" % v)
    if ("nginx", "seed") in by:
        v = ratio("nginx", "pf", "seed", "rps")
        lines.append("  nginx     promfcgi/seed req/s   %5.2f   target >= 3     %s" % (v, yes(v >= 3)))
        result("ratio.pf_seed.rps", "%.3f" % v, ">= 3", yes(v >= 3))
        v = ratio("nginx", "pf", "seed", "cpu_us_per_req")
        lines.append("  nginx     promfcgi/seed CPU/req %5.2f   target <= 0.30  %s" % (v, yes(v <= 0.30)))
        result("ratio.pf_seed.cpu", "%.3f" % v, "<= 0.30", yes(v <= 0.30))

    # Nothing lost: every round's responses counted (at most the 16 in flight when wrk stops extra).
    lost, extra, non2xx = 0, 0, 0
    for r in rounds:
        if r["stack"] == "pf":
            n, c = int(r["requests"]), int(r["counted"])
            lost += max(0, n - c)
            extra = max(extra, c - n)
            non2xx += int(r["non2xx"]) + int(r["socket_errors"])
    checks = rows(out, "checks.tsv")
    checks_ok = all(c["ok"] == "1" for c in checks)
    ok = lost == 0 and non2xx == 0 and checks_ok and bool(checks)
    lines.append("Exactness (promfcgi): %d responses lost over the wrk rounds (max %d extra: in flight at wrk's stop), "
                 "%d non-2xx/errors; %s  target: nothing lost  %s"
                 % (lost, extra, non2xx,
                    ", ".join("%s %s %s/%s" % (c["check"], c["server"], c["got"], c["expected"]) for c in checks),
                    yes(ok)))
    result("pf.lost_responses", str(lost), "0", yes(ok))

    rss = rows(out, "rss.tsv")
    pf_rss = [int(r["vmrss_kib"]) for r in rss if r["stack"] == "pf"]
    if pf_rss:
        worst = max(pf_rss)
        detail = "; ".join("%s %s %s KiB (anon %s, file %s, shmem %s)" % (r["server"], r["stack"], r["vmrss_kib"], r["rss_anon_kib"],
                                                                       r["rss_file_kib"], r["rss_shmem_kib"]) for r in rss)
        lines.append("Worker RSS: promfcgi max %.2f MiB  target <= 4 MiB  %s" % (worst / 1024, yes(worst <= 4096)))
        lines.append("  " + detail)
        result("pf.worker_rss_kib.max", str(worst), "<= 4096", yes(worst <= 4096))

    scrape = rows(out, "scrape.tsv")
    py = {(r["series"], r["workers"]): r for r in rows(out, "pyscrape.tsv")}
    if scrape:
        lines.append("Scrape (ms, median; promfcgi = pf_scrape + render_text in-process; client_python = generate_latest)")
        lines.append("  %7s %7s %6s %9s %10s %9s %9s %14s %7s" % ("series", "workers", "live", "first", "changed", "idle", "render", "client_python", "ratio"))
        for r in scrape:
            p = py.get((r["series"], r["workers"]))
            pms = float(p["ms"]) if p else float("nan")
            ch = float(r["changed_ms"])
            lines.append("  %7s %7s %6s %9.2f %10.2f %9.2f %9.2f %14.2f %7.2f%s" % (
                r["series"], r["workers"], r["live_series"], float(r["first_ms"]), ch, float(r["idle_ms"]),
                float(r["render_ms"]), pms, ch / pms if pms else float("nan"), "" if r["exact"] == "1" else "  NOT EXACT"))
            key = "scrape.%s.%s" % (r["series"], r["workers"])
            result(key + ".changed_ms", r["changed_ms"])
            result(key + ".idle_ms", r["idle_ms"])
            result(key + ".client_python_ms", "%.3f" % pms)
        ten = [r for r in scrape if r["series"] == "10000"]
        if ten:
            idle = max(float(r["idle_ms"]) for r in ten)
            changed = max(float(r["changed_ms"]) for r in ten)
            lines.append("  10k series, nothing new to fold (worst of 1/16/128 workers): %.2f ms  target < 20 ms  %s" % (idle, yes(idle < 20)))
            lines.append("  10k series, every series changed since the last scrape (worst): %.2f ms  target < 20 ms  %s" % (changed, yes(changed < 20)))
            result("scrape.10k.idle_ms.worst", "%.3f" % idle, "< 20", yes(idle < 20))
            result("scrape.10k.changed_ms.worst", "%.3f" % changed, "< 20", yes(changed < 20))

    churn = rows(out, "churn.tsv")
    if churn:
        lines.append("Churn (after N worker lifetimes, half SIGKILLed; sizes in KiB allocated on disk)")
        lines.append("  %9s %9s %8s %8s %8s %6s %10s %6s %7s %6s" % ("lifetimes", "scrape ms", "db", "wal", "stage", "files", "logical", "incs", "folded", "exact"))
        for r in churn:
            lines.append("  %9s %9.3f %8.0f %8.0f %8.0f %6s %10.0f %6s %7s %6s" % (
                r["lifetimes"], float(r["scrape_ms"]), int(r["db_bytes"]) / 1024, int(r["wal_bytes"]) / 1024,
                int(r["stage_bytes"]) / 1024, r["stage_files"], int(r["logical_bytes"]) / 1024,
                r["incarnation_rows"], r["folded_rows"], r["exact"]))
        first = churn[0]
        thousand = next((r for r in churn if r["lifetimes"] == "1000"), churn[-1])

        def flat(k):
            a, b = float(first[k]), float(thousand[k])
            return (b / a if a else float("inf")), a > 0 and abs(b / a - 1) <= 0.20
        for k, what in (("scrape_ms", "scrape time"), ("logical_bytes", "store size (pages in use)")):
            v, ok = flat(k)
            lines.append("  %s 1 -> %s lifetimes: x%.2f  target flat (+-20 %%)  %s" % (what, thousand["lifetimes"], v, yes(ok)))
            result("churn.%s.ratio_1_to_%s" % (k, thousand["lifetimes"]), "%.3f" % v, "0.8 .. 1.2", yes(ok))
        files = lambda r: int(r["db_bytes"]) + int(r["wal_bytes"]) + int(r["stage_bytes"])
        v = files(thousand) / files(first)
        lines.append("  files on disk (db + wal + stage) 1 -> %s lifetimes: x%.2f (%.0f -> %.0f KiB; the WAL fills up to its "
                     "checkpoint size, then stays)  %s" % (thousand["lifetimes"], v, files(first) / 1024, files(thousand) / 1024,
                                                          yes(abs(v - 1) <= 0.2)))
        result("churn.files_bytes.ratio_1_to_%s" % thousand["lifetimes"], "%.3f" % v, "0.8 .. 1.2", yes(abs(v - 1) <= 0.2))
        allexact = all(r["exact"] == "1" for r in churn)
        result("churn.exact", "1" if allexact else "0", "1", yes(allexact))

    print("\n".join(lines))
    with open(os.path.join(out, "results.tsv"), "w") as f:
        f.write("metric\tvalue\ttarget\tmet\n")
        for r in results:
            f.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
