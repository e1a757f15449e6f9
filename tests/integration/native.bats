# SPDX-License-Identifier: MIT
# Native histograms end to end: a real Prometheus 2.42 with --enable-feature=native-histograms
# scrapes an nginx stack under load (hello workers under ab) while two app/orders.fcgi workers on
# the same store record 1,000 order values known in advance (sent through their FastCGI socket);
# job "native" gets protobuf (Prometheus' own Accept), job "text" the same page in text 0.0.4
# (params format=text).  Through the HTTP API: histogram_count and histogram_sum of the native
# histogram are exact, histogram_quantile(0.5|0.9|0.99) is within the schema's bound of the exact
# quantile; the hello app's request_duration_seconds counts every request in its native part; and
# the classic buckets of the same families answer as before, through the text job: Prometheus
# 2.42, scraping protobuf, keeps only the native part of a histogram that has both (reading its
# classic buckets too needs scrape_classic_histograms, which came in 2.45).
load helpers

N=1000

setup_file() {
    start_stack nginx
    ORDERS_SOCK=$STACK_DIR/orders.sock
    local out
    out=$(PROMFCGI_DB=$STACK_DB spawn-fcgi -F 2 -s "$ORDERS_SOCK" -- "$BIN_DIR/app/orders.fcgi")
    ORDERS_PIDS=$(grep -o 'PID: [0-9]*' <<<"$out" | awk '{ print $2 }' | tr '\n' ' ')
    export ORDERS_SOCK ORDERS_PIDS
    start_prometheus "  - job_name: native
    static_configs: [{targets: [\"127.0.0.1:$PORT\"]}]
  - job_name: text
    params: {format: [text]}
    static_configs: [{targets: [\"127.0.0.1:$PORT\"]}]" --enable-feature=native-histograms
    # The known values: 1,000 orders from 1 to 1,024 dollars, evenly spread in log scale, each a
    # multiple of 1/64 (so every sum of them is exact in a double, in any order), over the three
    # kinds; the exact sum, quantiles (nearest rank: the value of rank ceil(q N), the one in the
    # bucket histogram_quantile picks) and classic bucket counts, computed here.
    "$PYTHON" - "$N" "$BATS_FILE_TMPDIR" <<'PY'
import json, math, sys
n, out = int(sys.argv[1]), sys.argv[2]
values = [round(2 ** (10 * i / (n - 1)) * 64) / 64 for i in range(n)]
kinds = ["book", "pen", "other"]
with open(out + "/uris", "w") as f:
    for i, v in enumerate(values):
        f.write("/order?kind=%s&value=%r\n" % (kinds[i % 3], v))
s = sorted(values)
want = {"count": n, "sum": sum(values),
        "q": {str(q): s[math.ceil(q * n) - 1] for q in (0.5, 0.9, 0.99)},
        "le": {str(le): sum(1 for v in values if v <= le) for le in (1, 5, 10, 50, 100, 500)}}
json.dump(want, open(out + "/want.json", "w"))
PY
}

teardown_file() {
    stop_prometheus
    local p
    for p in $ORDERS_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $ORDERS_PIDS; do retry 100 _gone "$p" || kill -KILL "$p" 2>/dev/null || true; done
    stop_stack || true
}

want() { jq -r "$1" "$BATS_FILE_TMPDIR/want.json"; }

# Waits (bounded: 30 s) until prom_query $1 prints $2; prints what it got last.
await_query() {
    local v= i
    for ((i = 0; i < 60; i++)); do
        v=$(prom_query "$1") || true
        [[ $v == "$2" ]] && break
        sleep 0.5
    done
    echo "$v"
}

# Whether Prometheus' value $1 is within relative error $3 of the exact $2; says both.
within() {
    "$PYTHON" -c '
import sys
got, want, bound = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
err = abs(got - want) / want
print("prometheus %.6g, exact %.6g, relative error %.4f (bound %.4f)" % (got, want, err, bound))
sys.exit(0 if err <= bound else 1)' "$@"
}

@test "native: under load, histogram_count, histogram_sum and histogram_quantile of the native histogram agree with the exact values" {
    ab -q -n 6000 -c 8 "$BASE/" >"$BATS_TEST_TMPDIR/ab.txt" 2>&1 &
    local ab=$!
    run "$PYTHON" "$TOOLS/fcgi.py" get "$ORDERS_SOCK" - <"$BATS_FILE_TMPDIR/uris"
    wait "$ab"
    assert_success
    assert_equal "$(sort <<<"$output" | uniq -c | awk '{ print $1, $2 }')" "$N 200"
    run await_query 'histogram_count(sum(order_value_dollars{job="native"}))' "$N"
    assert_output "$N"
    run prom_query 'histogram_sum(sum(order_value_dollars{job="native"}))'
    assert_output "$(want .sum)"
    # histogram_quantile finds the bucket holding the value of rank q N and interpolates in it:
    # the exact value is in the same bucket, (2^((k-1)/8), 2^(k/8)] at schema 3, so the estimate
    # is off by less than that bucket's width over its lower bound, 2^(1/8) - 1 = 0.0905
    local q got
    for q in 0.5 0.9 0.99; do
        got=$(prom_query "histogram_quantile($q, sum(order_value_dollars{job=\"native\"}))")
        run within "$got" "$(want ".q[\"$q\"]")" 0.0905
        echo "# quantile $q: $output" >&3
        assert_success
    done
    # per kind too: each kind's own histogram (a third of the values)
    run prom_query 'count(order_value_dollars{job="native"})'
    assert_output 3
    # hello's request_duration_seconds under load: its native part counts every request
    local requests
    requests=$(metric_sum requests_total)
    ((requests >= 6000))
    run await_query 'histogram_count(sum(request_duration_seconds{job="native"}))' "$requests"
    assert_output "$requests"
    run prom_query 'sum(requests_total{job="native"})'
    assert_output "$requests"
    # and its quantiles are latencies: between 1 us and the 10 s the test could have taken
    got=$(prom_query 'histogram_quantile(0.99, sum(request_duration_seconds{job="native"}))')
    echo "# hello's p99 under ab -c 8, native: $got s" >&3
    "$PYTHON" -c 'import sys; v = float(sys.argv[1]); sys.exit(0 if 1e-6 < v < 10 else 1)' "$got"
}

@test "native: the classic buckets still answer as before, through a second job scraping text 0.0.4" {
    run await_query 'sum(order_value_dollars_count{job="text"})' "$N"
    assert_output "$N"
    local le
    for le in 1 5 10 50 100 500; do
        run prom_query "sum(order_value_dollars_bucket{job=\"text\",le=\"$le.0\"})"
        assert_output "$(want ".le[\"$le\"]")"
    done
    run prom_query 'sum(order_value_dollars_bucket{job="text",le="+Inf"})'
    assert_output "$N"
    run prom_query 'sum(order_value_dollars_sum{job="text"})'
    assert_output "$(want .sum)"
    # the classic median, as dashboards compute it: inside the classic bucket of the exact one
    local got
    got=$(prom_query 'histogram_quantile(0.5, sum by (le) (order_value_dollars_bucket{job="text"}))')
    echo "# classic median (buckets 1 5 10 50 100 500): $got, exact $(want '.q["0.5"]')" >&3
    "$PYTHON" -c '
import sys
got, want = float(sys.argv[1]), float(sys.argv[2])
edges = [0, 1, 5, 10, 50, 100, 500]
lo = max(e for e in edges if e < want); hi = min(e for e in edges[1:] + [float("inf")] if e >= want)
sys.exit(0 if lo <= got <= hi else 1)' "$got" "$(want '.q["0.5"]')"
    # hello's classic request_duration_seconds too
    run prom_query 'sum(request_duration_seconds_count{job="text"})'
    assert_output "$(prom_query 'sum(requests_total{job="text"})')"
    # Prometheus 2.42 scraping protobuf keeps the native part only: no classic series from job
    # native (scrape_classic_histograms, 2.45, would add them)
    run prom_query 'count(order_value_dollars_bucket{job="native"})'
    assert_success
    assert_output ''
    run prom_query 'count(order_value_dollars_count{job="native"})'
    assert_success
    assert_output ''
}

@test "native: the protobuf page decodes with python3-protobuf: schema 3, spans and deltas, counts equal" {
    local pb=$BATS_TEST_TMPDIR/page.pb
    curl -sf -o "$pb" "$BASE/metrics?format=protobuf&name[]=order_value_dollars"
    run "$PYTHON" "$TOP/tests/unit/pbdecode.py" "$pb"
    assert_success
    assert_output --partial 'name: "order_value_dollars"'
    assert_output --partial 'schema: 3'
    assert_output --partial 'positive_span {'
    assert_output --partial 'zero_threshold: 2.9387358770557188e-39'
    # the three series' counts add up to N
    assert_equal "$(grep -o 'sample_count: [0-9]*' <<<"$output" | awk '{ s += $2 } END { print s }')" "$N"
    # and the text page shows exactly the classic lines, which promtool accepts
    curl -sf "$BASE/metrics" | promtool check metrics
}
