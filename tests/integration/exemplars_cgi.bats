# SPDX-License-Identifier: MIT
# Exemplars from CGI processes: lighttpd in CGI mode (mod_cgi, one process per request, the same
# hello.fcgi and metrics.fcgi) passes the traceparent header as HTTP_TRACEPARENT; each one-shot
# process carries its exemplar in its journal record, and /metrics shows the latest one, in
# OpenMetrics only, before and after the scrape that folds the journal into the store.
load helpers

OM='application/openmetrics-text;version=1.0.0'
IDS=(4bf92f3577b34da6a3ce929d0e0e4736 0af7651916cd43dd8448eb211c80319c 5b8efff798038103d269b633813fc60c)

setup_file() { start_stack lighttpd cgi; }
teardown_file() { stop_stack || true; }

@test "exemplars (CGI): one-shot processes leave their trace ids, the latest shown, in OpenMetrics only" {
    local id page line re
    for id in "${IDS[@]}"; do
        run curl -s -H "traceparent: 00-$id-00f067aa0ba902b7-01" "$BASE/"
        assert_output 'Hello, Prometheus!'
        sleep 0.01   # exemplar timestamps are in milliseconds: the last sent is the latest
    done
    curl -s -o /dev/null -H 'traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01' "$BASE/"
    for _ in 1 2; do   # the first scrape folds the journal, the second reads the store
        page=$(curl -sf -H "Accept: $OM" "$BASE/metrics")
        line=$(grep '^requests_total{method="GET",route="/",code="200"}' <<<"$page")
        re="^requests_total\\{method=\"GET\",route=\"/\",code=\"200\"\\} [0-9]+ # \\{trace_id=\"${IDS[2]}\"\\} 1 [0-9.]+\$"
        [[ $line =~ $re ]] || { echo "line: $line"; false; }
        run grep -c "^request_duration_seconds_bucket{method=\"GET\",route=\"/\",le=\"[^\"]*\"} [0-9]* # {trace_id=\"${IDS[2]}\"} " <<<"$page"
        assert_output 1
        "$PYTHON" "$TOOLS/om_check.py" <<<"$page"
        om_promtool <<<"$page"
    done
    run grep -c ' # {' <<<"$(curl -sf "$BASE/metrics")"   # text 0.0.4: none
    assert_output 0
}
