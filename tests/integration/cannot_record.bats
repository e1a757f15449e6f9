#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# A worker that cannot record shows on /metrics (issue 17). The stack's store is root's (its
# directory 0750), and the app's workers run as nobody: they cannot create their staging files,
# count in memory only, and lose every request. Before, the worker's log line was the only trace
# (it named neither the uid nor PROMFCGI_DB) and promfcgi_store_errors_total{op="stage"} stayed 0
# on /metrics: the error was counted in the worker's memory too. Now the worker reports to the
# metrics program (store/beacon.c), which counts its errors and logs why.
load helpers

teardown() {
    stop_stack || true
    forget_stack
    [[ -n ${CR_DIR:-} && $CR_DIR == /tmp/promfcgi-cannot-record.* ]] && rm -rf "$CR_DIR"
    return 0
}

@test "workers that cannot create their staging files: / still answers, and /metrics counts and names the failure" {
    ((EUID == 0)) || skip "needs root (the workers run as another user)"
    local nobody
    nobody=$(id -u nobody 2>/dev/null) || skip "no user nobody"
    command -v setpriv >/dev/null || skip "no setpriv (util-linux)"
    # the app: the hello app, dropped to nobody (copied where nobody may run it)
    CR_DIR=$(mktemp -d /tmp/promfcgi-cannot-record.XXXXXX)
    chmod 0755 "$CR_DIR"
    cp "$BIN_DIR/app/hello.fcgi" "$CR_DIR/hello"
    printf '#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup --clear-groups -- %s/hello\n' \
        "$CR_DIR" >"$CR_DIR/as-nobody.fcgi"
    chmod 0755 "$CR_DIR/hello" "$CR_DIR/as-nobody.fcgi"
    STACK_APP=$CR_DIR/as-nobody.fcgi start_stack nginx
    local i code
    for ((i = 0; i < 5; i++)); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "$BASE/")
        assert_equal "$code" 200   # metrics never break the app
    done
    # each worker's report reaches the metrics program (the first, sent before it listened, is
    # kept and sent again after a request, at most once a second)
    _stage_errors() {
        curl -s -o /dev/null "$BASE/"
        local n
        n=$(metric_value 'promfcgi_store_errors_total{op="stage"}')
        [[ -n $n ]] && ((n >= 1))
    }
    retry 100 _stage_errors || fail "promfcgi_store_errors_total{op=\"stage\"} stayed $(metric_value 'promfcgi_store_errors_total{op="stage"}')"
    # their requests are lost (counted in their memory); the failure is not
    run metric_value 'requests_total{method="GET",route="/",code="200"}'
    refute_output --regexp '^[1-9]'
    # the worker's own line, and the metrics program's, name the path, the uid, the store and
    # where its path came from, and the fix
    local line="cannot create a staging file in $STACK_DB.stage as uid $nobody (nobody): Permission denied; the store is $STACK_DB (from PROMFCGI_DB); counting in memory only, which no scrape sees. Fix: let that uid into ${STACK_DB%/*} (search and write, on every directory above it too), or set PROMFCGI_DB to a store it can write, the same for the metrics program"
    run grep -cF "stage error: $line" "$STACK_DIR/stack.log"
    assert_success || { cat "$STACK_DIR/stack.log" >&2; return 1; }
    run grep -F "of this store cannot record: $line" "$STACK_DIR/stack.log"
    assert_success
    assert_output --regexp "promfcgi\[[0-9]+\]: process [0-9]+ \(uid $nobody\) of this store cannot record"
}
