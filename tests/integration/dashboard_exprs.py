#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PromQL expressions of a Grafana dashboard, for the tests.

  dashboard_exprs.py exprs DASHBOARD [JOB_REGEX]
      every panel target's expr and every query variable's query, one per line, with Grafana's
      variables replaced ($job -> JOB_REGEX, default promfcgi.*; $__range -> 1h;
      $__rate_interval / $__interval -> 1m); label_values(Q, label) becomes Q.
  dashboard_exprs.py check DASHBOARD RULES_FILE
      fails (exit 1, listing them) if an expr names a series that is neither a raw promfcgi
      metric nor recorded by RULES_FILE, or names none at all.
"""
import json
import re
import sys

RAW = {
    "up", "requests_total", "request_duration_seconds_bucket", "request_duration_seconds_sum",
    "request_duration_seconds_count", "active_requests",
    "promfcgi_metric_handler_requests_total", "promfcgi_store_errors_total",
    "promfcgi_pool_workers", "promfcgi_pool_busy_workers", "promfcgi_pool_idle_workers",
    "promfcgi_pool_busy_seconds_total", "promfcgi_pool_oldest_request_seconds",
    "promfcgi_pool_listen_queue", "promfcgi_pool_listen_queue_limit", "promfcgi_pool_listen_queue_max",
    "promfcgi_pool_worker_starts_total", "promfcgi_pool_worker_deaths_total",
    "promfcgi_pool_queue_seconds_bucket", "promfcgi_pool_queue_seconds_sum",
    "promfcgi_pool_queue_seconds_count",
}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan"}


def exprs(path, job):
    with open(path) as f:
        dash = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            out.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
            walk(p.get("panels", []))   # rows
    walk(dash.get("panels", []))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*", q)
            out.append(m.group(1) if m else q)
    subst = [("$__rate_interval", "1m"), ("$__interval", "1m"), ("$__range", "1h"),
             ("${job}", job), ("$job", job)]
    res = []
    for e in out:
        for a, b in subst:
            e = e.replace(a, b)
        res.append(" ".join(e.split()))
    return res


def series(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings
    e = re.sub(r"\{[^}]*\}", " ", e)                        # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                       # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = []
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or m.group(0).lower() in KEYWORDS:
            continue
        if m.start() > 0 and (e[m.start() - 1].isdigit() or e[m.start() - 1] == "."):
            continue                                         # 1e3, 5m
        names.append(m.group(0))
    return names


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "exprs":
        for e in exprs(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "promfcgi.*"):
            print(e)
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "check":
        with open(sys.argv[3]) as f:
            recorded = set(re.findall(r"^\s*-?\s*record:\s*(\S+)", f.read(), re.M))
        known = RAW | recorded
        bad = 0
        for e in exprs(sys.argv[2], "promfcgi.*"):
            names = series(e)
            unknown = [n for n in names if n not in known]
            if not names or unknown:
                print(f"{e}: unknown series {unknown}" if unknown else f"{e}: names no series")
                bad += 1
        return 1 if bad else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
