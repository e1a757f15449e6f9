# SPDX-License-Identifier: MIT
# Exemplars end to end: requests through nginx carrying a W3C traceparent get {trace_id} on their
# requests_total series and on the duration bucket they fell in, in OpenMetrics (and protobuf)
# only; a real Prometheus 2.42 with exemplar storage, scraping OpenMetrics and (native histograms
# on: its Accept asks for it) protobuf, gives back exactly the trace ids that were sent (from
# protobuf, the durations' on their native histogram: 2.42 keeps only the native part of a
# histogram that has both, and gives it the classic buckets' exemplars); invalid and all-zero traceparents give none; both formats pass Prometheus'
# parsers (promtool check metrics for text, its OpenMetrics parser for OpenMetrics) and
# client_python's strict OpenMetrics parser. CGI: exemplars_cgi.bats.
load helpers

OM='application/openmetrics-text;version=1.0.0'
IDS=(4bf92f3577b34da6a3ce929d0e0e4736 0af7651916cd43dd8448eb211c80319c 5b8efff798038103d269b633813fc60c)

setup_file() {
    start_stack nginx
    # native-histograms makes Prometheus ask for protobuf: job protobuf gets it, job openmetrics
    # asks for OpenMetrics with ?format= (the override for scrapers whose Accept cannot be set)
    start_prometheus "  - job_name: openmetrics
    params: {format: [openmetrics]}
    static_configs: [{targets: [\"127.0.0.1:$PORT\"]}]
  - job_name: protobuf
    static_configs: [{targets: [\"127.0.0.1:$PORT\"]}]
  - job_name: text
    params: {format: [text]}
    static_configs: [{targets: [\"127.0.0.1:$PORT\"]}]" --enable-feature=exemplar-storage,native-histograms
}

teardown_file() {
    stop_prometheus
    stop_stack || true
}

# traced METHOD PATH TRACEPARENT: one request with that header; prints the status code.
traced() {
    curl -s -o /dev/null -w '%{http_code}' -X "$1" -H "traceparent: $3" "$BASE$2"
}

# The trace ids of every exemplar Prometheus holds for QUERY, sorted, unique.
exemplar_ids() {
    local now json
    now=$(date +%s)
    json=$(curl -sfG --max-time 5 --data-urlencode "query=$1" --data-urlencode "start=$((now - 3600))" \
        --data-urlencode "end=$((now + 3600))" "$PROM/api/v1/query_exemplars") || return 1
    jq -er '.status == "success"' <<<"$json" >/dev/null || return 1
    jq -r '.data[].exemplars[].labels.trace_id' <<<"$json" | sort -u
}

# Waits (bounded: 20 s) until Prometheus holds an exemplar with trace id $2 for query $1.
await_exemplar() {
    local i
    for ((i = 0; i < 40; i++)); do
        grep -qx "$2" <<<"$(exemplar_ids "$1")" && return 0
        sleep 0.5
    done
    echo "no exemplar $2 for $1 after 20 s; Prometheus has: $(exemplar_ids "$1" | tr '\n' ' ')" >&2
    return 1
}

@test "exemplars: a traced request carries {trace_id} on its count and its bucket; never in text 0.0.4" {
    assert_equal "$(traced GET / "00-${IDS[0]}-00f067aa0ba902b7-01")" 200
    local page line re
    page=$(curl -sf -H "Accept: $OM" "$BASE/metrics")
    line=$(grep '^requests_total{method="GET",route="/",code="200"}' <<<"$page")
    re=" # \\{trace_id=\"${IDS[0]}\"\\} 1 [0-9]+(\\.[0-9]+)?\$"
    [[ $line =~ $re ]] || { echo "line: $line"; false; }
    # exactly one bucket of GET / holds it: the one its duration fell in
    run grep -c "^request_duration_seconds_bucket{method=\"GET\",route=\"/\",le=\"[^\"]*\"} [0-9]* # {trace_id=\"${IDS[0]}\"} " <<<"$page"
    assert_output 1
    run grep -c ' # {' <<<"$(curl -sf "$BASE/metrics")"   # text 0.0.4: none at all
    assert_output 0
}

@test "exemplars: invalid and all-zero traceparents give no exemplar, and the requests are counted" {
    local bad=(
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        "00-${IDS[0]}-0000000000000000-01"
        "00-${IDS[0]^^}-00f067aa0ba902b7-01"
        "00-${IDS[0]:0:31}-00f067aa0ba902b7-01"
        "ff-${IDS[0]}-00f067aa0ba902b7-01"
        "garbage"
    )
    local before t n=${#bad[@]} i now=
    before=$(metric_sum requests_total 'method="DELETE"')
    for t in "${bad[@]}"; do
        assert_equal "$(traced DELETE / "$t")" 405
        assert_equal "$(traced GET /nowhere "$t")" 404
    done
    for ((i = 0; i < 100; i++)); do   # bounded: 10 s
        now=$(metric_sum requests_total 'method="DELETE"')
        ((now >= before + n)) && break
        sleep 0.1
    done
    assert_equal "DELETE counted: $now" "DELETE counted: $((before + n))"
    run grep -E '^(requests_total|request_duration_seconds_bucket)\{method="DELETE"|^requests_total\{method="GET",route="unmatched"' \
        <<<"$(curl -sf -H "Accept: $OM" "$BASE/metrics")"
    assert_success
    refute_output --partial ' # {'
}

@test "exemplars: both formats pass the parsers (promtool check metrics; Prometheus' and client_python's OpenMetrics parsers)" {
    traced GET / "00-${IDS[1]}-00f067aa0ba902b7-01" >/dev/null
    curl -sf "$BASE/metrics" | promtool check metrics
    local page
    page=$(curl -sf -H "Accept: $OM" "$BASE/metrics")
    grep -q "# {trace_id=\"${IDS[1]}\"}" <<<"$page"
    om_promtool <<<"$page"
    run "$PYTHON" "$TOOLS/om_check.py" --exemplars <<<"$page"
    assert_success
    assert_line --partial "requests_total {'method': 'GET', 'route': '/', 'code': '200'} -> {'trace_id': '${IDS[1]}'} 1 "
    # the checkers are not rubber stamps: a broken exemplar fails both
    run om_promtool <<<"${page/trace_id=\"${IDS[1]}\"/trace-id=\"x\"}"
    assert_failure
    run "$PYTHON" "$TOOLS/om_check.py" <<<"${page/trace_id=\"${IDS[1]}\"/trace-id=\"x\"}"
    assert_failure
}

@test "exemplars: a real Prometheus with exemplar storage returns the trace ids that were sent" {
    local id job
    for id in "${IDS[@]}"; do   # one at a time: a scrape sees the latest exemplar of a series
        assert_equal "$(traced GET / "00-$id-00f067aa0ba902b7-01")" 200
        for job in openmetrics protobuf; do
            await_exemplar "requests_total{job=\"$job\",method=\"GET\",route=\"/\",code=\"200\"}" "$id"
        done
        await_exemplar 'request_duration_seconds_bucket{job="openmetrics",method="GET",route="/"}' "$id"
        # request_duration_seconds has classic and native buckets: Prometheus 2.42 reading
        # protobuf keeps the native histogram, and gives it the classic buckets' exemplars
        await_exemplar 'request_duration_seconds{job="protobuf",method="GET",route="/"}' "$id"
    done
    # exactly the ids sent: none from the invalid traceparents, none of the text job
    for job in openmetrics protobuf; do
        run exemplar_ids "{job=\"$job\"}"
        assert_success
        assert_output "$(printf '%s\n' "${IDS[@]}" | sort -u)"
    done
    run exemplar_ids '{job="text"}'
    assert_success
    assert_output ''
    run exemplar_ids 'requests_total{method="DELETE"}'
    assert_success
    assert_output ''
    # scraping with exemplars never failed, and the histogram counts the same both ways: the
    # native one read from protobuf, the classic one from OpenMetrics
    assert_equal "$(prom_query 'sum(up)')" 3
    local want got i
    for ((i = 0; i < 20; i++)); do   # bounded: 10 s for both jobs to have scraped the last request
        want=$(prom_query 'request_duration_seconds_count{job="openmetrics",method="GET",route="/"}')
        got=$(prom_query 'histogram_count(request_duration_seconds{job="protobuf",method="GET",route="/"})')
        [[ -n $want && $got == "$want" ]] && break
        sleep 0.5
    done
    assert_equal "$got" "$want"
}

