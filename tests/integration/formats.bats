# SPDX-License-Identifier: MIT
# The exposition formats through a real Prometheus: one server, with native histograms on, scrapes
# the same nginx stack three times, as job "protobuf" (its own Accept, which then ranks protobuf
# first), as job "openmetrics" and as job "text" (params format=openmetrics, format=text: the
# override for scrapers whose Accept cannot be set); all must read the exact requests_total that
# /metrics shows.  (A Prometheus 2.42 without the feature never asks for protobuf, and refuses a
# protobuf page holding a native histogram, "native histograms are disabled": hello's durations
# have native buckets.)
load helpers

setup_file() {
    start_stack nginx
    start_prometheus "  - job_name: openmetrics
    params: {format: [openmetrics]}
    static_configs: [{targets: [\"127.0.0.1:$PORT\"]}]
  - job_name: text
    params: {format: [text]}
    static_configs: [{targets: [\"127.0.0.1:$PORT\"]}]
  - job_name: protobuf
    static_configs: [{targets: [\"127.0.0.1:$PORT\"]}]" --enable-feature=native-histograms
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

# What Prometheus 2.42 sends as Accept with --enable-feature=native-histograms.
PROM_NATIVE_ACCEPT='application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
PB_TYPE='application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited'

@test "formats: the native-histograms Accept and format=protobuf get protobuf, gzipped too, every family decoding" {
    run curl -s -o /dev/null -w '%{content_type}' -H "Accept: $PROM_NATIVE_ACCEPT" "$BASE/metrics"
    assert_output "$PB_TYPE"
    run curl -s -o /dev/null -w '%{content_type}' "$BASE/metrics?format=protobuf"
    assert_output "$PB_TYPE"
    run curl -s -o /dev/null -w '%{content_type}' -H "Accept: $PROM_NATIVE_ACCEPT" "$BASE/metrics?format=openmetrics"
    assert_output 'application/openmetrics-text; version=1.0.0; charset=utf-8'
    local plain="$BATS_TEST_TMPDIR/plain.pb" zipped="$BATS_TEST_TMPDIR/zipped.pb"
    curl -sf -o "$plain" -H "Accept: $PROM_NATIVE_ACCEPT" "$BASE/metrics"
    run curl -sf -D - -o "$zipped.gz" -H "Accept: $PROM_NATIVE_ACCEPT" -H 'Accept-Encoding: gzip' "$BASE/metrics"
    assert_output --partial 'Content-Encoding: gzip'
    gunzip -f "$zipped.gz"
    # decoded by python3-protobuf: the same families as the text page, in the same order
    run "$PYTHON" "$TOP/tests/unit/pbdecode.py" "$zipped"
    assert_success
    local names text_names
    names=$(grep '^name: ' <<<"$output" | cut -d'"' -f2)
    text_names=$(curl -sf "$BASE/metrics" | awk '$1 == "#" && $2 == "TYPE" { print $3 }')
    assert_equal "$names" "$text_names"
    run "$PYTHON" "$TOP/tests/unit/pbdecode.py" "$plain"
    assert_success
    assert_output --partial 'name: "requests_total"'
    assert_output --partial 'type: HISTOGRAM'
}

@test "formats: a real Prometheus reads the same exact requests_total in all three formats" {
    run ab -q -n 3000 -c 8 "$BASE/"
    assert_success
    local want om='' text='' pb='' i
    want=$(metric_sum requests_total)
    ((want >= 3000))
    for ((i = 0; i < 60; i++)); do   # bounded: 30 s
        om=$(prom_query 'sum(requests_total{job="openmetrics"})') || true
        text=$(prom_query 'sum(requests_total{job="text"})') || true
        pb=$(prom_query 'sum(requests_total{job="protobuf"})') || true
        [[ $om == "$want" && $text == "$want" && $pb == "$want" ]] && break
        sleep 0.5
    done
    assert_equal "openmetrics job: $om" "openmetrics job: $want"
    assert_equal "text job: $text" "text job: $want"
    assert_equal "protobuf job: $pb" "protobuf job: $want"
    assert_equal "$(prom_query 'sum(up)')" 3
    # the durations came through protobuf too, as a native histogram (2.42 keeps that part of a
    # histogram that has both): its count is the text job's classic one, the +Inf bucket's
    local a b c
    a=$(prom_query 'histogram_count(sum(request_duration_seconds{job="protobuf"}))') || true
    b=$(prom_query 'sum(request_duration_seconds_count{job="text"})') || true
    c=$(prom_query 'sum(request_duration_seconds_bucket{job="text",le="+Inf"})') || true
    [[ -n $a && $a == "$b" && $b == "$c" ]] || { echo "native $a, classic count $b, +Inf $c"; false; }
}
