#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The load and the checks of many_series.bats (the app tests/integration/apps/many_series.c).

  many_series.py load PORT       one request through the web server on 127.0.0.1:PORT for each
                                 route x method x code of the app (250 x 8 x 5 = 10,000), request
                                 i counting tenants 10i .. 10i+9; prints "status count" lines
  many_series.py page FILE       a saved /metrics page (text 0.0.4): prints
                                 "requests SERIES SUM MIN MAX tenants SERIES SUM MIN MAX" over
                                 requests_total of the app's routes and tenant_requests_total

Keep-alive connections (nginx closes one every so many requests: a new one is opened); every
socket operation has a timeout.
"""
import collections
import http.client
import sys

ROUTES = 250
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"]  # BREW: "other"
CODES = [200, 201, 404, 500, 503]


def load(port):
    seen = collections.Counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    i = 0
    for r in range(ROUTES):
        for m in METHODS:
            for c in CODES:
                conn.request(m, "/r%03d/x%d?code=%d&t=%d" % (r, i, c, 10 * i))
                resp = conn.getresponse()
                resp.read()
                seen[resp.status] += 1
                if resp.will_close:
                    conn.close()
                i += 1
    conn.close()
    for status, n in sorted(seen.items()):
        print(status, n)


def unlabel(line):
    """name, {label: value}, value of a sample line without escapes in its values."""
    head, value = line.rsplit(" ", 1)
    if "{" not in head:
        return head, {}, float(value)
    name, rest = head.split("{", 1)
    labels = dict(kv.split("=", 1) for kv in rest.rstrip("}").split(","))
    return name, {k: v.strip('"') for k, v in labels.items()}, float(value)


def page(path):
    req, ten = [], []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, labels, value = unlabel(line)
            if name == "requests_total" and labels.get("route", "").startswith("/r"):
                req.append(value)
            elif name == "tenant_requests_total":
                ten.append(value)
    stats = lambda v: "%d %g %g %g" % (len(v), sum(v), min(v) if v else 0, max(v) if v else 0)
    print("requests %s tenants %s" % (stats(req), stats(ten)))


if __name__ == "__main__":
    {"load": lambda: load(int(sys.argv[2])), "page": lambda: page(sys.argv[2])}[sys.argv[1]]()
