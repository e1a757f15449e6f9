# Both exposition formats through a real Prometheus: one server scrapes the
# same nginx stack twice, as job "openmetrics" (Prometheus' own Accept header,
# which ranks OpenMetrics first) and as job "text" (params format=text, the
# override for scrapers whose Accept cannot be set); both must read the exact
# requests_total that /metrics shows.
load helpers

setup_file() {
    start_stack nginx
    start_prometheus "  - job_name: openmetrics
    static_configs: [{targets: [\"127.0.0.1:$PORT\"]}]
  - job_name: text
    params: {format: [text]}
    static_configs: [{targets: [\"127.0.0.1:$PORT\"]}]"
}

teardown_file() {
    stop_prometheus
    stop_stack || true
}

# What Prometheus 2.42 sends as Accept.
PROM_ACCEPT='application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

@test "formats: Prometheus' Accept gets OpenMetrics, format=text gets text 0.0.4" {
    run curl -s -o /dev/null -w '%{content_type}' -H "Accept: $PROM_ACCEPT" "$BASE/metrics"
    assert_output 'application/openmetrics-text; version=1.0.0; charset=utf-8'
    run curl -s -o /dev/null -w '%{content_type}' -H "Accept: $PROM_ACCEPT" "$BASE/metrics?format=text"
    assert_output 'text/plain; version=0.0.4; charset=utf-8'
    curl -s -H "Accept: $PROM_ACCEPT" "$BASE/metrics?format=text" | promtool check metrics
    run curl -s -H "Accept: $PROM_ACCEPT" "$BASE/metrics"
    assert_equal "$(tail -n 1 <<<"$output")" "# EOF"
}

@test "formats: a real Prometheus reads the same exact requests_total in both formats" {
    run ab -q -n 3000 -c 8 "$BASE/"
    assert_success
    local want om='' text='' i
    want=$(metric_sum requests_total)
    ((want >= 3000))
    for ((i = 0; i < 60; i++)); do   # bounded: 30 s
        om=$(prom_query 'sum(requests_total{job="openmetrics"})') || true
        text=$(prom_query 'sum(requests_total{job="text"})') || true
        [[ $om == "$want" && $text == "$want" ]] && break
        sleep 0.5
    done
    assert_equal "openmetrics job: $om" "openmetrics job: $want"
    assert_equal "text job: $text" "text job: $want"
    assert_equal "$(prom_query 'sum(up)')" 2
}
