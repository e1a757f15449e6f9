#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# valgrind memcheck of the three programs (issue 4, item 6): a hello worker over 3,000 requests,
# a metrics worker over 210 scrapes, and the command-line tool's commands and error exits. Each
# must end with "ERROR SUMMARY: 0 errors", nothing definitely or indirectly lost, and its own exit
# status (valgrind's --error-exitcode=99 would replace it on any error or such leak). Workers run
# under `spawn-fcgi -n -- valgrind ... PROGRAM` (spawn-fcgi execs valgrind, so its pid is the
# worker's), are driven straight through their sockets by tools/fcgi_mix.py, and are stopped
# with SIGTERM, so the graceful-exit path (fold, unlink the staging file, close) is checked too.
#
# Which binaries: those under test ($BIN_DIR) — unless they are ASan-instrumented (the
# PROMFCGI_BIN_DIR=build/asan pass), which valgrind cannot run: then every test skips, saying so.
# The release pass valgrinds the same sources; running the release binaries a second time in the
# ASan pass would repeat identical work (~20 s) and prove nothing new.
#
# No suppressions are needed (none are used): libfcgi, SQLite, zlib and glibc report nothing
# here with Debian 12's valgrind 3.19.
load helpers

HELLO_REQUESTS=3000
PRE_REQUESTS=30        # per plain (non-valgrind) worker in the scrape test; two such workers
SCRAPES=210            # 30 rounds of tools/fcgi_mix.py's 7 kinds of scrape

# shellcheck disable=SC2054 # the commas belong to the options
VALGRIND_OPTS=(--tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect
               --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-fds=no)

setup_file() {
    export VG_DB=$BATS_FILE_TMPDIR/store.db
}

setup() {
    command -v valgrind >/dev/null ||
        fail "valgrind is not installed (scripts/deps must install it: apt-get install valgrind)"
    local b
    for b in app/hello.fcgi metrics/metrics.fcgi cli/promfcgi; do
        [[ -x $BIN_DIR/$b ]] || fail "$BIN_DIR/$b not built"
        if grep -qa __asan_init "$BIN_DIR/$b"; then
            skip "$BIN_DIR/$b is an ASan build, which valgrind cannot run; the release pass runs this test"
        fi
    done
    VALGRIND=$(command -v valgrind)   # spawn-fcgi execs without a PATH search
    WPIDS=()
}

teardown() {
    local p
    for p in "${WPIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}

# start_worker NAME PROGRAM [valgrind]: one worker on $BATS_FILE_TMPDIR/NAME.sock in the store
# $VG_DB, stderr to NAME.err, valgrind's log to NAME.vg.log; sets W_PID.
start_worker() {
    local name=$1 prog=$2 sock=$BATS_FILE_TMPDIR/$1.sock
    local -a pre=()
    [[ ${3:-} == valgrind ]] && pre=("$VALGRIND" "${VALGRIND_OPTS[@]}" --log-file="$BATS_FILE_TMPDIR/$name.vg.log")
    rm -f "$sock"
    PROMFCGI_DB=$VG_DB spawn-fcgi -n -M 0600 -s "$sock" -- "${pre[@]}" "$prog" \
        >/dev/null 2>"$BATS_FILE_TMPDIR/$name.err" 3>&- &
    W_PID=$!
    WPIDS+=("$W_PID")
}

# stop_worker SIGNAL: send it to $W_PID, wait (bounded, 60 s: valgrind's leak check at exit takes
# a while) for it to go; sets W_STATUS to its exit status.
stop_worker() {
    W_STATUS=0
    kill "-$1" "$W_PID"
    local i
    for ((i = 0; i < 600; i++)); do _gone "$W_PID" && break; sleep 0.1; done
    _gone "$W_PID" || { echo "worker $W_PID still alive 60 s after SIG$1" >&2; return 1; }
    { wait "$W_PID" || W_STATUS=$?; } 2>/dev/null
}

# assert_valgrind_clean LOG: valgrind finished its report, found no error and lost nothing
# definitely or indirectly (it prints "All heap blocks were freed" instead of a LEAK SUMMARY
# when nothing at all is left).
assert_valgrind_clean() {
    [[ -s $1 ]] || fail "no valgrind log $1"
    grep -q 'ERROR SUMMARY: 0 errors from 0 contexts' "$1" || { cat "$1" >&2; fail "valgrind errors in $1"; }
    if grep -Eq '(definitely|indirectly) lost: [1-9]' "$1"; then cat "$1" >&2; fail "leaks in $1"; fi
    grep -Eq 'definitely lost: 0 bytes|All heap blocks were freed' "$1" || { cat "$1" >&2; fail "no leak report in $1"; }
}

# The summary lines of a valgrind log, for the TAP output.
vg_summary() {
    sed -n 's/^==[0-9]*== *//; /total heap usage\|definitely lost\|indirectly lost\|ERROR SUMMARY/p' "$1" |
        tr -s ' ' | paste -sd ';' -
}

# The requests_total samples of dump output on stdin ("series count" lines), sorted.
requests_series() { grep '^requests_total{' | sort; }

@test "valgrind: hello.fcgi over $HELLO_REQUESTS requests (GET, HEAD, 404, 405, unknown methods, hostile bytes), SIGTERM: 0 errors, no leaks, exit 0" {
    start_worker hello "$BIN_DIR/app/hello.fcgi" valgrind
    run "$PYTHON" "$TOOLS/fcgi_mix.py" hello "$BATS_FILE_TMPDIR/hello.sock" "$HELLO_REQUESTS"
    assert_success
    assert_line "sent $HELLO_REQUESTS"
    # What was sent, per requests_total series; the last test checks the store against it.
    grep '^requests_total{' <<<"$output" >"$BATS_FILE_TMPDIR/expected.hello"
    stop_worker TERM
    echo "# hello.fcgi: $(vg_summary "$BATS_FILE_TMPDIR/hello.vg.log")" >&3
    assert_equal "exit status $W_STATUS" "exit status 0"
    assert_valgrind_clean "$BATS_FILE_TMPDIR/hello.vg.log"
    # The graceful exit folded the worker's counts and removed its staging file.
    run ls -A "$VG_DB.stage"
    assert_output ''
    run cat "$BATS_FILE_TMPDIR/hello.err"
    assert_output ''
}

@test "valgrind: metrics.fcgi over $SCRAPES scrapes (text, OpenMetrics, gzip, name[] filter, HEAD, POST) with a live and a dead worker: 0 errors, no leaks, exit 0" {
    # A dead worker for the first scrape to fold and retire, a live one to fold at every scrape.
    start_worker dead "$BIN_DIR/app/hello.fcgi"
    run "$PYTHON" "$TOOLS/fcgi_mix.py" hello "$BATS_FILE_TMPDIR/dead.sock" "$PRE_REQUESTS"
    assert_success
    grep '^requests_total{' <<<"$output" >"$BATS_FILE_TMPDIR/expected.dead"
    stop_worker KILL
    start_worker live "$BIN_DIR/app/hello.fcgi"
    local live=$W_PID
    run "$PYTHON" "$TOOLS/fcgi_mix.py" hello "$BATS_FILE_TMPDIR/live.sock" "$PRE_REQUESTS"
    assert_success
    grep '^requests_total{' <<<"$output" >"$BATS_FILE_TMPDIR/expected.live"

    start_worker metrics "$BIN_DIR/metrics/metrics.fcgi" valgrind
    run "$PYTHON" "$TOOLS/fcgi_mix.py" scrape "$BATS_FILE_TMPDIR/metrics.sock" "$SCRAPES"
    assert_success
    assert_output "scraped $SCRAPES"
    stop_worker TERM
    echo "# metrics.fcgi: $(vg_summary "$BATS_FILE_TMPDIR/metrics.vg.log")" >&3
    assert_equal "exit status $W_STATUS" "exit status 0"
    assert_valgrind_clean "$BATS_FILE_TMPDIR/metrics.vg.log"
    run cat "$BATS_FILE_TMPDIR/metrics.err"
    assert_output ''

    W_PID=$live
    stop_worker TERM
    assert_equal "live worker exit status $W_STATUS" "live worker exit status 0"
    # The dead worker was retired by a scrape, the others removed their own files.
    run ls -A "$VG_DB.stage"
    assert_output ''
}

@test "valgrind: cli/promfcgi define (every type, modes, units, states), inc, add, set, observe, info, dump, check and its error exits: 0 errors, no leaks, right exit status" {
    local db=$BATS_TEST_TMPDIR/cli.db n=0 want args log
    # "exit status|arguments" (split on spaces; no argument holds one)
    local -a cases=(
        "0|define counter jobs_total Jobs. --labels host,result"
        "0|inc jobs_total host=db1 result=ok"
        "0|add jobs_total 2.5 result=ok host=db1"
        "0|define gauge queue_depth Depth."
        "0|set queue_depth 7"
        "0|add queue_depth -2"
        "0|define histogram job_seconds Duration. --buckets 0.1,1,10"
        "0|observe job_seconds 0.5"
        "0|observe job_seconds 12"
        "0|dump"
        "0|dump --openmetrics"
        "0|check"
        "1|inc nosuch_total"
        "1|add jobs_total -1 host=db1 result=ok"
        "1|set jobs_total 3 host=db1 result=ok"
        "2|observe job_seconds notanumber"
        "2|define counter 9bad Bad."
        "2|define untyped s_total S."
        "2|bogus"
        "2|"
        "0|define gauge last_run_seconds Last. --mode mostrecent --unit seconds"
        "0|set last_run_seconds 1700000000"
        "0|define summary run_seconds Runs. --unit seconds"
        "0|observe run_seconds 2.5"
        "0|define info build_info Build. --labels version"
        "0|info build_info version=1.2"
        "0|define stateset phase Phase. --states idle,busy"
        "0|set phase busy"
        "1|set phase gone"
        "1|define gauge last_run_seconds Last. --mode max"
        "2|define gauge g G. --mode bogus"
        "2|define summary q Q. --labels quantile"
        "0|dump --openmetrics"
        "0|dump"
    )
    for c in "${cases[@]}"; do
        want=${c%%|*} args=${c#*|} n=$((n + 1))
        log=$BATS_TEST_TMPDIR/cli.$n.vg.log
        # shellcheck disable=SC2086 # the arguments are words
        run "$VALGRIND" "${VALGRIND_OPTS[@]}" --log-file="$log" "$BIN_DIR/cli/promfcgi" --db "$db" $args
        assert_equal "promfcgi $args: exit status $status" "promfcgi $args: exit status $want"
        assert_valgrind_clean "$log"
        if [[ $args == dump ]]; then printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/dump"; fi
    done
    echo "# cli: $n invocations; dump: $(vg_summary "$BATS_TEST_TMPDIR/cli.10.vg.log")" >&3
    # The values recorded through valgrind are the right ones.
    run grep -E '^(jobs_total|queue_depth|job_seconds_(count|sum|bucket\{le="1\.0"\}))[{ ]' "$BATS_TEST_TMPDIR/dump"
    assert_line 'jobs_total{host="db1",result="ok"} 3.5'
    assert_line 'queue_depth 5'
    assert_line 'job_seconds_bucket{le="1.0"} 1'
    assert_line 'job_seconds_count 2'
    assert_line 'job_seconds_sum 12.5'
    run grep -E '^(last_run_seconds|run_seconds_count|build_info|phase)[{ ]' "$BATS_TEST_TMPDIR/dump"
    assert_line 'last_run_seconds 1700000000'
    assert_line 'run_seconds_count 1'
    assert_line 'build_info{version="1.2"} 1'
    assert_line 'phase{phase="busy"} 1'
}

@test "valgrind: the store holds exactly what was sent: requests_total per series and in sum (cli dump)" {
    local want got total
    [[ -s $BATS_FILE_TMPDIR/expected.hello && -s $BATS_FILE_TMPDIR/expected.live ]] ||
        fail "the worker tests did not run"
    want=$(cat "$BATS_FILE_TMPDIR"/expected.{hello,dead,live} |
           awk '{ n[$1] += $2 } END { for (k in n) print k, n[k] }' | sort)
    got=$("$BIN_DIR/cli/promfcgi" --db "$VG_DB" dump | requests_series)
    assert_equal "$got" "$want"
    total=$(awk '{ s += $2 } END { print s }' <<<"$got")
    echo "# requests_total sum $total = $HELLO_REQUESTS (valgrind) + 2 x $PRE_REQUESTS (plain)" >&3
    assert_equal "requests_total sum $total" "requests_total sum $((HELLO_REQUESTS + 2 * PRE_REQUESTS))"
}
