# `make bench`: performance against the bare libfcgi app and the seed stack
# (Flask + prometheus_client).  Not part of `make test`; see docs/performance.md.
# The benchmark programs link the same release objects as the product.

BENCH_DIR  = build/bench
BENCH_LIBS = store/libpromfcgi.a
BENCH_HDRS = $(HEADERS) tests/bench/benchutil.h

.PHONY: bench bench-deps bench-build
bench-deps:
	@scripts/deps
	@scripts/deps-bench

bench-build: all $(BENCH_DIR)/bare_hello $(BENCH_DIR)/scrape_bench $(BENCH_DIR)/churn_bench

bench: bench-deps
	@$(MAKE) --no-print-directory bench-build
	tests/bench/run $(BENCH_DIR)

# No promfcgi object in the baseline: it must cost exactly what libfcgi costs.
$(BENCH_DIR)/bare_hello: tests/bench/bare_hello.c
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -o $@ $< -lfcgi

$(BENCH_DIR)/%: tests/bench/%.c $(BENCH_LIBS) $(BENCH_HDRS)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -o $@ $< $(BENCH_LIBS) $(LDLIBS)
