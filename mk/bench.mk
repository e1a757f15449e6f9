# SPDX-License-Identifier: MIT
# `make bench`: performance against the bare libfcgi app and the seed stack
# (Flask + prometheus_client).  Not part of `make test`; see docs/performance.md.
# The benchmark programs link the same release objects as the product.

BENCH_DIR  = build/bench
BENCH_LIBS = build/lib/libpromfcgi.a
BENCH_HDRS = $(HEADERS) tests/bench/benchutil.h

.PHONY: bench bench-deps bench-build
bench-deps:
	@scripts/deps
	@scripts/deps-bench

bench-build: all $(BENCH_DIR)/bare_hello $(BENCH_DIR)/bare_cgi $(BENCH_DIR)/scrape_bench $(BENCH_DIR)/churn_bench \
             $(BENCH_DIR)/growth_bench $(BENCH_DIR)/request_cost \
             $(BENCH_DIR)/request_bench \
             $(BENCH_DIR)/store_bench

bench: bench-deps
	@$(MAKE) --no-print-directory bench-build
	tests/bench/run $(BENCH_DIR)

# `make bench-scrape`: the scrape matrix in the real shape alone (every worker holding the same
# series, against client_python): tests/bench/scrape_matrix; SCRAPE_CELLS="S:W ..." picks cells.
.PHONY: bench-scrape
bench-scrape: bench-deps
	@$(MAKE) --no-print-directory bench-build
	tests/bench/scrape_matrix $(BENCH_DIR)
# `make pool-chart`: docs/pool.png, the pool figures of a saturation run (2 workers behind nginx,
# light load, 20 clients, a worker SIGSTOPped) read back from a real Prometheus; about a minute.
.PHONY: pool-chart
pool-chart: bench-deps
	@$(MAKE) --no-print-directory all
	tests/bench/pool_chart docs

# No promfcgi object in the baselines: they must cost exactly what libfcgi costs.
$(BENCH_DIR)/bare_hello $(BENCH_DIR)/bare_cgi: $(BENCH_DIR)/%: tests/bench/%.c
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $< -lfcgi

$(BENCH_DIR)/%: tests/bench/%.c $(BENCH_LIBS) $(BENCH_HDRS)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -o $@ $< $(BENCH_LIBS) $(LDLIBS) -lsqlite3  # the bench reads the store itself

# `make bench-protobuf`: promfcgi's protobuf encoder against Debian's protobuf-c on 10,000 series
# (tests/bench/protobuf_bench.c; the figures are in docs/performance.md).  protobuf-c is only
# measured, never linked into promfcgi.
PBC_DIR = build/bench/pbc
PBC_SRC = $(PBC_DIR)/io/prometheus/client/metrics.pb-c.c $(PBC_DIR)/google/protobuf/timestamp.pb-c.c

.PHONY: bench-protobuf
$(PBC_SRC) &: proto/io/prometheus/client/metrics.proto
	@mkdir -p $(PBC_DIR)
	protoc-c -Iproto -I/usr/include --c_out=$(PBC_DIR) io/prometheus/client/metrics.proto \
	    google/protobuf/timestamp.proto

$(BENCH_DIR)/protobuf_bench: tests/bench/protobuf_bench.c $(PBC_SRC) $(BENCH_LIBS) $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -I$(PBC_DIR) -c tests/bench/protobuf_bench.c -o $(BENCH_DIR)/protobuf_bench.o
	$(CC) $(CFLAGS) -I$(PBC_DIR) -o $@ $(BENCH_DIR)/protobuf_bench.o $(PBC_SRC) $(BENCH_LIBS) \
	    -lprotobuf-c $(LDLIBS)

bench-protobuf: deps all $(BENCH_DIR)/protobuf_bench
	$(BENCH_DIR)/protobuf_bench 15
