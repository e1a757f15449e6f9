#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Strict OpenMetrics 1.0 check of stdin with an independent parser: client_python's
(Debian's python3-prometheus-client), which refuses what the spec refuses (no "# EOF" last,
a counter sample without _total, bad escapes, families split apart, an exemplar on a gauge or
over 128 characters...). promtool 2.42's `check metrics` reads the text format only.

  om_check.py < page        exit 0 and a one-line summary, or exit 1 with the parser's reason
  om_check.py --exemplars   also print every exemplar as "sample labels -> exemplar labels value ts"
"""
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main():
    text = sys.stdin.read()
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and friends with the reason
        print(f"om_check: invalid OpenMetrics: {e}")
        return 1
    samples = sum(len(f.samples) for f in families)
    exemplars = [(f, s) for f in families for s in f.samples if s.exemplar]
    print(f"om_check: {len(families)} families, {samples} samples, {len(exemplars)} exemplars")
    if "--exemplars" in sys.argv:
        for f, s in exemplars:
            e = s.exemplar
            print(f"{s.name} {dict(s.labels)} -> {dict(e.labels)} {e.value} {e.timestamp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
