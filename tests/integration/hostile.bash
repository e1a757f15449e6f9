# SPDX-License-Identifier: MIT
# Hostile input (issue 4, item 4), shared by hostile_nginx.bats and hostile_lighttpd.bats; the
# .bats file sets SERVER first. Every HTTP request must be answered below 500 (a 400/501 from the
# web server itself is fine: what each server did is printed to the TAP log); afterwards
# /metrics passes promtool, requests_total keeps at most 8 methods x 2 routes x 3 codes = 48
# series, and every label value is valid UTF-8. Then raw garbage and a FastCGI PARAMS record
# claiming a ~2 GiB name go straight into the workers' sockets: the workers survive (or exit and
# are restarted) and the next requests are served 200.
load "$(dirname "${BASH_SOURCE[0]}")/helpers"

RANDOM_PATHS=300
MAX_SERIES=48

setup_file() { start_stack "$SERVER"; }
teardown_file() { stop_stack || true; }

# code LABEL CURL-ARGS...: one request; appends "LABEL CODE" to the results file.
code() {
    local label=$1 c; shift
    c=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' --path-as-is "$@" || true)
    echo "$label ${c:-000}" >>"$BATS_TEST_TMPDIR/codes"
}

t_hostile_http() {
    local long
    long=/$(head -c 5999 /dev/zero | tr '\0' a)
    code 'quote %22'                 "$BASE/%22"
    code 'backslashes %5C%5C'        "$BASE/%5C%5C"
    code 'raw quote+backslash'       "$BASE/\"\\"
    code 'newline %0A'               "$BASE/a%0Ab"
    code 'CRLF %0D%0A'               "$BASE/a%0D%0Ab"
    code 'NUL %00'                   "$BASE/%00"
    code 'NUL in query'              "$BASE/?x=%00"
    code 'invalid UTF-8 %FF%FE'      "$BASE/%FF%FE"
    code 'invalid UTF-8 in query'    "$BASE/?%FF%FE"
    code 'overlong UTF-8 %C0%AF'     "$BASE/%C0%AF"
    code 'dot segments'              "$BASE/../../etc/passwd"
    code '6000-byte path'            "$BASE$long"
    code 'method BREW'               -X BREW "$BASE/"
    code 'method get (lowercase)'    -X get "$BASE/"
    code 'method PROPFIND'           -X PROPFIND "$BASE/"
    code 'method TRACE'              -X TRACE "$BASE/"
    code 'method 1000 x M'           -X "$(head -c 1000 /dev/zero | tr '\0' M)" "$BASE/"
    code 'metrics with NUL query'    "$BASE/metrics?%00%FF"

    # 300 random percent-encoded paths through one curl process.
    "$PYTHON" "$TOOLS/random_paths.py" "$BASE" "$RANDOM_PATHS" >"$BATS_TEST_TMPDIR/random.curl"
    curl -s --max-time 10 --path-as-is -K "$BATS_TEST_TMPDIR/random.curl" -w 'random %{http_code}\n' \
        >>"$BATS_TEST_TMPDIR/codes" || true

    # What the server did, for the log: every fixed case, and a tally of the random ones.
    { grep -v '^random ' "$BATS_TEST_TMPDIR/codes"
      grep '^random ' "$BATS_TEST_TMPDIR/codes" | sort | uniq -c | awk '{ print "random paths: " $1 " x " $3 }'
    } | sed "s/^/# $SERVER: /" >&3
    run grep -c '^random ' "$BATS_TEST_TMPDIR/codes"
    assert_output "$RANDOM_PATHS"
    # Below 500 and a real answer (000 = no response at all); 501 only for the unknown methods,
    # where it is the web server's own answer (lighttpd's; the app never sends 501).
    run awk '$NF !~ /^[1-4][0-9][0-9]$/ && !($1 == "method" && $NF == 501)' "$BATS_TEST_TMPDIR/codes"
    assert_output ''

    curl -sf --max-time 10 "$BASE/metrics" >"$BATS_TEST_TMPDIR/page"
    run promtool check metrics <"$BATS_TEST_TMPDIR/page"
    assert_success
    run "$PYTHON" "$TOOLS/metrics_check.py" labels "$BATS_TEST_TMPDIR/page"
    assert_success
    local n
    n=$(awk '$1 == "requests_total" { print $2 }' <<<"$output")
    echo "# $SERVER: requests_total series after hostile input: $n" >&3
    ((n >= 1 && n <= MAX_SERIES)) || fail "requests_total has $n series (bound $MAX_SERIES)"
    # The label values are the fixed lists, nothing from the request.
    run grep -E '^requests_total\{' "$BATS_TEST_TMPDIR/page"
    refute_output --regexp 'method="[^"]*[^A-Zother"][^"]*"'
    refute_output --regexp 'route="([^/u"]|/[^"]|u[^n])'
}

# Hello worker pids, sorted.
hello_pids() { stack_procs | awk '$2 ~ /hello\.fcgi$/ { print $1 }' | sort -n | tr '\n' ' '; }

t_hostile_socket() {
    local socks s k before after i
    socks=("$STACK_DIR"/run/hello.sock*)
    [[ -S ${socks[0]} ]] || fail "no hello socket in $STACK_DIR/run"
    before=$(hello_pids)
    for s in "${socks[@]}"; do
        for ((k = 0; k < WORKERS; k++)); do
            "$PYTHON" "$TOOLS/fcgi.py" garbage "$s"
            "$PYTHON" "$TOOLS/fcgi.py" hugeparam "$s"
        done
    done
    # The next requests are served: twice as many as there are workers, each must be 200. A
    # worker that exited is being restarted meanwhile: wait for the first 200 (bounded, 10 s).
    for ((i = 0; i < 100; i++)); do
        [[ $(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$BASE/") == 200 ]] && break
        sleep 0.1
    done
    for ((k = 0; k < 2 * WORKERS; k++)); do
        run curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$BASE/"
        assert_output 200
    done
    after=$(hello_pids)
    if [[ $before == "$after" ]]; then
        echo "# $SERVER: workers survived raw garbage and huge PARAMS lengths (pids $after)" >&3
    else
        echo "# $SERVER: workers restarted after raw input: pids $before-> $after" >&3
    fi
}

t_hostile_stop() {
    stop_stack
    run grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$STACK_DIR/stack.log"
    assert_failure
}
