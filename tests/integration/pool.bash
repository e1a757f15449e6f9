# SPDX-License-Identifier: MIT
# Pool metrics (issue 21) against a real, saturated pool, shared by pool_unix.bats and
# pool_tcp.bats (each sets SOCKET first: unix or tcp). The app is app/api.fcgi (its /slow/{ms}
# route sleeps), 2 workers behind nginx; a real Prometheus scrapes every second.
#
# Saturation: CLIENTS concurrent clients each ask for /slow/SLOW_MS, LOAD_REQUESTS in all; 2
# workers answer 2 requests every SLOW_MS, so the rest wait in the app socket's listen queue
# (the kernel's view, read with ss, is the ground truth the pool metrics are checked against).
load "$(dirname "${BASH_SOURCE[0]}")/helpers"

POOL_WORKERS=2
CLIENTS=20
SLOW_MS=200
LOAD_REQUESTS=100   # 100 x 0.2 s / 2 workers: 10 s of saturation

setup_file() {
    # scripts/stack runs BIN_DIR/app/hello.fcgi: give it the API under that name (as api.bats).
    POOL_BIN=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/pool-bin.XXXXXX")
    mkdir -p "$POOL_BIN/app" "$POOL_BIN/metrics"
    cp "$BIN_DIR/app/api.fcgi" "$POOL_BIN/app/hello.fcgi"
    cp "$BIN_DIR/metrics/metrics.fcgi" "$POOL_BIN/metrics/metrics.fcgi"
    chmod 0755 "$POOL_BIN" "$POOL_BIN/app" "$POOL_BIN/metrics"
    APP_TCP_PORT=
    [[ $SOCKET == tcp ]] && APP_TCP_PORT=$(free_port)
    export POOL_BIN APP_TCP_PORT
    WORKERS=$POOL_WORKERS BIN_DIR=$POOL_BIN PROMFCGI_APP_TCP_PORT=$APP_TCP_PORT start_stack nginx
    start_prometheus
}
teardown_file() {
    stop_prometheus
    stop_stack || true
}

# The app socket's listen queue as the kernel reports it (iproute2's ss): "waiting backlog".
kernel_queue() {
    if [[ $SOCKET == tcp ]]; then
        ss -tlnH "sport = :$APP_TCP_PORT" | awk '{ print $2, $3; exit }'
    else
        ss -xlH | awk -v p="$STACK_DIR/run/hello.sock" '$5 == p { print $3, $4; exit }'
    fi
}

# The app's workers: pids of the hello.fcgi processes of this stack (multiwatch's children).
app_workers() { stack_procs | awk '$2 ~ /\/app\/hello\.fcgi$/ { print $1 }'; }

# saturate: LOAD_REQUESTS requests from CLIENTS clients in the background (ab's output in
# $BATS_TEST_TMPDIR/ab.out, its pid in AB_PID).
saturate() {
    ab -q -n "$LOAD_REQUESTS" -c "$CLIENTS" -s 60 "$BASE/slow/$SLOW_MS" >"$BATS_TEST_TMPDIR/ab.out" 2>&1 3>&- &
    AB_PID=$!
}

P='program="hello.fcgi"'

# The app's socket, as tools/fcgi.py takes it.
app_socket() {
    if [[ $SOCKET == tcp ]]; then echo "127.0.0.1:$APP_TCP_PORT"; else echo "$STACK_DIR/run/hello.sock"; fi
}

# metric NAME: the app pool's value of family NAME on /metrics (0 if absent).
metric() { metric_sum "$1" "$P"; }

# Bounded wait (a count of 0.1 s polls) until CMD... succeeds.
await() { local n=$1; shift; retry "$n" "$@"; }

t_idle_pool() {
    local backlog page
    await 100 eval '[[ $(metric promfcgi_pool_workers) == 2 ]]' \
        || fail "workers: $(metric promfcgi_pool_workers)"
    page=$(curl -sf "$BASE/metrics")
    promtool check metrics <<<"$page"
    assert_equal "busy $(metric promfcgi_pool_busy_workers)" "busy 0"
    assert_equal "idle $(metric promfcgi_pool_idle_workers)" "idle 2"
    assert_equal "oldest $(metric promfcgi_pool_oldest_request_seconds)" "oldest 0"
    assert_equal "queue $(metric promfcgi_pool_listen_queue)" "queue 0"
    read -r _ backlog < <(kernel_queue)
    assert_equal "limit $(metric promfcgi_pool_listen_queue_limit)" "limit $backlog"
    assert_equal "starts $(metric promfcgi_pool_worker_starts_total)" "starts 2"
    assert_equal "deaths $(metric promfcgi_pool_worker_deaths_total)" "deaths 0"
    # the metrics program is a pool of its own, busy with this very scrape
    assert_equal "metrics workers $(metric_sum promfcgi_pool_workers 'program="metrics.fcgi"')" "metrics workers 1"
    assert_equal "metrics busy $(metric_sum promfcgi_pool_busy_workers 'program="metrics.fcgi"')" "metrics busy 1"
    # the hidden per-worker facts never show
    run grep -c promfcgi_pool_worker_facts <<<"$page"
    assert_output 0
}

t_saturation() {
    local c0 s0 c1 s1 c2 s2 most busy
    # unsaturated first: 10 requests one after another wait for no one
    c0=$(metric promfcgi_pool_queue_seconds_count); s0=$(metric promfcgi_pool_queue_seconds_sum)
    run ab -q -n 10 -c 1 "$BASE/slow/$SLOW_MS"
    assert_line --regexp '^Failed requests: +0$'
    c1=$(metric promfcgi_pool_queue_seconds_count); s1=$(metric promfcgi_pool_queue_seconds_sum)
    assert_equal "stamped $((c1 - c0))" "stamped 10"
    # while the load runs, the kernel's queue (ss) and /metrics every 0.2 s (at most 300 times)
    saturate
    : >"$BATS_TEST_TMPDIR/pages"
    : >"$BATS_TEST_TMPDIR/samples"
    local i
    for ((i = 0; i < 300; i++)); do
        _gone "$AB_PID" && break
        echo "kernel $(kernel_queue)" >>"$BATS_TEST_TMPDIR/samples"
        curl -sf --max-time 5 "$BASE/metrics" | grep -E "^promfcgi_pool_(listen_queue|busy_workers)\{$P\}" \
            >>"$BATS_TEST_TMPDIR/pages" || true
        sleep 0.2
    done
    wait "$AB_PID"
    run cat "$BATS_TEST_TMPDIR/ab.out"
    assert_line --regexp "^Complete requests: +$LOAD_REQUESTS\$"
    assert_line --regexp '^Failed requests: +0$'
    # through /metrics: connections waited, both workers were busy
    most=$(awk '$1 ~ /^promfcgi_pool_listen_queue\{/ && $2 > m { m = $2 } END { print m + 0 }' "$BATS_TEST_TMPDIR/pages")
    busy=$(awk '$1 ~ /^promfcgi_pool_busy_workers\{/ && $2 > m { m = $2 } END { print m + 0 }' "$BATS_TEST_TMPDIR/pages")
    echo "# /metrics during the load: most waiting $most, most busy $busy; kernel (ss): $(awk '$1 == "kernel" && $2 > m { m = $2 } END { print m + 0 }' "$BATS_TEST_TMPDIR/samples")" >&3
    ((most > 0)) || fail "promfcgi_pool_listen_queue never above 0: $(cat "$BATS_TEST_TMPDIR/pages")"
    assert_equal "busy $busy" "busy 2"
    (($(metric promfcgi_pool_listen_queue_max) >= most)) || fail "listen_queue_max $(metric promfcgi_pool_listen_queue_max) < $most"
    # every request through nginx was stamped; waits grew with the queue
    c2=$(metric promfcgi_pool_queue_seconds_count); s2=$(metric promfcgi_pool_queue_seconds_sum)
    assert_equal "stamped $((c2 - c1))" "stamped $LOAD_REQUESTS"
    run awk -v a="$s0" -v b="$s1" -v c="$s2" -v n="$LOAD_REQUESTS" -v ms="$SLOW_MS" 'BEGIN {
        quiet = (b - a) / 10; busy = (c - b) / n
        printf "mean wait %.4f s unsaturated, %.4f s saturated\n", quiet, busy
        exit !(quiet < 0.05 && busy > ms / 1000) }'
    echo "# $output" >&3
    assert_success
    # after the load: nobody busy, nothing waiting
    await 100 eval '[[ $(metric promfcgi_pool_busy_workers) == 0 ]]' || fail "still busy"
    assert_equal "queue $(metric promfcgi_pool_listen_queue)" "queue 0"
    # through Prometheus: the same, and the utilisation near 1 while saturated
    await 100 eval '[[ $(prom_query "promfcgi_pool_queue_seconds_count{$P}") == "$c2" ]]' \
        || fail "Prometheus' queue count $(prom_query "promfcgi_pool_queue_seconds_count{$P}"), want $c2"
    run prom_query "max_over_time(promfcgi_pool_listen_queue{$P}[2m]) > 0"
    refute_output ''
    run prom_query "max_over_time(promfcgi_pool_busy_workers{$P}[2m])"
    assert_output 2
    run prom_query "max_over_time((sum(rate(promfcgi_pool_busy_seconds_total{$P}[5s])) / sum(promfcgi_pool_workers{$P}))[2m:1s])"
    echo "# utilisation, most over 5 s windows (Prometheus): $output" >&3
    run awk -v u="$output" 'BEGIN { exit !(u >= 0.9 && u <= 1.1) }'
    assert_success
}

t_stopped_worker() {
    local pid ages=() i a
    curl -s -o "$BATS_TEST_TMPDIR/slow.out" --max-time 120 "$BASE/slow/1000" 3>&- &
    local curl_pid=$!
    busy_worker() {
        local p
        for p in $(app_workers); do
            [[ $(cat "/proc/$p/wchan" 2>/dev/null) == *nanosleep* ]] && { echo "$p"; return 0; }
        done
        return 1
    }
    await 100 busy_worker >/dev/null || fail "no worker in the slow request"
    pid=$(busy_worker)
    kill -STOP "$pid"
    # its request's age grows scrape after scrape while it cannot say anything
    for ((i = 0; i < 3; i++)); do
        sleep 0.7
        ages+=("$(metric promfcgi_pool_oldest_request_seconds)")
    done
    local busy seen=0
    busy=$(metric promfcgi_pool_busy_workers)
    if await 100 eval '[[ -n $(prom_query "max_over_time(promfcgi_pool_oldest_request_seconds{$P}[1m]) >= ${ages[2]}") ]]'; then
        seen=1
    fi
    # let it go before any assertion, so that a failure here leaves no stopped worker behind
    # for the next test
    kill -CONT "$pid"
    echo "# oldest request while stopped: ${ages[*]}" >&3
    assert_equal "busy $busy" "busy 1"
    # the first sample came 0.7 s after the stop, and the request had begun before it
    run awk -v a="${ages[0]}" -v b="${ages[1]}" -v c="${ages[2]}" 'BEGIN { exit !(a >= 0.7 && b > a && c > b) }'
    assert_success
    ((seen)) || fail "Prometheus never saw the age ${ages[2]}"
    wait "$curl_pid"
    run cat "$BATS_TEST_TMPDIR/slow.out"
    assert_output slept
    # it finished: the age falls back
    await 100 eval '[[ $(metric promfcgi_pool_oldest_request_seconds) == 0 ]]' \
        || fail "oldest still $(metric promfcgi_pool_oldest_request_seconds)"
    await 100 eval '[[ $(prom_query "promfcgi_pool_oldest_request_seconds{$P}") == 0 ]]' \
        || fail "Prometheus' oldest still $(prom_query "promfcgi_pool_oldest_request_seconds{$P}")"
}

t_killed_worker() {
    local s0 d0 e0 pid
    s0=$(metric promfcgi_pool_worker_starts_total)
    d0=$(metric_sum promfcgi_pool_worker_deaths_total "$P" 'how="signal"')
    e0=$(metric_sum promfcgi_pool_worker_deaths_total "$P" 'how="exit"')
    ab -q -n 60 -c 20 -s 60 "$BASE/slow/100" >"$BATS_TEST_TMPDIR/ab.out" 2>&1 3>&- &
    AB_PID=$!
    await 100 eval '[[ $(metric promfcgi_pool_busy_workers) == 2 ]]' || fail "the pool never got busy"
    pid=$(app_workers | head -n 1)
    kill -KILL "$pid"
    wait "$AB_PID" || true   # the killed request's client may get a 502
    await 100 eval '[[ $(app_workers | wc -l) == 2 ]]' || fail "multiwatch did not restart it"
    await 100 eval '[[ $(metric_sum promfcgi_pool_worker_deaths_total "$P" "how=\"signal\"") == $((d0 + 1)) ]]' \
        || fail "deaths by signal $(metric_sum promfcgi_pool_worker_deaths_total "$P" 'how="signal"'), want $((d0 + 1))"
    assert_equal "exits $(metric_sum promfcgi_pool_worker_deaths_total "$P" 'how="exit"')" "exits $e0"
    assert_equal "starts $(metric promfcgi_pool_worker_starts_total)" "starts $((s0 + 1))"
    await 100 eval '[[ $(metric promfcgi_pool_workers) == 2 && $(metric promfcgi_pool_busy_workers) == 0 ]]' \
        || fail "workers $(metric promfcgi_pool_workers), busy $(metric promfcgi_pool_busy_workers)"
    await 100 eval '[[ $(prom_query "sum(promfcgi_pool_worker_deaths_total{$P,how=\"signal\"})") == $((d0 + 1)) ]]' \
        || fail "Prometheus: deaths $(prom_query "sum(promfcgi_pool_worker_deaths_total{$P,how=\"signal\"})")"
}

t_hostile_stamps() {
    local c0 s0 r0 now stamp out
    c0=$(metric promfcgi_pool_queue_seconds_count)
    s0=$(metric promfcgi_pool_queue_seconds_sum)
    r0=$(metric_sum requests_total 'route="/orders"')
    now=$(date +%s)
    for stamp in '' 't=' 'abc' 't=abc' 't=1000000000000000000000000000000' '1e30' 't=-1700000000' \
        '-5' "t=$((now + 3600))" "t=$((now + 3600))000" 't=nan' 't=0x10'; do
        out=$("$PYTHON" "$TOOLS/fcgi.py" get "$(app_socket)" --param "HTTP_X_REQUEST_START=$stamp" /orders)
        assert_equal "stamp '$stamp': $out" "stamp '$stamp': 200"
    done
    assert_equal "requests $(metric_sum requests_total 'route="/orders"')" "requests $((r0 + 12))"
    assert_equal "observed $(metric promfcgi_pool_queue_seconds_count)" "observed $c0"
    # a good one, half a second old, in milliseconds (and X-Queue-Start is read too)
    stamp=$(date +%s%3N)
    out=$("$PYTHON" "$TOOLS/fcgi.py" get "$(app_socket)" --param "HTTP_X_QUEUE_START=t=$((stamp - 500))" /orders)
    assert_equal "$out" 200
    assert_equal "observed $(metric promfcgi_pool_queue_seconds_count)" "observed $((c0 + 1))"
    run awk -v a="$s0" -v b="$(metric promfcgi_pool_queue_seconds_sum)" 'BEGIN { exit !(b - a >= 0.5 && b - a < 60) }'
    assert_success
}

t_pool_stop() {
    stop_prometheus
    stop_stack
    run grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$STACK_DIR/stack.log"
    assert_failure
}
