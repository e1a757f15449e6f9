#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Worker lifetimes without a supervisor (issue 4, items 1 and 2): hello workers started one at a
# time with `spawn-fcgi -n` on their own unix socket, sharing the store of an nginx stack (whose
# /metrics we scrape). Each serves exactly 3 requests, sent straight into its socket by
# tools/fcgi.py, and is then ended: odd lifetimes by SIGTERM (graceful: fold, remove the staging
# file, exit 0), even ones by SIGKILL right after the last response (the next scrape folds and
# retires it). Totals must be exact and nothing may grow with the number of dead workers.
load helpers

LIFETIMES=200
EARLY=20          # the first size measurement; the second one is after LIFETIMES

WORKERS=1   # the stack's own workers get no app requests here: keep them few

setup_file() { start_stack nginx; }
teardown_file() {
    [[ -n ${LIFE_PID:-} ]] && kill -KILL "$LIFE_PID" 2>/dev/null
    stop_stack || true
}

# start_worker: a hello worker on its own socket in the stack's store; sets LIFE_PID (spawn-fcgi
# -n execs the app, so it is the worker's pid) and LIFE_SOCK.
start_worker() {
    LIFE_SOCK=$BATS_FILE_TMPDIR/life.sock
    rm -f "$LIFE_SOCK"
    PROMFCGI_DB=$STACK_DB spawn-fcgi -n -M 0600 -s "$LIFE_SOCK" -- "$BIN_DIR/app/hello.fcgi" \
        >/dev/null 2>>"$BATS_FILE_TMPDIR/workers.log" 3>&- &
    LIFE_PID=$!
}
# end_worker SIGNAL: send it, wait (bounded, 10 s) for the worker to go; sets END_STATUS to its
# exit status. (Not in $(...): only this shell can wait for its child.)
end_worker() {
    END_STATUS=0
    kill "-$1" "$LIFE_PID"
    local i
    for ((i = 0; i < 1000; i++)); do _gone "$LIFE_PID" && break; sleep 0.01; done
    _gone "$LIFE_PID" || { echo "worker $LIFE_PID still alive 10 s after SIG$1" >&2; return 1; }
    # 2>/dev/null: bash's "Killed" job notice would clutter the TAP output.
    { wait "$LIFE_PID" || END_STATUS=$?; } 2>/dev/null
    LIFE_PID=
}
# The staging files left in the store's .stage directory, one name a line.
stage_files() { ls -1 "$STACK_DB.stage"; }
# Logical size of the store (bytes in use, read through the WAL), the WAL file's size and the
# per-worker rows, as "KEY=VALUE" words.
store_figures() {
    local q
    q=$(sqlite3 -cmd '.timeout 2000' "$STACK_DB" \
        'SELECT (SELECT page_count FROM pragma_page_count) - (SELECT freelist_count FROM pragma_freelist_count),
                (SELECT page_size FROM pragma_page_size),
                (SELECT count(*) FROM incarnation), (SELECT count(*) FROM folded), (SELECT count(*) FROM series)')
    IFS='|' read -r pages psize incs folded series <<<"$q"
    [[ -n $series ]] || { echo "store_figures: unexpected answer '$q'" >&2; return 1; }
    echo "used=$((pages * psize)) wal=$(stat -c %s "$STACK_DB-wal" 2>/dev/null || echo 0)" \
         "incarnations=$incs folded_rows=$folded series_rows=$series"
}
# Samples on /metrics (one scrape; saved for the report).
samples() {
    curl -sf --max-time 10 "$BASE/metrics" >"$BATS_FILE_TMPDIR/page" || return 1
    "$PYTHON" "$TOOLS/metrics_check.py" samples "$BATS_FILE_TMPDIR/page"
}

@test "spawn-fcgi: $LIFETIMES worker lifetimes x 3 requests, half SIGTERM half SIGKILL: exact totals, no growth" {
    local req0 i sig out early_samples early_figs late_samples late_figs want
    req0=$(metric_sum requests_total)
    for ((i = 1; i <= LIFETIMES; i++)); do
        start_worker
        out=$("$PYTHON" "$TOOLS/fcgi.py" get "$LIFE_SOCK" / / /)
        assert_equal "lifetime $i: $(echo $out)" "lifetime $i: 200 200 200"
        if ((i % 2)); then sig=TERM want=0; else sig=KILL want=137; fi
        end_worker $sig
        assert_equal "lifetime $i SIG$sig exit status $END_STATUS" "lifetime $i SIG$sig exit status $want"
        # A scrape every 10 lifetimes, as Prometheus would: it folds and retires the dead.
        ((i % 10)) || metric_sum requests_total >/dev/null
        if ((i == EARLY)); then
            early_samples=$(samples)
            early_figs=$(store_figures)
            run stage_files
            assert_equal "${#lines[@]} staging files" "$((WORKERS + 1)) staging files"
        fi
    done
    # Exact: 3 counted requests per lifetime, whatever ended it.
    run metric_sum requests_total
    assert_output $((req0 + 3 * LIFETIMES))
    run metric_sum request_duration_seconds_count
    assert_output $((3 * LIFETIMES))
    late_samples=$(samples)
    late_figs=$(store_figures)
    echo "# after $EARLY lifetimes: $early_samples samples, $early_figs" >&3
    echo "# after $LIFETIMES lifetimes: $late_samples samples, $late_figs" >&3
    echo "# store files: $(du -sb "$STACK_DB" "$STACK_DB-wal" "$STACK_DB.stage" 2>/dev/null | awk '{ printf "%s=%s ", $2, $1 }')" >&3
    assert_equal "samples $late_samples" "samples $early_samples"
    # After a scrape only the live workers' files remain: the stack's hello workers + metrics.
    run stage_files
    assert_equal "${#lines[@]} staging files" "$((WORKERS + 1)) staging files"
    # Per-worker rows: only the live ones (same count as after $EARLY); the store's used bytes
    # may move by a few pages of b-tree slack, not by anything per dead worker.
    local e_inc l_inc e_used l_used
    e_inc=$(grep -o 'incarnations=[0-9]*' <<<"$early_figs") l_inc=$(grep -o 'incarnations=[0-9]*' <<<"$late_figs")
    assert_equal "$l_inc" "$e_inc"
    e_used=$(sed 's/.*used=\([0-9]*\).*/\1/' <<<"$early_figs") l_used=$(sed 's/.*used=\([0-9]*\).*/\1/' <<<"$late_figs")
    ((l_used <= e_used + 16384)) || fail "store grew from $e_used to $l_used bytes in use"
    # The WAL file is not truncated (no journal_size_limit): it grows to about SQLite's
    # autocheckpoint (1000 pages, ~4 MiB) and is then reused. Bound it, whatever the lifetimes.
    local l_wal
    l_wal=$(sed 's/.*wal=\([0-9]*\).*/\1/' <<<"$late_figs")
    ((l_wal <= 8 * 1024 * 1024)) || fail "WAL is $l_wal bytes (bound 8 MiB)"
}

@test "spawn-fcgi: SIGTERM to an idle worker: exit 0 promptly, staging file folded and removed, counts kept" {
    local req0 name
    req0=$(metric_sum requests_total)
    start_worker
    run "$PYTHON" "$TOOLS/fcgi.py" get "$LIFE_SOCK" / /nope /
    assert_output $'200\n404\n200'
    # Its staging file exists while it lives (name w-<boot>-<pid>-<start>).
    name=$(stage_files | grep -e "-$LIFE_PID-" || true)
    [[ -n $name ]] || fail "no staging file for worker $LIFE_PID"
    # Bounded wait (10 s) inside end_worker; a worker stuck in accept fails here.
    end_worker TERM
    assert_equal "exit status $END_STATUS" "exit status 0"
    [[ ! -e $STACK_DB.stage/$name ]] || fail "staging file $name left behind after a graceful exit"
    # The worker folded its own counts on the way out: no scrape has seen them before this one.
    run metric_sum requests_total
    assert_output $((req0 + 3))
    run metric_value 'requests_total{method="GET",route="unmatched",code="404"}'
    (( output >= 1 ))
}

@test "spawn-fcgi lifetimes: stopping leaves no process behind, no sanitizer report" {
    stop_stack
    run grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$STACK_DIR/stack.log" \
        "$BATS_FILE_TMPDIR/workers.log"
    assert_failure
}
