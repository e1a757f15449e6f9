#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Graceful stop with a request in hand (issue 4, item 2): "SIGTERM finishes the request in hand,
# folds, exits 0". A hello worker is started alone with `spawn-fcgi -n` on its own socket and
# store; tools/fcgi_mix.py inflight sends BEGIN_REQUEST and part of PARAMS, waits (bounded) until
# the worker sits in read(2) on that connection (it has accepted and is reading the request
# inside FCGX_Accept_r), sends it SIGTERM, waits until the signal has been taken, then sends the
# rest of PARAMS and an empty STDIN. The client must get the full 200 "Hello, Prometheus!"
# response; the worker must exit 0 (bounded wait), remove its staging file, and the store must
# hold that one request as GET / 200.
#
# Two places to cut PARAMS: between two name-value pairs (after REQUEST_METHOD, before
# REQUEST_URI) and inside one (in the middle of the REQUEST_URI pair). A web server writes a
# request in as many pieces as it likes, so both are real.
#
# SIGTERM to an idle worker blocked in accept (exit 0 promptly, file folded and removed, counts
# kept) is lifetimes.bats' "SIGTERM to an idle worker" test; not repeated here.
load helpers

setup() {
    export PROMFCGI_DB=$BATS_TEST_TMPDIR/store.db
    SOCK=$BATS_TEST_TMPDIR/hello.sock
    PROMFCGI_DB=$PROMFCGI_DB spawn-fcgi -n -M 0600 -s "$SOCK" -- "$BIN_DIR/app/hello.fcgi" \
        >/dev/null 2>"$BATS_TEST_TMPDIR/worker.err" 3>&- &
    W_PID=$!
}

teardown() {
    kill -KILL "$W_PID" 2>/dev/null || true
}

# inflight CUT: the exchange above; then checks everything, after printing what happened
# (shown when the test fails).
# shellcheck disable=SC2001 # indent multi-line text
inflight() {
    local i exit_status=0 resp stage dump
    resp=$("$PYTHON" "$TOOLS/fcgi_mix.py" inflight "$SOCK" "$W_PID" "$1" 2>&1) || true
    for ((i = 0; i < 100; i++)); do _gone "$W_PID" && break; sleep 0.1; done   # bounded, 10 s
    _gone "$W_PID" || fail "worker $W_PID still alive 10 s after SIGTERM; client: $resp"
    { wait "$W_PID" || exit_status=$?; } 2>/dev/null
    stage=$(ls -A "$PROMFCGI_DB.stage" 2>&1)
    dump=$("$BIN_DIR/cli/promfcgi" --db "$PROMFCGI_DB" dump 2>&1 | grep '^requests_total' || true)
    {
        echo "client:"; sed 's/^/  /' <<<"$resp"
        echo "worker exit status: $exit_status"
        echo "staging files left: ${stage:-none}"
        echo "requests_total in the store:"; sed 's/^/  /' <<<"${dump:-(none)}"
        echo "worker stderr:"; sed 's/^/  /' "$BATS_TEST_TMPDIR/worker.err"
    } >&2
    grep -qxE 'SIGTERM sent and (taken|held)' <<<"$resp" || fail "the SIGTERM did not land while the request was being read"
    grep -qx 'status 200' <<<"$resp" || fail "no 200 response to the request in hand"
    grep -qx 'body Hello, Prometheus!' <<<"$resp" || fail "not the hello body"
    assert_equal "exit status $exit_status" "exit status 0"
    assert_equal "staging files left: $stage" "staging files left: "
    assert_equal "$dump" 'requests_total{method="GET",route="/",code="200"} 1'
}

@test "graceful: SIGTERM while PARAMS are half read (cut between pairs): 200 Hello, exit 0, file removed, counted" {
    inflight pairs:1
}

@test "graceful: SIGTERM while PARAMS are half read (cut inside a pair): 200 Hello, exit 0, file removed, counted" {
    inflight bytes:26
}
