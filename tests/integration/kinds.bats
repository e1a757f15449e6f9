# SPDX-License-Identifier: MIT
# Issue 19's kinds end to end: app/orders.fcgi (a gauge of each of three modes, a summary, an
# info, a state set, units) behind nginx with WORKERS workers under ab, its families read through
# /metrics in text 0.0.4 (promtool), OpenMetrics (client_python's strict parser) and protobuf
# (python3-protobuf), and through a real Prometheus 2.42 scraping each format (job pb: protobuf,
# as --enable-feature=native-histograms makes it ask; job om: OpenMetrics; job text); a value set
# by the command-line tool while the workers run; a worker SIGKILLed.
load helpers

N=2000

setup_file() {
    # scripts/stack runs BIN_DIR/app/hello.fcgi: give it the orders app under that name.
    ORD_BIN=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/orders-bin.XXXXXX")
    mkdir -p "$ORD_BIN/app" "$ORD_BIN/metrics"
    cp "$BIN_DIR/app/orders.fcgi" "$ORD_BIN/app/hello.fcgi"
    cp "$BIN_DIR/metrics/metrics.fcgi" "$ORD_BIN/metrics/metrics.fcgi"
    chmod 0755 "$ORD_BIN" "$ORD_BIN/app" "$ORD_BIN/metrics"
    BIN_DIR=$ORD_BIN start_stack nginx
    export ORD_BIN
    # N orders of 12.5 under load, then the largest (499) and, last, one of 7 dollars; the
    # intake paused
    ab -q -n "$N" -c 16 "$BASE/order?kind=book&value=12.5" >"$BATS_FILE_TMPDIR/ab.txt" 2>&1
    curl -sf "$BASE/order?kind=pen&value=499" >/dev/null
    curl -sf "$BASE/order?kind=other&value=7" >/dev/null
    curl -sf "$BASE/intake?state=paused" >/dev/null
    start_prometheus "  - job_name: pb
    static_configs: [{targets: [\"127.0.0.1:$PORT\"]}]
  - job_name: om
    params: {format: [openmetrics]}
    static_configs: [{targets: [\"127.0.0.1:$PORT\"]}]
  - job_name: text
    params: {format: [text]}
    static_configs: [{targets: [\"127.0.0.1:$PORT\"]}]" --enable-feature=native-histograms
}

teardown_file() {
    stop_prometheus
    stop_stack || true
    forget_stack
}

ORDERS=$((N + 2))

# The app's workers (the programs multiwatch keeps running), one pid a line.
workers() { pgrep -f "^$ORD_BIN/app/hello.fcgi" || true; }

@test "kinds: every kind exact under load in text 0.0.4, checked by promtool" {
    grep -q "Failed requests: *0" "$BATS_FILE_TMPDIR/ab.txt"
    curl -sf "$BASE/metrics" >"$BATS_TEST_TMPDIR/page.txt"
    promtool check metrics <"$BATS_TEST_TMPDIR/page.txt"
    run cat "$BATS_TEST_TMPDIR/page.txt"
    assert_line "orders_total{kind=\"book\"} $N"
    assert_line '# TYPE orders_last_value_dollars gauge'
    assert_line 'orders_last_value_dollars 7'            # most recent, of any worker
    assert_line 'orders_largest_value_dollars 499'       # max over every worker
    assert_line '# TYPE order_handling_seconds summary'
    assert_line "order_handling_seconds_count $ORDERS"
    assert_line '# TYPE orders_build_info gauge'
    assert_line "orders_build_info{version=\"1.0.0\",promfcgi=\"$(sed -n 's/^#define PROMFCGI_VERSION "\(.*\)"/\1/p' "$TOP/include/promfcgi.h")\"} 1"
    assert_line '# TYPE orders_intake gauge'
    assert_line 'orders_intake{orders_intake="open"} 0'
    assert_line 'orders_intake{orders_intake="paused"} 1'
    assert_line 'orders_intake{orders_intake="closed"} 0'
    # liveall: one series per live worker that took orders, labelled with its pid, adding up
    local pids live
    pids=$(grep -o '^orders_worker_orders{pid="[0-9]*"}' "$BATS_TEST_TMPDIR/page.txt" | grep -o '[0-9]*' | sort)
    live=$(workers | sort)
    [[ -n $pids ]]
    for p in $pids; do grep -qx "$p" <<<"$live"; done
    assert_equal "$(metric_sum orders_worker_orders)" "$ORDERS"
    assert_equal "$(metric_sum active_requests)" 0
}

@test "kinds: OpenMetrics: info, stateset, summary and units, by client_python's strict parser" {
    curl -sf -H 'Accept: application/openmetrics-text;version=1.0.0' "$BASE/metrics" \
        >"$BATS_TEST_TMPDIR/page.om"
    run "$PYTHON" "$TOOLS/om_check.py" <"$BATS_TEST_TMPDIR/page.om"
    assert_success
    run cat "$BATS_TEST_TMPDIR/page.om"
    assert_line '# TYPE orders_build info'
    assert_line '# TYPE orders_intake stateset'
    assert_line 'orders_intake{orders_intake="paused"} 1'
    assert_line '# TYPE order_handling_seconds summary'
    assert_line '# UNIT order_handling_seconds seconds'
    assert_line '# UNIT order_value_dollars dollars'
    assert_line --regexp '^order_handling_seconds_created [0-9.e+]+$'
    # and what client_python reads from it
    run "$PYTHON" -c '
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as p
for f in p(open(sys.argv[1]).read()):
    if f.name in ("orders_build", "orders_intake", "order_handling_seconds", "orders_last_value_dollars"):
        print(f.name, f.type, f.unit, sorted((s.name, s.value) for s in f.samples if not s.name.endswith("_created")))
' "$BATS_TEST_TMPDIR/page.om"
    assert_success
    assert_line --partial "orders_build info  [('orders_build_info', 1)]"
    assert_line "orders_intake stateset  [('orders_intake', 0), ('orders_intake', 0), ('orders_intake', 1)]"
    assert_line --regexp "^order_handling_seconds summary seconds \[\('order_handling_seconds_count', $ORDERS\), \('order_handling_seconds_sum', [0-9.e-]+\)\]$"
    assert_line "orders_last_value_dollars gauge  [('orders_last_value_dollars', 7)]"
}

@test "kinds: protobuf: the summary as a Summary, info and stateset as gauges, units" {
    curl -sf "$BASE/metrics?format=protobuf" >"$BATS_TEST_TMPDIR/page.pb"
    run "$PYTHON" "$TOP/tests/unit/pbdecode.py" "$BATS_TEST_TMPDIR/page.pb"
    assert_success
    local s
    s=$(awk '/^name: "order_handling_seconds"/,/^---/' <<<"$output")
    grep -q '^type: SUMMARY' <<<"$s"
    grep -q "sample_count: $ORDERS\$" <<<"$s"
    grep -q '^unit: "seconds"' <<<"$s"
    s=$(awk '/^name: "orders_intake"/,/^---/' <<<"$output")
    grep -q '^type: GAUGE' <<<"$s"
    assert_equal "$(grep -c 'value: 1$' <<<"$s")" 1
    s=$(awk '/^name: "orders_build_info"/,/^---/' <<<"$output")
    grep -q '^type: GAUGE' <<<"$s"
    grep -q 'value: "1.0.0"' <<<"$s"
}

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

@test "kinds: a real Prometheus reads each kind through protobuf, OpenMetrics and text" {
    local job
    for job in pb om text; do
        assert_equal "$job $(await_query "orders_last_value_dollars{job=\"$job\"}" 7)" "$job 7"
        assert_equal "$job $(await_query "orders_largest_value_dollars{job=\"$job\"}" 499)" "$job 499"
        assert_equal "$job $(await_query "order_handling_seconds_count{job=\"$job\"}" "$ORDERS")" "$job $ORDERS"
        assert_equal "$job $(await_query "orders_intake{job=\"$job\",orders_intake=\"paused\"}" 1)" "$job 1"
        assert_equal "$job $(await_query "sum(orders_intake{job=\"$job\"})" 1)" "$job 1"
        assert_equal "$job $(await_query "orders_build_info{job=\"$job\",version=\"1.0.0\"}" 1)" "$job 1"
        assert_equal "$job $(await_query "sum(orders_worker_orders{job=\"$job\"})" "$ORDERS")" "$job $ORDERS"
    done
}

@test "kinds: the command-line tool's value takes part while workers run; a SIGKILLed worker's goes by its mode" {
    PROMFCGI_DB=$STACK_DB "$BIN_DIR/cli/promfcgi" set orders_last_value_dollars 1000
    PROMFCGI_DB=$STACK_DB "$BIN_DIR/cli/promfcgi" set orders_intake closed
    assert_equal "$(metric_sum orders_last_value_dollars)" 1000   # the latest write
    assert_equal "$(metric_value 'orders_intake{orders_intake="closed"}')" 1
    run env PROMFCGI_DB="$STACK_DB" "$BIN_DIR/cli/promfcgi" set orders_worker_orders 5
    assert_failure 1
    assert_output --partial "liveall"
    # a worker that took orders is killed: its own series goes, the max it set stays
    local victim
    victim=$(curl -sf "$BASE/metrics" | grep -o '^orders_worker_orders{pid="[0-9]*"} [0-9]*' | sort -t' ' -k2 -n | tail -n 1)
    local pid=${victim#*pid=\"} n=${victim##* }
    pid=${pid%%\"*}
    kill -KILL "$pid"
    retry 100 _gone "$pid"
    assert_equal "$(metric_sum orders_worker_orders)" "$((ORDERS - n))"
    run curl -sf "$BASE/metrics"
    refute_output --partial "pid=\"$pid\""
    assert_equal "$(metric_sum orders_largest_value_dollars)" 499
    assert_equal "$(metric_sum order_handling_seconds_count)" "$ORDERS"
    assert_equal "$(metric_sum orders_last_value_dollars)" 1000
    # its replacement, started by multiwatch, holds the info at once
    curl -sf "$BASE/order?kind=book&value=1" >/dev/null
    assert_equal "$(metric_value 'orders_build_info{version="1.0.0"}')" 1
}
