#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# A fleet: two independent promfcgi stacks (lighttpd and nginx; own ports, RUNDIRs and stores)
# scraped by one real Prometheus through the file_sd job of deploy/prometheus/prometheus.yml,
# with the shipped rules loaded. Prometheus is the aggregator: sum(requests_total) must equal
# what both stacks report, and sum by (instance) each stack's own /metrics.
load "$(dirname "${BATS_TEST_FILENAME}")/fleet_helpers"

N1=${PROMFCGI_FLEET_N1:-3000}
N2=${PROMFCGI_FLEET_N2:-5000}
FLEET='job="promfcgi-fleet"'

setup_file() {
    start_fleet_stack 1 lighttpd
    start_fleet_stack 2 nginx
    start_fleet_prometheus 1 2
}

teardown_file() {
    stop_prometheus
    use_stack 1 && { stop_stack || true; }
    use_stack 2 && { stop_stack || true; }
}

_fleet_up() { [[ $(prom_count "up{$FLEET} == 1") == 2 && $(prom_query 'up{job="promfcgi"}') == 1 ]]; }

@test "Prometheus discovers both stacks from targets/fleet.json, and the static job, all up" {
    await 120 _fleet_up || fail "targets not up: $(prom_vector 'up' instance | tr '\n' ' ')"
    use_stack 1; local i1=127.0.0.1:$PORT
    use_stack 2; local i2=127.0.0.1:$PORT
    run prom_vector "up{$FLEET}" instance
    assert_output "$(printf '%s 1\n%s 1' "$i1" "$i2" | sort)"
    run prom_vector "up{$FLEET}" stack
    assert_output "$(printf '1 1\n2 1')"
}

@test "N1 requests to stack 1 and N2 to stack 2: each stack's /metrics counts its own exactly" {
    local i n got
    for i in 1 2; do
        use_stack "$i"
        n=N$i; n=${!n}
        run ab -q -n "$n" -c 8 "$BASE/"
        assert_success
        assert_line --regexp "^Complete requests: +$n\$"
        assert_line --regexp '^Failed requests: +0$'
    done
    for i in 1 2; do
        use_stack "$i"
        n=N$i; n=${!n}
        for ((k = 0; k < 100; k++)); do
            got=$(metric_sum requests_total 'route="/"')
            ((got >= n)) && break
            sleep 0.1
        done
        # the stacks are fresh and only ab touched /: exactly n, on this stack only
        assert_equal "stack $i requests_total{route=\"/\"} $got" "stack $i requests_total{route=\"/\"} $n"
        assert_equal "stack $i requests_total $(metric_sum requests_total)" "stack $i requests_total $n"
    done
}

# sum(requests_total) over the fleet job equals the sum of both /metrics pages and N1 + N2.
_prom_total_is() {
    local got
    got=$(prom_query "sum(requests_total{$FLEET,route=\"/\"})") || return 1
    [[ -n $got ]] && (($(awk -v a="$got" -v b="$1" 'BEGIN { print (a == b) }')))
}

@test "Prometheus: sum(requests_total) = N1 + N2, and sum by (instance) = each stack's /metrics" {
    local p1 p2 i1 i2
    use_stack 1; p1=$(metric_sum requests_total); i1=127.0.0.1:$PORT
    use_stack 2; p2=$(metric_sum requests_total); i2=127.0.0.1:$PORT
    assert_equal "pages $((p1 + p2))" "pages $((N1 + N2))"
    await 120 _prom_total_is "$((N1 + N2))" \
        || fail "sum(requests_total)=$(prom_query "sum(requests_total{$FLEET,route=\"/\"})"), want $((N1 + N2))"
    run prom_query "sum(requests_total{$FLEET})"
    assert_output "$((N1 + N2))"
    run prom_vector "sum by (instance) (requests_total{$FLEET})" instance
    assert_output "$(printf '%s %s\n%s %s' "$i1" "$p1" "$i2" "$p2" | sort)"
    run prom_vector "sum by (stack) (request_duration_seconds_count{$FLEET})" stack
    assert_output "$(printf '1 %s\n2 %s' "$N1" "$N2")"
}

@test "the shipped recording rules evaluate on the fleet's series" {
    # A series' first sample adds nothing to rate(): a stack whose whole burst fell before
    # Prometheus first saw requests_total may show rate 0. Now that Prometheus has the series
    # (previous test), 200 more requests per stack make both rates positive.
    local i
    for i in 1 2; do
        use_stack "$i"
        run ab -q -n 200 -c 4 "$BASE/"
        assert_success
        assert_line --regexp '^Failed requests: +0$'
    done
    # rates for both instances and route /; no 5xx: ratio 0 (not absent); p50/p90/p99 finite
    await 60 eval '[[ $(prom_count "instance:requests:rate5m{$FLEET} > 0") == 2 ]]' \
        || fail "instance:requests:rate5m: $(prom_vector "instance:requests:rate5m" instance | tr '\n' ' ')"
    run prom_query "route:requests:rate5m{$FLEET,route=\"/\"} > 0"
    assert_success
    refute_output ''
    run prom_query "job:requests_5xx:ratio_rate5m{$FLEET}"
    assert_output 0
    run prom_query "job:active_requests:sum{$FLEET}"
    assert_output 0
    run prom_count "route:request_duration_seconds:histogram_quantile5m{$FLEET,route=\"/\"} <= 10"
    assert_output 3
    run prom_count "job_op:promfcgi_store_errors:rate5m{$FLEET} == 0"
    assert_output 4
    # every shipped rule is loaded and evaluates without error (rules API: health "ok")
    run prom_rules_health
    assert_output '26 0'
}

@test "every Grafana dashboard query returns data for the fleet job" {
    local e n empty=()
    while IFS= read -r e; do
        n=$(prom_count "$e") || fail "query failed: $e"
        ((n > 0)) || empty+=("$e")
    done < <(python3 "$TOP/tests/integration/dashboard_exprs.py" exprs \
        "$TOP/deploy/prometheus/grafana/promfcgi.json" promfcgi-fleet)
    assert_equal "queries without data: ${empty[*]}" "queries without data: "
}

@test "no alert fires on the healthy fleet; PromfcgiTargetDown goes pending when stack 2 stops" {
    run prom_count 'ALERTS{alertname=~"Promfcgi.*"}'
    assert_output 0
    use_stack 2
    local i2=127.0.0.1:$PORT
    stop_stack
    await 120 eval '[[ $(prom_query "up{instance=\"$i2\"}") == 0 ]]' || fail "up of $i2 never 0"
    await 60 eval '[[ $(prom_count "ALERTS{alertname=\"PromfcgiTargetDown\",instance=\"$i2\",alertstate=\"pending\"}") == 1 ]]' \
        || fail "no pending PromfcgiTargetDown for $i2"
    # stack 1 stays up and keeps its count
    run prom_query "up{$FLEET,stack=\"1\"}"
    assert_output 1
}

@test "both stacks stop cleanly, without sanitizer reports" {
    local i
    for i in 1 2; do
        use_stack "$i"
        stop_stack
        run grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$STACK_DIR/stack.log"
        assert_failure
    done
}
