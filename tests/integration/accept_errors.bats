#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# How a worker leaves its accept loop (issue 16, item 5): a listening socket that fails under it
# ends it with a logged reason and a non-zero status, so that a supervisor (spawn-fcgi, systemd)
# can tell it from a stop; a stop signal still ends it with 0.  hello.fcgi runs alone on a unix
# socket that tools/listener.py made and keeps a hold of, answers one GET, and then the socket is
# shut down under it or it is sent SIGTERM.  A shut-down listening socket polls as ready with
# POLLHUP while its non-blocking accept says EAGAIN: before this was handled, the worker spun
# there at full CPU forever, without a word (the test saw it "still running" after 10 s).
load helpers

setup() {
    export PROMFCGI_DB=$BATS_TEST_TMPDIR/store.db
    SOCK=$BATS_TEST_TMPDIR/hello.sock
    ERR=$BATS_TEST_TMPDIR/worker.err
}

# listener MODE: runs hello under tools/listener.py; prints what it said, then the worker's stderr
listener() {
    "$PYTHON" "$TOOLS/listener.py" "$1" "$SOCK" "$ERR" "$BIN_DIR/app/hello.fcgi"
    echo "--- worker stderr:"
    cat "$ERR"
}

@test "accept: the listening socket shut down under a worker: the reason logged, exit 1" {
    run listener shutdown
    echo "$output" >&2
    assert_line "status 200"
    assert_line "exit 1"
    assert_line --regexp '^promfcgi\[[0-9]+\]: accept: fd 0: the listening socket was shut down \(POLLHUP\)$'
    assert_line --regexp '^promfcgi\[[0-9]+\]: hello\.fcgi: stops serving: its listening socket failed; exit 1$'
}

@test "accept: SIGTERM to a worker: exit 0, nothing said of a failure" {
    run listener sigterm
    echo "$output" >&2
    assert_line "status 200"
    assert_line "exit 0"
    refute_line --partial "stops serving"
    refute_line --partial "accept:"
}
