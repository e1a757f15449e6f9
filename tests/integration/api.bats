#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The HTTP layer behind a real server (issue 9): app/api.fcgi, a small API on route templates,
# served by nginx + spawn-fcgi in place of hello. Labels come from the templates, never from
# the raw path; the code is the status the app sent, a failing handler's 500 included.
load helpers

setup_file() {
    # scripts/stack runs BIN_DIR/app/hello.fcgi: give it the API under that name.
    API_BIN=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/api-bin.XXXXXX")
    mkdir -p "$API_BIN/app" "$API_BIN/metrics"
    cp "$BIN_DIR/app/api.fcgi" "$API_BIN/app/hello.fcgi"
    cp "$BIN_DIR/metrics/metrics.fcgi" "$API_BIN/metrics/metrics.fcgi"
    chmod 0755 "$API_BIN" "$API_BIN/app" "$API_BIN/metrics"
    BIN_DIR=$API_BIN start_stack nginx
    export API_BIN
}
teardown_file() { stop_stack || true; }

# requests_total for one method, route and code (0 if there is no such series).
count() { metric_value "requests_total{method=\"$1\",route=\"$2\",code=\"$3\"}"; }

@test "api: 10,000 requests over 1,000 ids: one series per template, exact counts" {
    local k pids=() before200 before404
    before200=$(count GET '/orders/{id}' 200)
    before404=$(count GET '/orders/{id}' 404)
    for ((k = 0; k < 10; k++)); do   # 10 clients x ids 0..999 (0 is "no such order": 404)
        curl -s --max-time 120 -o /dev/null -w '%{http_code}\n' "$BASE/orders/[0-999]?client=$k" \
            >"$BATS_TEST_TMPDIR/codes.$k" 3>&- &
        pids+=($!)
    done
    for k in "${pids[@]}"; do wait "$k"; done
    run bash -c "cat '$BATS_TEST_TMPDIR'/codes.* | sort | uniq -c | awk '{print \$2\"=\"\$1}' | tr '\n' ' '"
    assert_output '200=9990 404=10 '
    assert_equal "200: $(( $(count GET '/orders/{id}' 200) - before200 ))" "200: 9990"
    assert_equal "404: $(( $(count GET '/orders/{id}' 404) - before404 ))" "404: 10"
    # no series carries a raw id: every route label is a declared template or "unmatched"
    run bash -c "curl -s '$BASE/metrics' | grep -o 'route=\"[^\"]*\"' | sort -u | tr '\n' ' '"
    assert_output --regexp '^(route="(/orders|/orders/\{id\}|/orders/\{id\}/audit|/static/\*|unmatched)" )+$'
    assert_equal "active_requests $(metric_sum active_requests)" "active_requests 0"
}

@test "api: 201, 400, 404, 405 and a failing handler's 500 are counted as sent; /healthz is not" {
    local before
    run curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/orders?value=12.5"
    assert_output 201
    run curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/orders?value=abc"
    assert_output 400
    run curl -s -o /dev/null -w '%{http_code}' "$BASE/orders/x7"
    assert_output 400
    run curl -s -o /dev/null -w '%{http_code}' -X DELETE "$BASE/orders/7"
    assert_output 405
    for i in 1 2 3 4 5 6 7; do
        run curl -s -w ' %{http_code}' "$BASE/orders/$i/audit"
        assert_output 'Internal Server Error
 500'
    done
    before=$(metric_sum requests_total)
    run curl -s "$BASE/healthz"
    assert_output ok
    assert_equal "requests_total after /healthz: $(metric_sum requests_total)" "requests_total after /healthz: $before"
    assert_equal "$(count POST /orders 201)" 1
    assert_equal "$(count POST /orders 400)" 1
    assert_equal "$(count GET '/orders/{id}' 400)" 1
    assert_equal "$(count DELETE '/orders/{id}' 405)" 1
    assert_equal "$(count GET '/orders/{id}/audit' 500)" 7
    assert_equal "$(metric_value 'request_duration_seconds_count{method="GET",route="/orders/{id}/audit"}')" 7
}

@test "api: hostile paths fold into unmatched or their template, and both formats pass promtool" {
    local p
    for p in '/orders/%2e%2e/%2e%2e/etc/passwd' '/orders//7/' '/x/../orders/%37' '/orders/%FF' \
             '/orders/a%00b' "/$(head -c 6000 /dev/zero | tr '\0' a)" '/static/a/b/../c.css'; do
        run curl -s -o /dev/null -w '%{http_code}' "$BASE$p"
        assert_success
        [[ $output =~ ^[2-4][0-9][0-9]$ ]] || fail "$p: $output"
    done
    curl -s "$BASE/metrics" | promtool check metrics
    # promtool reads the text format only: OpenMetrics goes through client_python's strict parser
    curl -s -H 'Accept: application/openmetrics-text;version=1.0.0' "$BASE/metrics" >"$BATS_TEST_TMPDIR/om"
    run "$PYTHON" "$TOOLS/om_check.py" <"$BATS_TEST_TMPDIR/om"
    assert_success
    # "/orders//7/" and "/x/../orders/%37" are /orders/7: the template, with a 200
    run bash -c "curl -s '$BASE/metrics' | grep -c '^requests_total{.*route=\"[^/u]'"
    assert_output 0
}

@test "api: stopping leaves no process behind, no sanitizer report" {
    stop_stack
    run grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$STACK_DIR/stack.log"
    assert_failure
}
