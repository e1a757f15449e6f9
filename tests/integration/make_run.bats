#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# `make run` as a person uses it (issue 16, item 7), each on a terminal of its own
# (tools/make_run.py): Ctrl-C, or SIGTERM to the stack, stops everything it started, and make
# ends with status 0 and no "make: ***" error; and, as root, one mode after another on the same
# run directory's store (root's lighttpd, then Apache in CGI mode, whose programs run as
# www-data, then lighttpd again), each taking the store the earlier one left, counts kept.
# `make run` builds and runs the release programs: the ASan pass has nothing to add.
load helpers

setup() {
    [[ $BIN_DIR == "$TOP" ]] || skip "make run runs the release programs (this pass: $BIN_DIR)"
    # Outside bats' temp dirs (0700): Apache's CGI programs run as www-data, who must reach it.
    OUTSIDE=$(mktemp -d /tmp/promfcgi-make-run.XXXXXX)
    chmod 0711 "$OUTSIDE"
    RUNDIR=$OUTSIDE/run
    PORT=$(free_port)
}

# make_run STOP [VAR=VALUE...]: `make run RUNDIR PORT VAR...` on a terminal, stopped by STOP
make_run() {
    "$PYTHON" "$TOOLS/make_run.py" "$TOP" "$1" RUNDIR="$RUNDIR" PORT="$PORT" "${@:2}"
}

# Processes the runs left behind: a stack marker or a command line naming RUNDIR.
left_behind() {
    { grep -lsFz -e "$RUNDIR" /proc/[0-9]*/environ /proc/[0-9]*/cmdline || true; } |
        awk -F/ '!seen[$3]++ { print $3 }' | while read -r p; do
            [[ $p == "$BASHPID" || ! -e /proc/$p ]] && continue
            echo "$p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
        done
}

teardown() {
    [[ -n ${OUTSIDE:-} ]] || return 0
    local p
    for p in $(left_behind | awk '{print $1}'); do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$OUTSIDE"
}

stopped_cleanly() {
    echo "$output" >&2
    assert_line "GET / -> 200"
    assert_line --partial "stack: stopped"
    refute_line --partial "make: ***"
    assert_line "exit 0"
    assert_equal "left behind: $(left_behind)" "left behind: "
}

@test "make run: Ctrl-C stops everything it started; make exits 0 without an error" {
    run make_run ctrl-c
    stopped_cleanly
}

@test "make run: SIGTERM to the stack stops everything it started; make exits 0 without an error" {
    run make_run sigterm
    stopped_cleanly
}

@test "make run as root, then SERVER=apache MODE=cgi, then lighttpd again: each takes the store" {
    ((EUID == 0)) || skip "as root only: the runs hand the store between root and www-data"
    local m
    for m in "SERVER=lighttpd" "SERVER=apache MODE=cgi" "SERVER=lighttpd"; do
        # shellcheck disable=SC2086 # one or two VAR=VALUE words
        run make_run ctrl-c $m
        echo "== make run $m" >&2
        stopped_cleanly
    done
    run "$TOP/cli/promfcgi" --db "$RUNDIR/promfcgi.db" dump
    echo "$output" | grep '^requests_total' >&2 || true
    assert_line 'requests_total{method="GET",route="/",code="200"} 3'
}
