#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# A worker's death never closes the door (issue 8, item 5): for each front end in FastCGI mode,
# as `make run` starts it (2 hello workers under spawn-fcgi + multiwatch), `ab -c 8` on / while
# the oldest hello worker is SIGKILLed every 0.4 s, 6 times (multiwatch restarts each; it gives
# up a slot after a 4th death within 10 s, so the kills alternate between the two slots, 3
# each, and every test starts a fresh stack). At least 99.5 % of the requests must be answered
# 2xx; the availability is printed. The counts stay exact: every 2xx counted, at most one extra
# per kill (recorded, then killed before the response was flushed), active_requests 0 after.
load helpers

STORM_WORKERS=2
KILLS=6
KILL_EVERY=0.4
CONCURRENCY=8
MIN_REQUESTS=20000
MAX_REQUESTS=200000
AVAILABILITY_MIN=99.5

teardown() {
    stop_stack || true
    forget_stack
}

# Pids of the hello workers: multiwatch's children ($MW), oldest first.
workers_oldest_first() { ps -o pid= --sort=start_time --ppid "$MW"; }
all_workers_up() { (( $(workers_oldest_first | wc -l) == STORM_WORKERS )); }

t_storm() {
    local server=$1 dir=$BATS_TEST_TMPDIR rps n load kills=0 i pid req0 dur0 req1 dur1 ok other
    WORKERS=$STORM_WORKERS start_stack "$server"
    MW=$(stack_procs | awk '$2 == "/usr/bin/multiwatch" { print $1; exit }')
    [[ -n $MW ]] || fail "no multiwatch in the stack"

    # Enough requests that the load outlasts the kills (2.4 s of sleeps, and waits for multiwatch
    # to restart each worker) at this stack's speed: about 8 s' worth, measured after a warm-up,
    # within [MIN_REQUESTS, MAX_REQUESTS]. ab ends by count (an interrupted ab would leave
    # responses sent but not seen, and the counts could not be compared); -t only bounds a
    # stuck run.
    run ab -q -n 2000 -c "$CONCURRENCY" "$BASE/"
    assert_success
    run ab -q -n 5000 -c "$CONCURRENCY" "$BASE/"
    assert_success
    rps=$(awk '/^Requests per second:/ { printf "%d", $4 }' <<<"$output")
    n=$(( rps * 8 ))
    (( n < MIN_REQUESTS )) && n=$MIN_REQUESTS
    (( n > MAX_REQUESTS )) && n=$MAX_REQUESTS
    req0=$(await_sum requests_total 7000)
    dur0=$(metric_sum request_duration_seconds_count)

    # -v 2 logs every response's header: keep the status lines (tallied) and ab's summary.
    ( ab -v 2 -r -t 120 -n "$n" -c "$CONCURRENCY" "$BASE/" 2>"$dir/ab.err" \
        | awk '/^HTTP\/1\.[01] [0-9][0-9][0-9]/ { code[$2]++; next }
               /^(Complete requests|Failed requests|Non-2xx|   \(Connect|Time taken|Requests per second)/
               END { for (c in code) print "status", c, code[c] }' >"$dir/ab.out" ) 3>&- &
    load=$!
    for ((i = 0; i < 100 && kills < KILLS; i++)); do
        sleep "$KILL_EVERY"
        _gone "$load" && break
        retry 100 all_workers_up || fail "multiwatch did not restart the workers"
        pid=$(workers_oldest_first | head -n 1)
        kill -KILL "$pid" && kills=$((kills + 1))
    done
    retry 1300 _gone "$load" || { pkill -INT -P "$load"; fail "ab still running after 130 s"; }
    wait "$load" || true
    sed 's/^/# /' "$dir/ab.out" >&3
    assert_equal "kills while ab ran: $kills" "kills while ab ran: $KILLS"
    retry 100 all_workers_up || fail "multiwatch did not restart the workers (gave up a slot?)"
    run grep -E '^Complete requests:' "$dir/ab.out"
    assert_output --regexp "^Complete requests: +$n\$"

    local bad avail
    ok=$(awk '$1 == "status" && $2 ~ /^2/ { s += $3 } END { print s + 0 }' "$dir/ab.out")
    bad=$(awk '$1 == "status" && $2 !~ /^2/ { s += $3 } END { print s + 0 }' "$dir/ab.out")
    other=$(awk '$1 == "status" && $2 !~ /^2/ { printf "%s%s x %s", sep, $3, $2; sep = ", " }' "$dir/ab.out")
    avail=$(awk -v ok="$ok" -v n="$n" 'BEGIN { printf "%.3f", 100 * ok / n }')
    echo "# $server: availability $avail % ($ok of $n answered 2xx; other answers: ${other:-none}; no answer: $((n - ok - bad))) through $kills kills every $KILL_EVERY s" >&3
    awk -v a="$avail" -v min="$AVAILABILITY_MIN" 'BEGIN { exit !(a >= min) }' \
        || fail "$server: availability $avail % < $AVAILABILITY_MIN % (other answers: ${other:-none})"

    # Exact counts: every 2xx counted, at most one extra per kill; nothing in flight after.
    req1=$(await_sum requests_total $((req0 + ok)))
    dur1=$(await_sum request_duration_seconds_count $((dur0 + ok)))
    echo "# $server: requests_total +$((req1 - req0)), request_duration_seconds_count +$((dur1 - dur0)) for $ok 2xx" >&3
    (( req1 - req0 >= ok )) || fail "requests_total +$((req1 - req0)) < $ok 2xx responses"
    (( req1 - req0 <= ok + kills )) || fail "requests_total +$((req1 - req0)) > $ok 2xx + $kills kills"
    (( dur1 - dur0 >= ok && dur1 - dur0 <= ok + kills )) \
        || fail "request_duration_seconds_count +$((dur1 - dur0)) outside [$ok, $((ok + kills))]"
    run metric_sum active_requests
    assert_output 0

    stop_stack
    run grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$STACK_DIR/stack.log" "$STACK_DIR"/run/*.log
    assert_failure
}

@test "lighttpd: >= 99.5 % 2xx under ab -c 8 while a worker is SIGKILLed every 0.4 s; counts exact" { t_storm lighttpd; }
@test "nginx: >= 99.5 % 2xx under ab -c 8 while a worker is SIGKILLed every 0.4 s; counts exact" { t_storm nginx; }
@test "apache: >= 99.5 % 2xx under ab -c 8 while a worker is SIGKILLed every 0.4 s; counts exact" { t_storm apache; }
@test "caddy: >= 99.5 % 2xx under ab -c 8 while a worker is SIGKILLed every 0.4 s; counts exact" { t_storm caddy; }
