# SPDX-License-Identifier: MIT
"""summarize.py: the summary of `make bench`: medians over rounds, the ratios
promfcgi/bare and promfcgi/seed, scrape, churn and RSS figures, each next to
its target (issue 5), and last the figures of issue 20, each beside its
target and its value in release 0.3.0.  Reads the TSV files tests/bench/run
wrote in OUTDIR, prints the summary and writes OUTDIR/results.tsv (metric,
value, target, met) and the charts' data.

Usage: /usr/bin/python3 summarize.py OUTDIR
"""
import csv
import os
import statistics
import sys

import same_shape


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

    # The chart: each round's promfcgi/bare ratio, req/s and CPU per request, one line per
    # server and mode, all on one axis (req/s of CGI and FastCGI differ by 100x).
    servers = [sv for sv in dict.fromkeys(k[0] for k in by) if (sv, "pf") in by and (sv, "bare") in by]
    with open(os.path.join(out, "http-chart.dat"), "w") as f:
        for server in servers:
            ra = {x["round"]: x for x in by[(server, "pf")]}
            rb = {x["round"]: x for x in by[(server, "bare")]}
            f.write("# %s: round promfcgi/bare req/s, promfcgi/bare CPU per request\n" % server)
            for k in sorted(ra, key=int):
                if k in rb and float(rb[k]["rps"]) > 0 and float(rb[k]["cpu_us_per_req"]) > 0:
                    f.write("%s %.4f %.4f\n" % (k, float(ra[k]["rps"]) / float(rb[k]["rps"]),
                                               float(ra[k]["cpu_us_per_req"]) / float(rb[k]["cpu_us_per_req"])))
            f.write("\n\n")
    with open(os.path.join(out, "http-chart.idx"), "w") as f:
        f.write("\n".join(servers) + "\n")
    lines.append("Ratios (median of per-round ratios)")
    # FastCGI: hello records request_duration_seconds with classic and native buckets (issue 11:
    # >= 0.95; nginx >= 0.97 and CGI >= 0.95 since issue 20)
    for server, target in (("nginx", 0.97), ("lighttpd", 0.95), ("lighttpd-cgi", 0.95)):
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
    chart = []  # series workers changed idle client_python
    if scrape:
        lines.append("Scrape (ms, median; promfcgi = scrape_collect + render_text in-process; client_python = generate_latest)")
        lines.append("  target per cell: changed and idle faster than client_python; 10k series < 10 ms; 100k series < 100 ms")
        lines.append("  (reread: after another process changed the store; fold: folding the live after an answer, once a minute)")
        lines.append("  %7s %7s %6s %8s %8s %8s %8s %8s %8s %8s  %-23s %s" % (
            "series", "workers", "live", "first", "changed", "idle", "reread", "fold", "render", "client_py", "target", "met"))
        cells_ok = []
        for r in scrape:
            p = py.get((r["series"], r["workers"]))
            pms = float(p["ms"]) if p else float("nan")
            ch, idle = float(r["changed_ms"]), float(r["idle_ms"])
            bound = {"10000": 10.0, "100000": 100.0}.get(r["series"])
            target = "< client_python" + (", < %g ms" % bound if bound else "")
            ok = ch < pms and idle < pms and (bound is None or (ch < bound and idle < bound)) and r["exact"] == "1"
            cells_ok.append(ok)
            lines.append("  %7s %7s %6s %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f  %-23s %s%s" % (
                r["series"], r["workers"], r["live_series"], float(r["first_ms"]), ch, idle,
                float(r.get("reread_ms") or "nan"), float(r.get("fold_ms") or "nan"),
                float(r["render_ms"]), pms, target, yes(ok),
                "" if r["exact"] == "1" else "  NOT EXACT"))
            key = "scrape.%s.%s" % (r["series"], r["workers"])
            result(key + ".changed_ms", r["changed_ms"], target, yes(ok))
            result(key + ".idle_ms", r["idle_ms"], target, yes(ok))
            result(key + ".reread_ms", r.get("reread_ms") or "")
            result(key + ".fold_ms", r.get("fold_ms") or "")
            result(key + ".client_python_ms", "%.3f" % pms)
            chart.append((r["series"], r["workers"], ch, idle, pms))
        n_ok = sum(cells_ok)
        lines.append("  cells meeting every target: %d of %d  %s" % (n_ok, len(cells_ok), yes(n_ok == len(cells_ok))))
        result("scrape.cells_met", "%d/%d" % (n_ok, len(cells_ok)), "all", yes(n_ok == len(cells_ok)))
        with open(os.path.join(out, "scrape-chart.dat"), "w") as f:
            for series in ("1000", "10000", "100000"):
                f.write("# series %s: workers changed_ms idle_ms client_python_ms\n" % series)
                for c in chart:
                    if c[0] == series:
                        f.write("%s %.4f %.4f %.4f\n" % (c[1], c[2], c[3], c[4]))
                f.write("\n\n")

    same_shape.section(out, lines, result)  # the real shape: every worker holds the same series

    hs = rows(out, "hscrape.tsv")
    if hs:
        lines.append("Scrape of 10,000 series by kind (ms, median; every series changed / nothing new; text = "
                     "scrape_collect + render_text, protobuf = scrape_collect + protobuf_render, what Prometheus reads "
                     "with native histograms on)")
        lines.append("  %-9s %7s %6s %9s %9s %9s %9s %8s %8s %9s %9s %s" % (
            "kind", "workers", "live", "text", "protobuf", "idle txt", "idle pb", "reread", "fold", "text KiB", "pb KiB", "exact"))
        for r in hs:
            scrape_changed = float(r["changed_ms"]) - float(r["render_ms"])
            pb = scrape_changed + float(r["pb_ms"])
            idle_pb = float(r["idle_ms"]) - float(r["render_ms"]) + float(r["pb_ms"])
            lines.append("  %-9s %7s %6s %9.2f %9.2f %9.2f %9.2f %8.2f %8.2f %9.0f %9.0f %s" % (
                r["kind"], r["workers"], r["live_series"], float(r["changed_ms"]), pb, float(r["idle_ms"]), idle_pb,
                float(r["reread_ms"]), float(r["fold_ms"]), int(r["bytes"]) / 1024, int(r["pb_bytes"]) / 1024,
                "yes" if r["exact"] == "1" else "NO"))
            key = "hscrape.%s.%s" % (r["kind"], r["workers"])
            result(key + ".text_ms", r["changed_ms"])
            result(key + ".protobuf_ms", "%.3f" % pb)
            result(key + ".idle_text_ms", r["idle_ms"])
            result(key + ".reread_ms", r["reread_ms"])
            result(key + ".fold_ms", r["fold_ms"])
            result(key + ".exact", r["exact"], "1", yes(r["exact"] == "1"))

    e2e = rows(out, "e2e.tsv")
    if e2e:
        for enc in ("identity", "gzip"):
            ms = [float(r["ms"]) for r in e2e if r["encoding"] == enc and r["code"] == "200"]
            if not ms:
                continue
            v = med(ms)
            size = med([float(r["bytes"]) for r in e2e if r["encoding"] == enc])
            bad = sum(1 for r in e2e if r["encoding"] == enc and r["code"] != "200")
            if enc == "identity":
                lines.append("End to end (curl of /metrics through nginx, %s series, %s live workers, %d requests): median %.2f ms, "
                             "p90 %.2f ms, %.0f KiB  target < 15 ms  %s" % (e2e[0]["series"], e2e[0]["workers"], len(ms), v,
                                                                          sorted(ms)[int(0.9 * (len(ms) - 1))], size / 1024,
                                                                          yes(v < 15 and bad == 0)))
                result("e2e.nginx.metrics_ms", "%.3f" % v, "< 15", yes(v < 15 and bad == 0))
            else:
                lines.append("  the same with Accept-Encoding: gzip (as Prometheus asks): median %.2f ms, %.0f KiB" % (v, size / 1024))
                result("e2e.nginx.metrics_gzip_ms", "%.3f" % v)

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

        # A scrape of an empty store takes some 20 us, where a timer tick or a
        # cold cache moves it by half: the scrape time is also flat within
        # 0.05 ms, far below what a cost per dead worker would add over 1000
        # lifetimes (one row or file each: a millisecond or more).
        def flat(k, slack):
            a, b = float(first[k]), float(thousand[k])
            return (b / a if a else float("inf")), a > 0 and (abs(b / a - 1) <= 0.20 or abs(b - a) <= slack)
        for k, what, slack, target in (("scrape_ms", "scrape time", 0.05, "flat (+-20 % or +-0.05 ms)"),
                                        ("logical_bytes", "store size (pages in use)", 0, "flat (+-20 %)")):
            v, ok = flat(k, slack)
            lines.append("  %s 1 -> %s lifetimes: x%.2f (%s -> %s)  target %s  %s" % (
                what, thousand["lifetimes"], v, first[k], thousand[k], target, yes(ok)))
            result("churn.%s.ratio_1_to_%s" % (k, thousand["lifetimes"]), "%.3f" % v, target, yes(ok))
        # Files on disk are bounded, not flat: the WAL fills from nothing up to its checkpoint size
        # (journal_size_limit, 4 MiB; a scrape trims it past 1 MiB) and then stays below it.
        files = lambda r: int(r["db_bytes"]) + int(r["wal_bytes"]) + int(r["stage_bytes"])
        bound = lambda r: int(r["logical_bytes"]) + int(r["stage_bytes"]) + 4 * 1024 * 1024
        worst = max(churn, key=lambda r: files(r) - bound(r))
        ok = all(files(r) <= bound(r) for r in churn)
        lines.append("  files on disk (db + wal + stage) at every checkpoint: at most %.0f KiB (after %s lifetimes)  "
                     "target <= pages in use + 4 MiB of WAL  %s" % (files(worst) / 1024, worst["lifetimes"], yes(ok)))
        result("churn.files_bytes.bounded", "%d" % files(worst), "<= pages in use + 4 MiB", yes(ok))
        allexact = all(r["exact"] == "1" for r in churn)
        result("churn.exact", "1" if allexact else "0", "1", yes(allexact))

    issue20(out, lines, result, yes, ratio, by, hs)

    print("\n".join(lines))
    with open(os.path.join(out, "results.tsv"), "w") as f:
        f.write("metric\tvalue\ttarget\tmet\n")
        for r in results:
            f.write("\t".join(r) + "\n")


# Release 0.3.0's figures (the closing notes of issues 8-12, `issues stops`; docs/performance.md
# of that release), printed beside this run's.
V030 = {
    "cgi_instructions": "408k/232k 1.76x",
    "cgi_rps": "0.89 (0.82-0.97)",
    "native_pb_1": "24.6", "native_pb_16": "47.1", "native_text_1": "16.6", "native_text_16": "40.9",
    "reread_16": "74.1 (65-81)", "reread_128": "81.1 (65-81)",
    "fold_16": "342 (340-420)", "fold_128": "423 (340-420)",
    "deaths": "491 at 190",
    "nginx": "1.00",
}


def issue20(out, lines, result, yes, ratio, by, hs):
    """Each figure of issue 20 beside its target and its 0.3.0 value."""
    rows = []  # (figure, this run, target, 0.3.0, met)
    notes = []

    def row(key, figure, value, target, before, ok):
        rows.append((figure, value, target, before, ok))
        result("issue20." + key, value, target, ok)

    cgi = rows_of(out, "cgicost.tsv")
    if cgi:
        pf = med([float(r["instructions"]) for r in cgi if r["program"] == "promfcgi"])
        bare = med([float(r["instructions"]) for r in cgi if r["program"] == "bare"])
        v = pf / bare if bare else float("nan")
        row("cgi.instructions_ratio", "CGI request, instructions promfcgi/bare",
            "%.0fk/%.0fk %.2fx" % (pf / 1000, bare / 1000, v), "<= 1.15x", V030["cgi_instructions"],
            yes(v <= 1.15))
    if ("lighttpd-cgi", "pf") in by:
        v = ratio("lighttpd-cgi", "pf", "bare", "rps")
        row("cgi.rps_ratio", "CGI req/s (lighttpd), promfcgi/bare", "%.2f" % v, ">= 0.95",
            V030["cgi_rps"], yes(v >= 0.95))
    for r in hs:
        if r["kind"] != "native" or r["workers"] not in ("1", "16"):
            continue
        collect = float(r["changed_ms"]) - float(r["render_ms"])
        pb, text = collect + float(r["pb_ms"]), float(r["changed_ms"])
        for fmt, v in (("protobuf", pb), ("text", text)):
            key = "native_%s_%s" % ("pb" if fmt == "protobuf" else "text", r["workers"])
            row(key + "_ms", "10k native, %s worker%s, %s, ms" % (
                r["workers"], "" if r["workers"] == "1" else "s", fmt),
                "%.2f" % v, "< 10", V030[key], yes(v < 10 and r["exact"] == "1"))
    for r in rows_of(out, "store.tsv"):
        w = r["workers"]
        v = float(r["reread_ms"])
        row("reread_%s_ms" % w, "reread of 100k, %s workers, ms" % w, "%.2f" % v, "< 5",
            V030.get("reread_" + w, "65-81"), yes(v < 5 and r["exact"] == "1"))
        notes.append("reread, %s workers: scrape_collect after another process folded one series the store "
                     "has; %s rows read; with render_text %.1f ms; after a new series %.2f ms" % (
                         w, r["reread_rows"], float(r["reread_total_ms"]), float(r["reread_new_ms"])))
        v, top = float(r["fold_ms"]), float(r["fold_max_ms"])
        row("fold_%s_ms" % w, "fold of %sk changed live, %s workers, ms" % (int(r["live"]) // 1000, w),
            "%.1f (max %.1f)" % (v, top), "< 100", V030.get("fold_" + w, "340-420"),
            yes(top < 100 and r["exact"] == "1"))
    notes.append("fold: scrape_idle with every live series changed, median (max: the longest a scrape "
                 "arriving meanwhile waits for it, in the same process)")
    burst = rows_of(out, "burst.tsv")
    if burst:
        base = {r["deaths"]: int(r["db_bytes"]) for r in burst}.get("10")
        worst = max(int(r["db_bytes"]) for r in burst)
        ok = base and worst <= 2 * base and all(r["exact"] == "1" and r["folded_rows"] == "0" for r in burst)
        row("dead_workers_db_bytes", "store KB after %s deaths" % "/".join(r["deaths"] for r in burst),
            "/".join("%.0f" % (int(r["db_bytes"]) / 1024) for r in burst),
            "<= 2x at 10", V030["deaths"], yes(bool(ok)))
        notes.append("store: the database file after N worker lifetimes with no scrape between (half "
                     "SIGKILLed, half pf_close; the hello app's native durations), one scrape and a WAL "
                     "checkpoint; 0.3.0: 86 KB with a scrape every 20 deaths")
    if ("nginx", "pf") in by:
        v = ratio("nginx", "pf", "bare", "rps")
        row("fastcgi.nginx_rps_ratio", "FastCGI req/s (nginx), promfcgi/bare", "%.2f" % v, ">= 0.97",
            V030["nginx"], yes(v >= 0.97))
    if not rows:
        return
    lines.append("Issue 20: the costs that were left, each figure beside its target and its 0.3.0 value")
    w = max(len(r[0]) for r in rows)
    lines.append("  %-*s  %-17s  %-9s  %-16s  %s" % (w, "figure", "this run", "target", "0.3.0", "met"))
    for figure, value, target, before, ok in rows:
        lines.append("  %-*s  %-17s  %-9s  %-16s  %s" % (w, figure, value, target, before, ok))
    n = sum(1 for r in rows if r[4] == "yes")
    lines.append("  figures meeting their target: %d of %d" % (n, len(rows)))
    for note in notes:
        lines.append("  (%s)" % note)


def rows_of(out, name):
    return rows(out, name)


if __name__ == "__main__":
    main()
