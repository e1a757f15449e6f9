#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# CGI processes SIGKILLed under load (issue 8, item 2): lighttpd in CGI mode, 8 curl clients
# (concurrency 8, keep-alive) while hello.fcgi processes are SIGKILLed at random points of
# their one request. Every answer the client received whole is counted exactly once; a process
# killed after its record was written and before its last bytes left may be counted without its
# client seeing the whole answer: at most one per kill. Nothing the killed processes leave
# outlives the next scrape, and active_requests is 0 once the load is over.
load helpers

CLIENTS=8 BATCH=100 BATCHES=2   # 1,600 requests: a CGI request is a fork + exec (and ASan's)

setup_file() { start_stack lighttpd cgi; }
teardown_file() { stop_stack || true; }

client() {
    local n=$1 b
    for ((b = 0; b < BATCHES; b++)); do
        # one line per request: status and bytes received (a whole answer is 200 and 19 bytes)
        curl -s --max-time 60 -o /dev/null -w '%{http_code} %{size_download}\n' \
            "$BASE/?c$n-b$b-[1-$BATCH]" >>"$BATS_TEST_TMPDIR/codes.$n" 2>/dev/null || true
    done
}

@test "lighttpd (CGI): SIGKILLed CGI processes: every whole 2xx counted once, at most one extra per kill" {
    local dir=$BATS_TEST_TMPDIR c pids=() kills=0 i p req0 req1 whole other
    req0=$(metric_sum requests_total)
    # A release hello lives about a millisecond, and a whole load may pass between two looks
    # (it did once in CI: 1,600 requests, 0 kills): the load goes on, a round at a time, until
    # 10 processes were caught (bounded: 5 rounds)
    # this stack's lighttpd, whose children the CGI processes are: only those are killed (other
    # stacks on the machine, of other test runs, have hello.fcgi workers too)
    local round server
    server=$(pgrep -x lighttpd -P "$STACK_PID" | head -n 1)
    [[ -n $server ]] || fail "no lighttpd under the stack (pid $STACK_PID)"
    for ((round = 0; round < 5 && kills < 10; round++)); do
        pids=()
        for ((c = 1; c <= CLIENTS; c++)); do client "$c" 3>&- & pids+=($!); done
        # kill whatever hello.fcgi runs now, every ~10 ms, while the clients run (bounded: 3,000 turns)
        for ((i = 0; i < 3000 && kills < 60; i++)); do
            local alive=0
            for p in "${pids[@]}"; do _gone "$p" || alive=1; done
            ((alive)) || break
            # by name and parent: a hello.fcgi lighttpd started is one of this stack's requests
            kills=$((kills + $(pkill -KILL -c -x hello.fcgi -P "$server" || true)))
            sleep 0.005
        done
        for p in "${pids[@]}"; do retry 1200 _gone "$p"; wait "$p" || true; done
    done
    whole=$(cat "$dir"/codes.* | grep -c '^200 19$' || true)
    other=$(cat "$dir"/codes.* | grep -v '^200 19$' | sort | uniq -c | tr -s ' \n' ' ' || true)
    echo "# $(cat "$dir"/codes.* | wc -l) requests in $round rounds, $whole whole 200s, others: ${other:-none}; $kills kills" >&3
    ((kills > 0)) || skip "no CGI process was caught running in 5 rounds of load"
    req1=$(await_sum requests_total $((req0 + whole)))
    echo "# requests_total +$((req1 - req0))" >&3
    ((req1 - req0 >= whole)) || fail "requests_total +$((req1 - req0)) < $whole whole answers"
    ((req1 - req0 <= whole + kills)) || fail "requests_total +$((req1 - req0)) > $whole + $kills kills"
    # a second scrape adds nothing: each record was folded once
    assert_equal "requests_total $(metric_sum requests_total)" "requests_total $req1"
    assert_equal "active_requests $(metric_sum active_requests)" "active_requests 0"
    # every drained journal was folded and removed (the journal itself holds only what came
    # after the last scrape: the metrics program's own count of it)
    run bash -c "ls '$STACK_DB.stage' | grep -E '^j-' || true"
    assert_output ''
}

@test "lighttpd (CGI, kills): stopping leaves no process behind, no sanitizer report" {
    stop_stack
    run grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$STACK_DIR/stack.log"
    assert_failure
}
