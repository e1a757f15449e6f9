# SPDX-License-Identifier: MIT
# A store written by release 0.3.0 (schema 4), built here from the commit that released it: its
# command-line tool's counters, gauge and histograms (classic and native), and an orders.fcgi
# worker's request metrics, orders, exemplars and final fold.  This tree's tool migrates it
# (schema 5: modes, units, state sets) and shows every sample exactly as 0.3.0's showed it, in
# text and in OpenMetrics, exemplars included; the 0.3.0 gauge is a livesum gauge, to which the
# new kinds can be added.
load helpers

setup_file() {
    local c
    # The commit whose changelog released 0.3.0 (its first entry).
    if git -C "$TOP" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        for c in $(git -C "$TOP" log --format=%H -- debian/changelog); do
            if git -C "$TOP" show "$c:debian/changelog" | head -n 1 | grep -qF "promfcgi (0.3.0-1)"; then
                OLD_COMMIT=$c; break
            fi
        done
    fi
    export OLD_COMMIT
    [[ -n ${OLD_COMMIT:-} ]] || return 0
    OLD=$BATS_FILE_TMPDIR/old
    git clone -q --no-checkout "$TOP" "$OLD"
    git -C "$OLD" checkout -q "$OLD_COMMIT"
    make -C "$OLD" -j2 cli/promfcgi app/orders.fcgi >"$BATS_FILE_TMPDIR/old-build.log" 2>&1 \
        || { tail -n 30 "$BATS_FILE_TMPDIR/old-build.log" >&2; return 1; }
    export OLD
}

NEW=$BIN_DIR/cli/promfcgi

# fcgi SOCK URI [VAR=VALUE...]: one GET through a worker's socket.
fcgi() {
    local sock=$1 uri=$2; shift 2
    env -i REQUEST_METHOD=GET REQUEST_URI="$uri" QUERY_STRING="${uri#*\?}" "$@" \
        cgi-fcgi -bind -connect "$sock" >/dev/null
}

# The samples and metadata of a page, without promfcgi's own (its version, its files' sizes)
# and the process gauges of live processes (none are left: they show as of now).
user_lines() { grep -v -e 'promfcgi_build_info' -e 'promfcgi_store_bytes' -e 'promfcgi_live_workers' "$1"; }

@test "migration: a store 0.3.0 wrote keeps every count, exemplar and value under this release" {
    [[ -n ${OLD_COMMIT:-} ]] || skip "no git history with the 0.3.0 release here (not a clone?)"
    export PROMFCGI_DB=$BATS_TEST_TMPDIR/store.db
    local o=$OLD/cli/promfcgi v i
    "$o" define counter backups_total "Backups run." --labels result
    "$o" inc backups_total result=ok
    "$o" add backups_total 2.5 result=failed
    "$o" define gauge disk_free_bytes "Free disk."
    "$o" set disk_free_bytes 1500000000
    "$o" define histogram job_seconds "Jobs." --buckets 1,10,60
    "$o" define histogram copy_seconds "Copies." --native --schema 0 --buckets 1,10
    for v in 0.5 7.5 100 3 0.0001; do
        "$o" observe job_seconds "$v"
        "$o" observe copy_seconds "$v"
    done
    # a 0.3.0 worker: orders (native and classic), request metrics, exemplars; its final fold
    local out pid
    out=$(spawn-fcgi -s "$BATS_TEST_TMPDIR/orders.sock" -- "$OLD/app/orders.fcgi")
    pid=${out##*PID: }
    for i in $(seq 1 40); do
        fcgi "$BATS_TEST_TMPDIR/orders.sock" "/order?kind=book&value=$i.5" \
            HTTP_TRACEPARENT="00-$(printf '%032x' "$i")-00f067aa0ba902b7-01"
    done
    fcgi "$BATS_TEST_TMPDIR/orders.sock" "/order?kind=pen&value=3"
    kill -TERM "$pid"
    retry 100 _gone "$pid"
    "$o" dump >"$BATS_TEST_TMPDIR/old.txt"
    "$o" dump --openmetrics >"$BATS_TEST_TMPDIR/old.om"
    grep -q 'orders_total{kind="book"} 40' "$BATS_TEST_TMPDIR/old.txt"
    grep -q 'trace_id=' "$BATS_TEST_TMPDIR/old.om"
    # this release migrates it and shows the same
    "$NEW" dump >"$BATS_TEST_TMPDIR/new.txt"
    "$NEW" dump --openmetrics >"$BATS_TEST_TMPDIR/new.om"
    run "$NEW" check
    assert_line "schema: 5"
    diff <(user_lines "$BATS_TEST_TMPDIR/old.txt") <(user_lines "$BATS_TEST_TMPDIR/new.txt")
    diff <(user_lines "$BATS_TEST_TMPDIR/old.om") <(user_lines "$BATS_TEST_TMPDIR/new.om")
    run "$PYTHON" "$TOOLS/om_check.py" <"$BATS_TEST_TMPDIR/new.om"
    assert_success
    # the 0.3.0 gauge is a livesum gauge, the tool's value kept; the new kinds join the store
    run "$NEW" define gauge disk_free_bytes "Free disk." --mode max
    assert_failure 1
    assert_output --partial "a gauge (mode livesum)"
    "$NEW" add disk_free_bytes -500
    "$NEW" define stateset backup_state "Backups." --states idle,running
    "$NEW" set backup_state running
    "$NEW" define summary restore_seconds "Restores." --unit seconds
    "$NEW" observe restore_seconds 12
    run "$NEW" dump
    assert_line 'disk_free_bytes 1499999500'
    assert_line 'backup_state{backup_state="running"} 1'
    assert_line 'restore_seconds_count 1'
    assert_line 'backups_total{result="ok"} 1'
    "$NEW" dump | promtool check metrics
}
