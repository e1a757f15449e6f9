# SPDX-License-Identifier: MIT
# Custom metrics: the command-line tool (cli/promfcgi) and an app of one's
# own (app/orders.fcgi), both rendered by the unchanged metrics.fcgi.
# Workers are reached with cgi-fcgi (libfcgi-bin) on spawn-fcgi sockets.
bats_load_library bats-support
bats_load_library bats-assert

TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BIN_DIR=${PROMFCGI_BIN_DIR:-$TOP}
CLI=$BIN_DIR/cli/promfcgi
PYTHON=/usr/bin/python3

setup() {
    export PROMFCGI_DB=$BATS_TEST_TMPDIR/store.db
    PIDS=()
}

teardown() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
}

# spawn NAME BINARY: one worker on a socket in the test's tmpdir.
spawn() {
    local out
    out=$(spawn-fcgi -s "$BATS_TEST_TMPDIR/$1.sock" -- "$2")
    PIDS+=("${out##*PID: }")
}

# fcgi NAME URI [VAR=VALUE...]: one GET through the worker's socket; prints the response.
fcgi() {
    local sock=$BATS_TEST_TMPDIR/$1.sock uri=$2; shift 2
    env -i REQUEST_METHOD=GET REQUEST_URI="$uri" QUERY_STRING="${uri#*\?}" "$@" \
        cgi-fcgi -bind -connect "$sock"
}

# The body of a response (after the blank line that ends the headers).
body() { sed '1,/^\r\{0,1\}$/d'; }

@test "cli: --help and the man page" {
    run "$CLI" --help
    assert_success
    assert_output --partial "define TYPE NAME HELP"
    assert_output --partial "summary info stateset"
    run "$CLI"
    assert_failure 2
    if command -v man >/dev/null; then
        MANWIDTH=200 run man -l "$TOP/man/promfcgi.1"
        assert_success
        assert_output --regexp 'record +Prometheus +metrics'
        assert_output --partial 'dump [--openmetrics|--protobuf]'
        assert_output --partial '[--native [--schema n] [--zero-threshold x]]'
        assert_output --partial 'EXIT STATUS' 
    fi
}

@test "cli: define, record, dump — exact values, promtool clean" {
    "$CLI" define counter backups_total "Backups run." --labels host,result
    "$CLI" inc backups_total host=db1 result=ok
    "$CLI" add backups_total 2.5 result=ok host=db1
    "$CLI" define gauge disk_free_bytes "Free disk space."
    "$CLI" set disk_free_bytes 1500000000
    "$CLI" add disk_free_bytes -500
    "$CLI" define histogram job_seconds "Job time." --buckets 1,10,60
    "$CLI" observe job_seconds 7.5
    "$CLI" observe job_seconds 100
    run "$CLI" dump
    assert_success
    assert_line 'backups_total{host="db1",result="ok"} 3.5'
    assert_line 'disk_free_bytes 1499999500'
    assert_line 'job_seconds_bucket{le="1.0"} 0'
    assert_line 'job_seconds_bucket{le="10.0"} 1'
    assert_line 'job_seconds_bucket{le="+Inf"} 2'
    assert_line 'job_seconds_sum 107.5'
    assert_line 'job_seconds_count 2'
    "$CLI" dump | promtool check metrics
    run "$CLI" dump --openmetrics
    assert_success
    assert_line '# TYPE backups counter'
    assert_equal "$(tail -n 1 <<<"$output")" "# EOF"
}

@test "cli: native histograms: define --native, observe, dump (text: the classic lines; protobuf: the native buckets)" {
    "$CLI" define histogram backup_seconds "Backup time." --native
    "$CLI" define histogram copy_seconds "Copy time." --native --schema 0 --zero-threshold 0.001 --buckets 1,10
    local v
    for v in 0.5 3 3.5 0.0005 -2; do
        "$CLI" observe backup_seconds "$v"
        "$CLI" observe copy_seconds "$v"
    done
    run "$CLI" dump
    assert_success
    # native only: +Inf, _sum, _count; with classic buckets: exactly those
    assert_line 'backup_seconds_bucket{le="+Inf"} 5'
    assert_line 'backup_seconds_count 5'
    assert_line 'copy_seconds_bucket{le="1.0"} 3'
    assert_line 'copy_seconds_bucket{le="10.0"} 5'
    assert_line 'copy_seconds_count 5'
    refute_output --partial 'backup_seconds_bucket{le="1.0"}'
    "$CLI" dump | promtool check metrics
    "$CLI" dump --protobuf >"$BATS_TEST_TMPDIR/page.pb"
    run "$PYTHON" "$TOP/tests/unit/pbdecode.py" "$BATS_TEST_TMPDIR/page.pb"
    assert_success
    # copy_seconds, schema 0: buckets (2^(k-1), 2^k]; 0.0005 in the zero bucket, -2 in negative 1;
    # 0.5 in positive -1, 3 and 3.5 in positive 2
    local copy
    copy=$(awk '/name: "copy_seconds"/,/^---/' <<<"$output")
    grep -q 'schema: 0' <<<"$copy"
    grep -q 'zero_threshold: 0.001' <<<"$copy"
    grep -q 'zero_count: 1' <<<"$copy"
    assert_equal "$(grep -A2 'negative_span' <<<"$copy" | grep -o 'offset: -\?[0-9]*')" 'offset: 1'
    assert_equal "$(grep -o 'positive_delta: -\?[0-9]*' <<<"$copy" | tr '\n' ' ')" \
        'positive_delta: 1 positive_delta: -1 positive_delta: 0 positive_delta: 2 '
    grep -q 'schema: 3' <<<"$(awk '/name: "backup_seconds"/,/^---/' <<<"$output")"
    # a classic histogram defined again with --native gains native buckets, and keeps its counts
    "$CLI" define histogram job_seconds "Job time." --buckets 1,10,60
    "$CLI" observe job_seconds 7.5
    "$CLI" define histogram job_seconds "Job time." --buckets 1,10,60 --native
    "$CLI" observe job_seconds 8
    run "$CLI" dump
    assert_line 'job_seconds_count 2'
    "$CLI" dump --protobuf >"$BATS_TEST_TMPDIR/job.pb"
    run "$PYTHON" "$TOP/tests/unit/pbdecode.py" "$BATS_TEST_TMPDIR/job.pb"
    local job
    job=$(awk '/name: "job_seconds"/,/^---/' <<<"$output")
    # protobuf's count and sum are the native part's (it counts from then on): they add up
    grep -q 'schema: 3' <<<"$job"
    grep -q 'sample_count: 1$' <<<"$job"
    grep -q 'sample_sum: 8$' <<<"$job"
    grep -q 'positive_delta: 1$' <<<"$job"
    # --schema without --native, a schema out of range: refused
    run "$CLI" define histogram x_seconds "X." --schema 3
    assert_failure 2
    run "$CLI" define histogram x_seconds "X." --native --schema 9
    assert_failure 2
    run "$CLI" define histogram x_seconds "X." --native --zero-threshold -1
    assert_failure 2
    run "$CLI" define counter x_total "X." --native
    assert_failure 2
}

@test "cli: mistakes are refused with a reason, and change nothing" {
    "$CLI" define counter c_total "C." --labels a
    "$CLI" inc c_total a=x
    run "$CLI" add c_total -1 a=x
    assert_failure 1
    assert_output --partial "a counter takes inc and add, never a negative amount"
    run "$CLI" inc c_total
    assert_failure 1
    assert_output --partial "needs a=VALUE"
    run "$CLI" inc c_total a=x b=y
    assert_failure 1
    run "$CLI" inc nosuch_total
    assert_failure 1
    assert_output --partial "no such family"
    run "$CLI" define gauge c_total "C." --labels a
    assert_failure 1
    assert_output --partial "clashes with its definition in the store, a counter with labels (a); this one is a gauge (mode livesum) with labels (a)"
    run "$CLI" define histogram h "H." --labels le
    assert_failure 2
    run "$CLI" define counter "bad-name" "H."
    assert_failure 2
    run "$CLI" inc c_total a=$'\xff'
    assert_failure 1
    run "$CLI" add c_total lots a=x
    assert_failure 2
    run "$CLI" dump
    assert_line 'c_total{a="x"} 1'
}

@test "cli: gauge modes, summary, info, state set and units; OpenMetrics by client_python's parser" {
    "$CLI" define gauge backup_last_success_seconds "Last backup." --mode max --unit seconds
    "$CLI" set backup_last_success_seconds 100
    "$CLI" set backup_last_success_seconds 50      # the tool is one process: its value replaced
    "$CLI" define gauge config_version "Config." --mode mostrecent
    "$CLI" set config_version 3
    "$CLI" define summary job_seconds "Jobs." --unit seconds --labels job
    "$CLI" observe job_seconds 2.5 job=a
    "$CLI" observe job_seconds 1 job=a
    "$CLI" define info deploy_info "Deployed." --labels version
    "$CLI" info deploy_info version=1.1
    "$CLI" info deploy_info version=1.2             # replaces the tool's last one
    "$CLI" define stateset maintenance "Maintenance." --states off,on
    run "$CLI" dump
    assert_line 'backup_last_success_seconds 50'
    assert_line 'config_version 3'
    assert_line 'job_seconds_sum{job="a"} 3.5'
    assert_line 'job_seconds_count{job="a"} 2'
    assert_line 'deploy_info{version="1.2"} 1'
    refute_line --partial 'version="1.1"'
    assert_line 'maintenance{maintenance="off"} 1'   # the first, before any was set
    "$CLI" set maintenance on
    run "$CLI" dump
    assert_line 'maintenance{maintenance="off"} 0'
    assert_line 'maintenance{maintenance="on"} 1'
    "$CLI" dump | promtool check metrics
    "$CLI" dump --openmetrics >"$BATS_TEST_TMPDIR/page.om"
    run "$PYTHON" "$TOP/tests/integration/tools/om_check.py" <"$BATS_TEST_TMPDIR/page.om"
    assert_success
    run cat "$BATS_TEST_TMPDIR/page.om"
    assert_line '# UNIT backup_last_success_seconds seconds'
    assert_line '# TYPE deploy info'
    assert_line '# TYPE maintenance stateset'
    assert_line '# TYPE job_seconds summary'
    assert_line --regexp '^job_seconds_created\{job="a"\} [0-9.e+]+$'
    # refused, with the rule: a mode clash names both; a unit not the name's suffix; a state
    # not of the set; a summary's negative observation; liveall from the tool
    run "$CLI" define gauge backup_last_success_seconds "Last backup." --mode min
    assert_failure 1
    assert_output --partial "a gauge (mode max, unit seconds); this one is a gauge (mode min)"
    run "$CLI" define gauge x_seconds "X." --unit bytes
    assert_failure 2
    assert_output --partial 'must end in _bytes'
    run "$CLI" set maintenance maybe
    assert_failure 1
    assert_output --partial "one of off, on"
    run "$CLI" observe job_seconds -1 job=a
    assert_failure 1
    "$CLI" define gauge free_bytes "Free." --mode liveall
    run "$CLI" set free_bytes 1
    assert_failure 1
    assert_output --partial "liveall"
    run "$CLI" define gauge g "G." --mode most
    assert_failure 2
    run "$CLI" define counter c_total "C." --mode max
    assert_failure 2
    run "$CLI" define gauge g "G." --states a,b
    assert_failure 2
}

@test "cli: check tells a sound store from a missing or corrupt one" {
    run "$CLI" check
    assert_failure 1
    "$CLI" define counter c_total "C."
    run "$CLI" check
    assert_success
    assert_line "integrity: ok"
    head -c 8192 /dev/urandom | dd of="$PROMFCGI_DB" bs=1 seek=100 conv=notrunc status=none
    run "$CLI" check
    assert_failure 1
}

@test "custom app: its families reach /metrics through the unchanged metrics program" {
    spawn orders "$BIN_DIR/app/orders.fcgi"
    spawn metrics "$BIN_DIR/metrics/metrics.fcgi"
    local v
    for v in 3 12.5 60; do
        run fcgi orders "/order?kind=book&value=$v"
        assert_success
        assert_line --partial "200 OK"
    done
    run fcgi orders "/order?kind=%22evil%22&value=1"   # unknown kinds fold into "other"
    assert_line --partial "200 OK"
    run fcgi orders "/order?kind=pen&value=-1"
    assert_line --partial "400"
    fcgi metrics /metrics | body >"$BATS_TEST_TMPDIR/page"
    promtool check metrics <"$BATS_TEST_TMPDIR/page"
    run cat "$BATS_TEST_TMPDIR/page"
    assert_line 'orders_total{kind="book"} 3'
    assert_line 'orders_total{kind="other"} 1'
    assert_line 'orders_total{kind="pen"} 0'
    assert_line 'order_value_dollars_bucket{kind="book",le="5.0"} 1'
    assert_line 'order_value_dollars_bucket{kind="book",le="50.0"} 2'
    assert_line 'order_value_dollars_count{kind="book"} 3'
    assert_line 'order_value_dollars_sum{kind="book"} 75.5'
    assert_line 'orders_last_value_dollars 1'
    # OpenMetrics on request, gzip on request
    run fcgi metrics /metrics HTTP_ACCEPT='application/openmetrics-text;version=1.0.0'
    assert_line --partial 'Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8'
    assert_line '# TYPE orders counter'
    fcgi metrics /metrics HTTP_ACCEPT_ENCODING=gzip | body | gunzip | promtool check metrics
    run fcgi metrics '/metrics?name[]=orders_total'
    assert_line 'orders_total{kind="book"} 3'
    refute_line --partial 'order_value_dollars'
}

@test "custom app: the metrics program answers HEAD and refuses POST with Allow" {
    spawn metrics "$BIN_DIR/metrics/metrics.fcgi"
    run env -i REQUEST_METHOD=POST REQUEST_URI=/metrics cgi-fcgi -bind -connect "$BATS_TEST_TMPDIR/metrics.sock"
    assert_line --partial "405"
    assert_line --partial "Allow: GET, HEAD"
    run env -i REQUEST_METHOD=HEAD REQUEST_URI=/metrics cgi-fcgi -bind -connect "$BATS_TEST_TMPDIR/metrics.sock"
    assert_line --partial "200 OK"
    refute_line --partial "# TYPE"
}

@test "metrics program: a store it cannot open gives 503 with a one-line reason, and / is unaffected" {
    export PROMFCGI_DB=$BATS_TEST_TMPDIR/no/such/dir/store.db
    spawn metrics "$BIN_DIR/metrics/metrics.fcgi"
    spawn hello "$BIN_DIR/app/hello.fcgi"
    run fcgi metrics /metrics
    assert_line --partial "Status: 503 Service Unavailable"
    assert_line --partial "Content-Type: text/plain"
    run bash -c "$(declare -f fcgi body); BATS_TEST_TMPDIR=$BATS_TEST_TMPDIR fcgi metrics /metrics | body"
    assert_equal "${#lines[@]}" 1
    assert_output --partial "store.db"
    run fcgi hello /
    assert_line --partial "200 OK"
    assert_line "Hello, Prometheus!"
}
