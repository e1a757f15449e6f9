#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The shipped Prometheus side (deploy/prometheus/): config, rules, rule unit tests, dashboard.
# No servers: promtool and jq only (the fleet test runs these rules in a real Prometheus).
load "$(dirname "${BATS_TEST_FILENAME}")/helpers"

PROMDIR=$TOP/deploy/prometheus
RULES=$PROMDIR/rules/promfcgi.rules.yml
DASH=$PROMDIR/grafana/promfcgi.json
DASHX=$TOP/tests/integration/dashboard_exprs.py

@test "promtool check config: prometheus.yml and the rule file it names, without warnings" {
    cd "$PROMDIR"   # rule_files and file_sd paths are relative to the config file
    run promtool check config prometheus.yml
    assert_success
    assert_output --partial 'SUCCESS: prometheus.yml is valid prometheus config file syntax'
    assert_output --partial 'SUCCESS: 1 rule files found'
    refute_output --partial WARNING
    # both jobs: the static one and the file_sd fleet
    run grep -E '^  - job_name: (promfcgi|promfcgi-fleet)$' prometheus.yml
    assert_equal "${#lines[@]}" 2
}

@test "file_sd targets: fleet.json and the example are valid target lists" {
    local f
    for f in "$PROMDIR"/targets/fleet.json "$PROMDIR"/targets/fleet.json.example; do
        run jq -e 'type == "array" and all(.[]; (.targets | type == "array" and all(.[]; test("^[^:]+:[0-9]+$")))
                   and ((.labels // {}) | type == "object"))' "$f"
        assert_success
    done
    run jq 'map(.targets | length) | add' "$PROMDIR/targets/fleet.json.example"
    assert_output 3
}

@test "promtool check rules: every recording and alerting rule parses" {
    run promtool check rules "$RULES"
    assert_success
    assert_output --partial 'SUCCESS: 26 rules found'
}

@test "promtool test rules: recording values and alerts firing / not firing" {
    cd "$PROMDIR/rules"
    run promtool test rules promfcgi.rules.test.yml
    assert_success
    assert_output --partial SUCCESS
}

@test "rule unit tests cover every recording rule and every alert, firing and silent" {
    local name
    mapfile -t records < <(sed -n 's/^ *- record: *//p' "$RULES" | sort -u)
    mapfile -t alerts < <(sed -n 's/^ *- alert: *//p' "$RULES" | sort -u)
    assert_equal "${#records[@]}" 16   # 18 rules: the quantile one thrice
    assert_equal "${#alerts[@]}" 8
    local t=$PROMDIR/rules/promfcgi.rules.test.yml
    for name in "${records[@]}"; do
        grep -qE "expr: .*${name}" "$t" || fail "no promql_expr_test for recording rule $name"
    done
    for name in "${alerts[@]}"; do
        # an eval with exp_alerts: [] (silent) and one with alerts listed (firing)
        run awk -v a="$name" '
            /alertname:/ { cur = $2; next }
            /exp_alerts: \[\]/ && cur == a { silent = 1 }
            /exp_labels:/ && cur == a { firing = 1 }
            END { print (silent ? "silent" : "-") " " (firing ? "firing" : "-") }' "$t"
        assert_output "silent firing"
    done
}

@test "a broken rule test is caught (the rule tests really assert)" {
    local tmp=$BATS_TEST_TMPDIR
    cp "$RULES" "$tmp/"
    sed 's/value: 0.95$/value: 0.96/' "$PROMDIR/rules/promfcgi.rules.test.yml" >"$tmp/broken.test.yml"
    run promtool test rules "$tmp/broken.test.yml"
    assert_failure
    assert_output --partial FAILED
}

@test "dashboard: valid JSON, panels with targets, datasource and job variables" {
    # rows (type "row") hold no query; every other panel has at least one
    run jq -e '.title == "promfcgi" and .uid == "promfcgi" and (.panels | length) >= 10
               and all(.panels[]; (.type == "row" or (.targets | length) >= 1) and .gridPos.w > 0)
               and ([.templating.list[].name] | index("datasource") != null and index("job") != null)' "$DASH"
    assert_success
    run jq -r '[.panels[].id] | (length == (unique | length))' "$DASH"
    assert_output true
}

@test "dashboard: every expr names only raw promfcgi series or recorded ones" {
    run python3 "$DASHX" check "$DASH" "$RULES"
    assert_success
    assert_output ''
    # and it shows each family the brief asks for: rate, error ratio, quantiles, in flight, store
    # errors; the pool row: utilisation, listen queue, oldest request, restarts, queue time
    local name
    for name in route:requests:rate5m job:requests_5xx:ratio_rate5m \
        route:request_duration_seconds:histogram_quantile5m active_requests \
        job_op:promfcgi_store_errors:rate5m instance_program:promfcgi_pool_utilisation:ratio_rate5m \
        promfcgi_pool_listen_queue promfcgi_pool_oldest_request_seconds \
        promfcgi_pool_worker_deaths_total instance_program:promfcgi_pool_queue_seconds_bucket:rate5m; do
        run grep -c "$name" "$DASH"
        refute_output 0
    done
    run jq -r '[.panels[] | select(.type == "row") | .title] | join(",")' "$DASH"
    assert_output Pool
}

@test "dashboard: every expr is valid PromQL (promtool check rules on them)" {
    local f=$BATS_TEST_TMPDIR/dash.rules.yml i=0 e
    echo 'groups: [{name: dashboard, rules: [' >"$f"
    while IFS= read -r e; do
        i=$((i + 1))
        printf '  {record: "dashboard:expr:%d", expr: %s},\n' "$i" "$(jq -Rn --arg e "$e" '$e')" >>"$f"
    done < <(python3 "$DASHX" exprs "$DASH")
    echo ']}]' >>"$f"
    ((i >= 10)) || fail "only $i exprs"
    run promtool check rules "$f"
    assert_success
    assert_output --partial "SUCCESS: $i rules found"
}
