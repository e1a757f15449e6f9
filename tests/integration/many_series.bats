#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Issue 18: no fixed limits in a process.  An app on the HTTP layer (tests/integration/apps/
# many_series.c) behind nginx, with 10,000 requests_total series (250 routes x 8 methods x 5
# codes) and a custom counter of 100,000 label values (tenant_requests_total, ten tenants a
# request): every value is exact on /metrics and in a real Prometheus, while the workers live,
# after they are killed (their files folded by the scrape) and after the stack has stopped
# (read from the store with the command-line tool).  0.3.0 refused the 4,089th series of a
# process (and 764 of request_duration_seconds): a worker got there after some 400 requests.
load helpers

WANT="requests 10000 10000 1 1 tenants 100000 100000 1 1"

setup_file() {
    # the stack runs the app as its hello program
    APP_BIN=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/bin.XXXXXX")
    mkdir -p "$APP_BIN/app" "$APP_BIN/metrics" "$APP_BIN/cli"
    cp "$BIN_DIR/tests/integration/apps/many_series.fcgi" "$APP_BIN/app/hello.fcgi"
    cp "$BIN_DIR/metrics/metrics.fcgi" "$APP_BIN/metrics/"
    cp "$BIN_DIR/cli/promfcgi" "$APP_BIN/cli/"
    export APP_BIN
    BIN_DIR=$APP_BIN start_stack nginx
    # a page of some 150,000 samples: scraped every 3 s, with the time to read it
    start_prometheus "  - job_name: promfcgi
    scrape_interval: 3s
    scrape_timeout: 3s
    static_configs:
      - targets: [\"127.0.0.1:$PORT\"]"
}

teardown_file() {
    stop_prometheus
    stop_stack || true
    forget_stack
}

# The app's series as /metrics shows them.
page() {
    curl -sf --max-time 30 -o "$BATS_TEST_TMPDIR/page" "$BASE/metrics" &&
        "$PYTHON" "$TOOLS/many_series.py" page "$BATS_TEST_TMPDIR/page"
}

# Prometheus' view once a scrape newer than now has been taken: the same line as page().
prom_view() {
    local since=$1 i t
    for ((i = 0; i < 60; i++)); do   # bounded: 30 s
        t=$(prom_query 'timestamp(up{job="promfcgi"})') || t=0
        [[ -n $t ]] && (( $(awk -v a="$t" -v b="$since" 'BEGIN { print (a > b + 0.5) }') )) && break
        sleep 0.5
    done
    printf 'requests %s %s %s %s tenants %s %s %s %s\n' \
        "$(prom_query 'count(requests_total{route=~"/r.*"})')" \
        "$(prom_query 'sum(requests_total{route=~"/r.*"})')" \
        "$(prom_query 'min(requests_total{route=~"/r.*"})')" \
        "$(prom_query 'max(requests_total{route=~"/r.*"})')" \
        "$(prom_query 'count(tenant_requests_total)')" "$(prom_query 'sum(tenant_requests_total)')" \
        "$(prom_query 'min(tenant_requests_total)')" "$(prom_query 'max(tenant_requests_total)')"
}

# The app's workers (multiwatch's children running its copy of the app).
app_workers() { stack_procs | awk -v app="$APP_BIN/app/hello.fcgi" '$2 == app { print $1 }'; }

@test "many series: 10,000 route x method x code and 100,000 tenants, exact live and after the workers end" {
    run "$PYTHON" "$TOOLS/many_series.py" load "$PORT"
    assert_success
    assert_output "$(printf '200 2000\n201 2000\n404 2000\n500 2000\n503 2000')"
    # live: every worker's file read at the scrape
    run page
    assert_output "$WANT"
    run grep -c 'error' "$STACK_DIR/stack.log"
    assert_output 0
    run prom_view "$(date +%s)"
    assert_output "$WANT"
    # the workers killed: their files, folded by the scrape that finds them dead
    local pids
    mapfile -t pids < <(app_workers)
    ((${#pids[@]} > 0))
    kill -KILL "${pids[@]}"
    run page
    assert_output "$WANT"
    run page   # and again, from the store alone
    assert_output "$WANT"
    run prom_view "$(date +%s)"
    assert_output "$WANT"
    # the stack stopped (the new workers end gracefully, holding nothing): the store
    stop_stack
    PROMFCGI_DB=$STACK_DB "$APP_BIN/cli/promfcgi" dump >"$BATS_TEST_TMPDIR/page"
    run "$PYTHON" "$TOOLS/many_series.py" page "$BATS_TEST_TMPDIR/page"
    assert_output "$WANT"
    run grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$STACK_DIR/stack.log" "$STACK_DIR"/run/*.log
    assert_failure
}
