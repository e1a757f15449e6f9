# SPDX-License-Identifier: MIT
# Test bodies shared by the per-server files (lighttpd.bats, nginx.bats, apache.bats, caddy.bats,
# lighttpd_cgi.bats, apache_cgi.bats); the .bats file sets SERVER, and MODE=cgi for CGI, first.
load "$(dirname "${BASH_SOURCE[0]}")/helpers"

LOAD_REQUESTS=${PROMFCGI_LOAD_REQUESTS:-20000}

setup_file() {
    start_stack "$SERVER" "${MODE:-fastcgi}"
    start_prometheus
}

# Best effort only: the last test asserts the clean stop.
teardown_file() {
    stop_prometheus
    stop_stack || true
    forget_stack
}

# curl REQUEST... saving headers and body in the test tmpdir; prints the status code.
fetch() {
    curl -sS --max-time 10 -D "$BATS_TEST_TMPDIR/headers" -o "$BATS_TEST_TMPDIR/body" \
        -w '%{http_code}' "$@"
}
# Value of response header $1 (case-insensitive, CR stripped).
header() {
    tr -d '\r' <"$BATS_TEST_TMPDIR/headers" | awk -v h="$1" -F': *' 'tolower($1) == tolower(h) { sub(/^[^:]*: */, ""); print; exit }'
}

t_get_root() {
    run fetch "$BASE/"
    assert_success
    assert_output 200
    run cat "$BATS_TEST_TMPDIR/body"
    assert_output "Hello, Prometheus!"
    run header Content-Type
    assert_output --regexp '^text/plain(;|$)'
}

t_head_root() {
    run fetch -I "$BASE/"
    assert_success
    assert_output 200
    run header Content-Type
    assert_output --regexp '^text/plain(;|$)'
}

t_unknown_path() {
    run fetch "$BASE/nope"
    assert_success
    assert_output 404
}

t_post_root() {
    run fetch -X POST --data x "$BASE/"
    assert_success
    assert_output 405
    run header Allow
    assert_output --partial GET
}

# Only /metrics itself goes to the metrics worker; look-alikes reach the app (and are counted).
t_routing() {
    local before after
    before=$(metric_sum requests_total)
    for path in /metricsfoo /metrics/ /anything/else; do
        run fetch "$BASE$path"
        assert_success
        assert_output 404
    done
    # (A CGI process may make its count durable just after its response: wait for it.)
    after=$(await_sum requests_total $((before + 3)))
    assert_equal "$((after - before))" 3
}

t_metrics_page() {
    run fetch "$BASE/metrics"
    assert_success
    assert_output 200
    run header Content-Type
    assert_output "text/plain; version=0.0.4; charset=utf-8"
    run promtool check metrics <"$BATS_TEST_TMPDIR/body"
    assert_success
    run cat "$BATS_TEST_TMPDIR/body"
    assert_line '# TYPE requests_total counter'
    assert_line '# TYPE request_duration_seconds histogram'
    assert_line '# TYPE active_requests gauge'
}

# What Prometheus 2.42 sends as Accept.
PROM_ACCEPT='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

# OpenMetrics when Accept ranks it first (as Prometheus does); ?format=text overrides it.
t_openmetrics() {
    run fetch -H "Accept: $PROM_ACCEPT" "$BASE/metrics"
    assert_success
    assert_output 200
    run header Content-Type
    assert_output 'application/openmetrics-text; version=1.0.0; charset=utf-8'
    run tail -n 1 "$BATS_TEST_TMPDIR/body"
    assert_output '# EOF'
    run grep -c '^# TYPE requests counter$' "$BATS_TEST_TMPDIR/body"
    assert_output 1
    run fetch -H "Accept: $PROM_ACCEPT" "$BASE/metrics?format=text"
    assert_output 200
    run header Content-Type
    assert_output 'text/plain; version=0.0.4; charset=utf-8'
    run promtool check metrics <"$BATS_TEST_TMPDIR/body"
    assert_success
}

# t_exact_count [N [CONCURRENCY]]: N GETs of / (default LOAD_REQUESTS, at 16) all 200 and
# counted exactly once.
t_exact_count() {
    local n=${1:-$LOAD_REQUESTS} c=${2:-16} req0 dur0 req1 dur1
    req0=$(metric_sum requests_total)
    dur0=$(metric_sum request_duration_seconds_count)
    run ab -q -n "$n" -c "$c" "$BASE/"
    assert_success
    assert_line --regexp "^Complete requests: +$n\$"
    assert_line --regexp '^Failed requests: +0$'
    refute_line --partial 'Non-2xx responses'
    # Counts may reach /metrics a little after the responses; wait for them, then check that
    # they settled on exactly n (a second look catches late double counting).
    req1=$(await_sum requests_total $((req0 + n)))
    dur1=$(await_sum request_duration_seconds_count $((dur0 + n)))
    assert_equal "requests_total +$((req1 - req0))" "requests_total +$n"
    assert_equal "request_duration_seconds_count +$((dur1 - dur0))" "request_duration_seconds_count +$n"
    sleep 1
    assert_equal "requests_total $(metric_sum requests_total)" "requests_total $req1"
    assert_equal "request_duration_seconds_count $(metric_sum request_duration_seconds_count)" \
        "request_duration_seconds_count $dur1"
    assert_equal "active_requests $(metric_sum active_requests)" "active_requests 0"
}

# t_queue_stamped: the front end stamps X-Request-Start (the nginx, Apache and Caddy templates):
# promfcgi_pool_queue_seconds counts every request the app's pool got, each a short wait.
t_queue_stamped() {
    local n=200 c0 s0 c1 s1
    c0=$(metric_sum promfcgi_pool_queue_seconds_count 'program="hello.fcgi"')
    s0=$(metric_sum promfcgi_pool_queue_seconds_sum 'program="hello.fcgi"')
    run ab -q -n "$n" -c 2 "$BASE/"
    assert_line --regexp '^Failed requests: +0$'
    c1=$(metric_sum promfcgi_pool_queue_seconds_count 'program="hello.fcgi"')
    s1=$(metric_sum promfcgi_pool_queue_seconds_sum 'program="hello.fcgi"')
    assert_equal "stamped requests $((c1 - c0))" "stamped requests $n"
    run awk -v a="$s0" -v b="$s1" -v n="$n" 'BEGIN { exit !(b >= a && (b - a) / n < 1) }'
    assert_success
}

# t_queue_unstamped: lighttpd cannot stamp X-Request-Start: the histogram stays empty, and the
# other pool families are there all the same.
t_queue_unstamped() {
    run ab -q -n 50 -c 2 "$BASE/"
    assert_line --regexp '^Failed requests: +0$'
    assert_equal "stamped $(metric_sum promfcgi_pool_queue_seconds_count 'program="hello.fcgi"')" "stamped 0"
    assert_equal "workers $(metric_sum promfcgi_pool_workers 'program="hello.fcgi"')" "workers $WORKERS"
    run awk -v b="$(metric_sum promfcgi_pool_busy_seconds_total 'program="hello.fcgi"')" 'BEGIN { exit !(b > 0) }'
    assert_success
}

# No traffic meanwhile: Prometheus must converge on what /metrics says (bounded wait, 30 s).
t_prometheus_agrees() {
    local want got='' i
    want=$(metric_sum requests_total)
    for ((i = 0; i < 60; i++)); do
        got=$(prom_query 'sum(requests_total)') || true
        [[ -n $got ]] && (( $(awk -v a="$got" -v b="$want" 'BEGIN { print (a == b) }') )) && break
        sleep 0.5
    done
    assert_equal "prometheus sum(requests_total)=$got" "prometheus sum(requests_total)=$want"
    run prom_query 'up{job="promfcgi"}'
    assert_output 1
}

# Also the place where sanitizer reports from the workers (their stderr is stack.log) surface.
# (The web servers' own logs too: CGI programs' stderr goes there.)
t_clean_stop() {
    stop_stack
    run grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$STACK_DIR/stack.log" "$STACK_DIR"/run/*.log
    assert_failure
}
