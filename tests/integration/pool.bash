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
# $BATS_TEST_TMPDIR/ab.out, its pid in AB_PID); while it runs, sample_load records the kernel's
# queue and /metrics every 0.2 s (bounded: 300 samples), into $BATS_TEST_TMPDIR/samples.
saturate() {
    ab -q -n "$LOAD_REQUESTS" -c "$CLIENTS" -s 60 "$BASE/slow/$SLOW_MS" >"$BATS_TEST_TMPDIR/ab.out" 2>&1 3>&- &
    AB_PID=$!
}
sample_load() {
    local i
    : >"$BATS_TEST_TMPDIR/samples"
    for ((i = 0; i < 300; i++)); do
        _gone "$AB_PID" && break
        echo "kernel $(kernel_queue)" >>"$BATS_TEST_TMPDIR/samples"
        sleep 0.2
    done
    wait "$AB_PID"
}

t_saturation_scaffold() {
    run kernel_queue
    assert_output --regexp '^0 [0-9]+$'
    saturate
    sample_load
    run cat "$BATS_TEST_TMPDIR/ab.out"
    assert_line --regexp "^Complete requests: +$LOAD_REQUESTS\$"
    assert_line --regexp '^Failed requests: +0$'
    # ab's longest wait: a request behind 18 others on 2 workers waits ~9 x SLOW_MS
    local most
    most=$(awk '$1 == "kernel" && $2 > m { m = $2 } END { print m + 0 }' "$BATS_TEST_TMPDIR/samples")
    ((most > 0)) || fail "the kernel never showed a connection waiting: $(cat "$BATS_TEST_TMPDIR/samples")"
    echo "# most waiting in the kernel's listen queue: $most" >&3
}

t_pool_stop() {
    stop_prometheus
    stop_stack
    run grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$STACK_DIR/stack.log"
    assert_failure
}
