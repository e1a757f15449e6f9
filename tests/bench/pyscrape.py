# SPDX-License-Identifier: MIT
"""pyscrape.py: the scrape benchmark's peer: prometheus_client (Debian's
python3-prometheus-client) in multiprocess mode, with the same series and
process counts as tests/bench/scrape_bench.c.

Usage: /usr/bin/python3 pyscrape.py DIR SERIES WORKERS ROUNDS [same]
Prints one TSV line: series workers rounds median_ms bytes exact

Writes one counter_<pid>.db file per simulated worker with client_python's
own MmapedDict and mmap_key (exactly what Counter.inc() writes in a worker),
series i in worker i*WORKERS//SERIES's file (with "same": every series in
every worker's file, the shape of a site whose workers all serve every
route; a scrape then sums WORKERS values per series), 4 families with labels
(handler, code) like the C benchmark, then times generate_latest() of a
registry with a MultiProcessCollector: what its /metrics does per scrape.
Unlike promfcgi nothing is ever folded, so every scrape reads every file;
there is no 4096-series cap per process either, so every series is in a
"live" file.
"""
import os
import shutil
import statistics
import sys
import time

from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.mmap_dict import MmapedDict, mmap_key

NFAM = 4
HELP = "Requests by handler (benchmark)."


def main():
    directory, nseries, nworkers, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    same = len(sys.argv) > 5 and sys.argv[5] == "same"
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    for w in range(nworkers):
        lo, hi = (0, nseries) if same else (nseries * w // nworkers, nseries * (w + 1) // nworkers)
        d = MmapedDict(os.path.join(directory, "counter_%d.db" % (100000 + w)))
        for i in range(lo, hi):
            # client_python keys a counter's sample by its _total name
            name = "bench_requests_%d" % (i % NFAM)
            key = mmap_key(name, name + "_total", ("handler", "code"), ("/h/%d" % i, "200"), HELP)
            d.write_value(key, 1.0)
        d.close()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    times, body = [], b""
    for _ in range(rounds):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        t0 = time.perf_counter()
        body = generate_latest(registry)
        times.append((time.perf_counter() - t0) * 1e3)
    samples = [l for l in body.split(b"\n") if l.startswith(b"bench_requests_") and b"_total{" in l]
    total = nseries * (nworkers if same else 1)
    exact = int(len(samples) == nseries and sum(float(l.rsplit(b" ", 1)[1]) for l in samples) == total)
    shutil.rmtree(directory, ignore_errors=True)
    print("%d\t%d\t%d\t%.3f\t%d\t%d" % (nseries, nworkers, rounds, statistics.median(times), len(body), exact))


if __name__ == "__main__":
    main()
