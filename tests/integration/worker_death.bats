#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Worker death under load (issue 4, item 1): nginx + spawn-fcgi/multiwatch; while curl clients
# send requests, SIGKILL hello workers again and again (multiwatch restarts them). Every 2xx
# response must be counted, counters must never go backwards between scrapes, and
# active_requests must be 0 at the first scrape after the load.
load helpers

CLIENTS=4        # concurrent curl loops
BATCH=100        # requests per curl invocation (one keep-alive connection to nginx)
MAX_BATCHES=200  # per client: bounds the run even if the kill loop were to stall
KILLS=8          # multiwatch gives up a slot after 3 quick deaths (-r 3 within -t 10 s): killing
                 # the oldest worker each time spreads the kills over the 4 slots, 2 each

setup_file() {
    WORKERS=4
    start_stack nginx
}
teardown_file() { stop_stack || true; }

# Pids of the hello workers: multiwatch's children ($MW), oldest first.
workers_oldest_first() { ps -o pid= --sort=start_time --ppid "$MW"; }
all_workers_up() { (( $(workers_oldest_first | wc -l) == WORKERS )); }

# One client: batches of $BATCH GETs of / until the stop file appears; one status code a line.
client() {
    local n=$1 b
    for ((b = 0; b < MAX_BATCHES; b++)); do
        [[ -e $BATS_TEST_TMPDIR/stop ]] && break
        curl -s --max-time 5 -o /dev/null -w '%{stderr}%{http_code}\n' \
            "$BASE/?c$n-b$b-[1-$BATCH]" 2>>"$BATS_TEST_TMPDIR/codes.$n" >/dev/null || true
    done
}

@test "nginx: SIGKILL of workers under load: every 2xx counted, counters monotonic, active_requests 0 after" {
    local dir=$BATS_TEST_TMPDIR req0 dur0 c i kills=0 scrapes=0 pid pids=()
    MW=$(stack_procs | awk '$2 == "/usr/bin/multiwatch" { print $1; exit }')
    [[ -n $MW ]] || fail "no multiwatch in the stack"
    # scrape: save the page as the next numbered file; the monotonic check reads them in order.
    scrape() { scrapes=$((scrapes + 1)); curl -sf --max-time 10 "$BASE/metrics" >"$dir/scrape.$(printf %03d "$scrapes")"; }
    req0=$(metric_sum requests_total)
    dur0=$(metric_sum request_duration_seconds_count)
    scrape
    for ((c = 1; c <= CLIENTS; c++)); do client "$c" 3>&- & pids+=($!); done

    # Kill loop: one SIGKILL every ~0.3 s, a scrape after each (kept for the monotonic check).
    for ((i = 0; i < 200 && kills < KILLS; i++)); do
        sleep 0.3
        scrape
        retry 100 all_workers_up || { echo "multiwatch did not restart the workers" >&2; false; }
        pid=$(workers_oldest_first | head -n 1)
        kill -KILL "$pid" && kills=$((kills + 1))
    done
    # Some more load after the last kill, with scrapes, then stop the clients (bounded wait).
    for ((i = 0; i < 3; i++)); do
        sleep 0.3
        scrape
    done
    touch "$dir/stop"
    for pid in "${pids[@]}"; do retry 600 _gone "$pid"; wait "$pid"; done
    assert_equal "kills $kills" "kills $KILLS"

    # The first scrape after the load: no request is in flight any more.
    scrape
    run metric_sum active_requests
    assert_output 0

    local sent ok other req1 dur1
    sent=$(cat "$dir"/codes.* | wc -l)
    ok=$(cat "$dir"/codes.* | grep -c '^2' || true)
    other=$(cat "$dir"/codes.* | grep -v '^2' | sort | uniq -c | tr -s ' \n' ' ' || true)
    echo "# $sent requests, $ok 2xx, others: ${other:-none}; $kills kills; $scrapes scrapes" >&3
    ((ok > 0))
    req1=$(await_sum requests_total $((req0 + ok)))
    dur1=$(await_sum request_duration_seconds_count $((dur0 + ok)))
    # Every 2xx counted; at most one extra per kill (recorded, then killed before the flush).
    echo "# requests_total +$((req1 - req0)), request_duration_seconds_count +$((dur1 - dur0))" >&3
    (( req1 - req0 >= ok )) || fail "requests_total +$((req1 - req0)) < $ok 2xx responses"
    (( req1 - req0 <= ok + kills )) || fail "requests_total +$((req1 - req0)) > $ok 2xx + $kills kills"
    (( dur1 - dur0 >= ok && dur1 - dur0 <= ok + kills )) \
        || fail "request_duration_seconds_count +$((dur1 - dur0)) outside [$ok, $((ok + kills))]"

    scrape
    run "$PYTHON" "$TOOLS/metrics_check.py" monotonic "$dir"/scrape.*
    assert_success

    # Each kill is a death by signal of the pool, each restart a start (issue 21); the killed
    # workers' files are folded by the scrapes above, each end counted once.
    local P='program="hello.fcgi"'
    retry 100 eval '[[ $(metric_sum promfcgi_pool_worker_deaths_total "$P" "how=\"signal\"") == "$KILLS" ]]' \
        || fail "deaths by signal $(metric_sum promfcgi_pool_worker_deaths_total "$P" 'how="signal"'), want $KILLS"
    assert_equal "exits $(metric_sum promfcgi_pool_worker_deaths_total "$P" 'how="exit"')" "exits 0"
    assert_equal "starts $(metric_sum promfcgi_pool_worker_starts_total "$P")" "starts $((WORKERS + KILLS))"
    assert_equal "workers $(metric_sum promfcgi_pool_workers "$P")" "workers $WORKERS"
}

# Sanitizer reports of the killed and restarted workers land in stack.log.
@test "nginx (worker death): stopping leaves no process behind, no sanitizer report" {
    stop_stack
    run grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$STACK_DIR/stack.log"
    assert_failure
}
