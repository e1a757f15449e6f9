# SPDX-License-Identifier: MIT
# Helpers for the integration tests (bats 1.8). Needs curl, jq, python3, prometheus, promtool, ab.
# PROMFCGI_BIN_DIR selects the directory holding app/hello.fcgi and metrics/metrics.fcgi
# (default: the repo top); PROMFCGI_WORKERS the number of app workers (default 4).
bats_load_library bats-support
bats_load_library bats-assert

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN_DIR=${PROMFCGI_BIN_DIR:-$TOP}
WORKERS=${PROMFCGI_WORKERS:-4}
# Debian's python3 (scripts/deps installs it) for the tools/ helpers: a version manager's shim on
# PATH can cost ~90 ms per start, and some tests start a helper hundreds of times.
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3
TOOLS=$TOP/tests/integration/tools   # fcgi.py, metrics_check.py, random_paths.py
export PYTHON TOOLS

# A port nobody has bound on 127.0.0.1. 20000-32767 stays below Linux's ephemeral range, so the
# tens of thousands of client sockets ab leaves in TIME_WAIT cannot collide with it.
free_port() {
    python3 -c '
import random, socket
for _ in range(500):
    p = random.randint(20000, 32767)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
else:
    raise SystemExit("free_port: no free port found")
'
}

# Poll CMD... up to $1 times, 0.1 s apart; succeed as soon as it does.
retry() {
    local n=$1 i; shift
    for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.1; done
    return 1
}

# start_stack SERVER [MODE]: run scripts/stack (MODE fastcgi, the default, or cgi) in the
# background on a free port with a fresh RUNDIR and DB; sets and exports PORT, BASE, STACK_PID,
# STACK_DIR, STACK_DB, STACK_SERVER, STACK_MODE.
start_stack() {
    local server=$1 mode=${2:-fastcgi} attempt bin=$BIN_DIR outside=0
    # Apache never serves as root: as root (and no PROMFCGI_USER) its children run as www-data,
    # who must enter RUNDIR and, in CGI mode, run the programs and write the store. Bats' temp
    # directories are 0700, so such a stack lives in its own 0711 directory under /tmp, which
    # forget_stack removes; and runs copies of the programs if www-data cannot reach BIN_DIR.
    [[ $server == apache && $EUID == 0 && -z ${PROMFCGI_USER:-} ]] && outside=1
    for attempt in 1 2 3; do   # another process may grab the port between free_port and bind
        if ((outside)); then
            STACK_DIR=$(mktemp -d "/tmp/promfcgi-stack-$server-$mode.XXXXXX")
            chmod 0711 "$STACK_DIR"
        else
            STACK_DIR=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/stack-$server-$mode.XXXXXX")
        fi
        if ((outside)) && [[ $mode == cgi ]] \
            && ! runuser -u www-data -- test -x "$bin/app/hello.fcgi" -a -x "$bin/metrics/metrics.fcgi"; then
            mkdir -p "$STACK_DIR/bin/app" "$STACK_DIR/bin/metrics"
            cp "$BIN_DIR/app/hello.fcgi" "$STACK_DIR/bin/app/"
            cp "$BIN_DIR/metrics/metrics.fcgi" "$STACK_DIR/bin/metrics/"
            chmod -R a+rX "$STACK_DIR/bin"
            bin=$STACK_DIR/bin
        fi
        STACK_DB=$STACK_DIR/db/promfcgi.db
        # A service user (scripts/stack's PROMFCGI_USER) must be able to reach run/ and db/,
        # which the stack creates as its own; mktemp -d made this directory 0700.
        [[ -n ${PROMFCGI_USER:-} ]] && chmod 0711 "$STACK_DIR"
        PORT=$(free_port)
        BASE=http://127.0.0.1:$PORT
        STACK_SERVER=$server STACK_MODE=$mode
        # 3>&- : bats waits for fd 3 to close; a background child holding it would hang the run.
        # STACK_APP: another program in place of the hello app (scripts/stack --app)
        "$TOP/scripts/stack" --mode "$mode" ${STACK_APP:+--app "$STACK_APP"} "$server" "$PORT" \
            "$WORKERS" "$STACK_DB" "$STACK_DIR/run" "$bin" >"$STACK_DIR/stack.log" 2>&1 3>&- &
        STACK_PID=$!
        export PORT BASE STACK_PID STACK_DIR STACK_DB STACK_SERVER STACK_MODE
        # stack prints "ready" once the port answers; it exits on any startup failure.
        retry 600 _stack_ready_or_dead || true
        if grep -q ' ready$' "$STACK_DIR/stack.log"; then return 0; fi
        if ! _gone "$STACK_PID"; then
            kill -TERM "$STACK_PID"; cat "$STACK_DIR/stack.log" >&2
            echo "start_stack: $server ($mode) not ready after 60 s" >&2; return 1
        fi
        echo "start_stack: attempt $attempt failed:" >&2; cat "$STACK_DIR/stack.log" >&2
        forget_stack
    done
    return 1
}
# forget_stack: remove a stack directory start_stack made outside bats' temp dirs (after
# stop_stack; tests read its logs until then).
forget_stack() {
    [[ ${STACK_DIR:-} == /tmp/promfcgi-stack-* ]] && rm -rf "$STACK_DIR"
    return 0
}
_stack_ready_or_dead() {
    grep -q ' ready$' "$STACK_DIR/stack.log" || _gone "$STACK_PID"
}

# Processes that belong to the stack: command line mentions STACK_DIR (stack, web server) or the
# environment carries its PROMFCGI_DB (workers, CGI programs). Two greps over /proc find them (a
# loop in bash costs seconds under bats' per-command DEBUG trap); neither can list itself (the
# first reads its pattern from a file, not its command line; a match on the second's own
# environment is gone by the time its command line is read, and so skipped).
stack_procs() {
    local p args pids=()
    mapfile -t pids < <(
        # (|| true: under bats' set -e a grep that met a vanished process would end the list)
        { grep -lsFz -f <(printf '%s\n' "$STACK_DIR") /proc/[0-9]*/cmdline || true
          grep -lsxFz -e "PROMFCGI_DB=$STACK_DB" /proc/[0-9]*/environ || true
        } | awk -F/ '!seen[$3]++ { print $3 }')
    for p in "${pids[@]}"; do
        [[ $p == "$BASHPID" ]] && continue
        args=(); mapfile -d '' args 2>/dev/null <"/proc/$p/cmdline" || continue
        ((${#args[@]})) || continue   # exited meanwhile, or a zombie
        echo "$p ${args[*]}"
    done
    return 0
}

# stop_stack: SIGTERM the stack and fail unless it and every process it started are gone.
stop_stack() {
    [[ -n ${STACK_PID:-} ]] || return 0
    kill -TERM "$STACK_PID" 2>/dev/null || true
    if ! retry 300 _stack_gone; then
        kill -KILL "$STACK_PID" 2>/dev/null || true
        echo "stop_stack: stack pid $STACK_PID still running after 30 s" >&2; return 1
    fi
    local left
    left=$(stack_procs)
    if [[ -n $left ]]; then
        echo "stop_stack: processes left behind:" >&2; echo "$left" >&2
        return 1
    fi
}
# A zombie still answers kill -0; look at the process state instead.
_gone() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    st=${st##*) }; [[ ${st%% *} == Z ]]
}
_stack_gone() { _gone "$STACK_PID"; }

# start_prometheus [SCRAPE_CONFIGS [FLAG...]]: a real Prometheus scraping every second; sets PROM,
# PROM_PID. SCRAPE_CONFIGS is the YAML list under scrape_configs (empty or absent: job promfcgi on
# 127.0.0.1:$PORT); each FLAG is passed to prometheus (e.g. --enable-feature=exemplar-storage).
start_prometheus() {
    PROM_DIR=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/prom.XXXXXX")
    PPORT=$(free_port)
    PROM=http://127.0.0.1:$PPORT
    local jobs=${1:-"  - job_name: promfcgi
    static_configs:
      - targets: [\"127.0.0.1:$PORT\"]"}
    cat >"$PROM_DIR/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
$jobs
YML
    prometheus --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
        --web.listen-address="127.0.0.1:$PPORT" --log.level=warn "${@:2}" \
        >"$PROM_DIR/prometheus.log" 2>&1 3>&- &
    PROM_PID=$!
    export PROM PROM_PID PROM_DIR
    if ! retry 600 curl -sf -o /dev/null "$PROM/-/ready"; then
        cat "$PROM_DIR/prometheus.log" >&2; echo "start_prometheus: not ready after 60 s" >&2
        return 1
    fi
}

stop_prometheus() {
    [[ -n ${PROM_PID:-} ]] || return 0
    kill -TERM "$PROM_PID" 2>/dev/null || true
    retry 300 _prom_gone || kill -KILL "$PROM_PID" 2>/dev/null || true
}
_prom_gone() { _gone "$PROM_PID"; }

# prom_query EXPR: value of an instant query with one result (scalar or one-element vector);
# prints nothing when the result is empty.
prom_query() {
    # curl's failure is the function's (a pipe into jq would read nothing and succeed)
    local body
    body=$(curl -sfG --max-time 5 --data-urlencode "query=$1" "$PROM/api/v1/query") || return 1
    jq -r '
        if .status != "success" then error("query failed")
        elif .data.resultType == "scalar" then .data.result[1]
        elif (.data.result | length) == 1 then .data.result[0].value[1]
        elif (.data.result | length) == 0 then empty
        else error("more than one series") end' <<<"$body"
}

# metric_sum NAME [LABEL="VALUE"...]: sum of the samples of NAME on $BASE/metrics whose labels
# include all the given pairs (written exactly as exposed). Prints 0 when nothing matches.
metric_sum() {
    local page
    page=$(curl -sf --max-time 10 "$BASE/metrics") || { echo "metric_sum: scrape failed" >&2; return 1; }
    awk -v name="$1" -v filters="${*:2}" '
        BEGIN { n = split(filters, f, " ") }
        /^#/ || NF == 0 { next }
        {
            if ((i = index($0, "{")) > 0 && i < index($0, " ")) {
                nm = substr($0, 1, i - 1); rest = substr($0, i + 1)
                # the "}" that ends the labels is outside quotes (a value may hold "{id}")
                q = 0
                for (j = 1; j <= length(rest); j++) {
                    c = substr(rest, j, 1)
                    if (c == "\\" && q) { j++; continue }
                    if (c == "\"") q = !q
                    else if (c == "}" && !q) break
                }
                lbl = substr(rest, 1, j - 1); rest = substr(rest, j + 1)
            } else { nm = $1; lbl = ""; rest = substr($0, length($1) + 1) }
            if (nm != name) next
            for (k = 1; k <= n; k++) if (index("," lbl ",", "," f[k] ",") == 0) next
            split(rest, v, " "); sum += v[1]
        }
        END { printf "%.15g\n", sum }' <<<"$page"
}

# Wait (bounded) until metric_sum $1 reaches $2, then print it.
await_sum() {
    local v i
    for ((i = 0; i < 100; i++)); do
        v=$(metric_sum "$1")
        ((v >= $2)) && break
        sleep 0.1
    done
    echo "$v"
}

# metric_value 'NAME{a="x",b="y"}': metric_sum with the labels as filters.
metric_value() {
    local name=${1%%\{*} lbl=
    [[ $1 == *\{* ]] && { lbl=${1#*\{}; lbl=${lbl%\}}; }
    # shellcheck disable=SC2086 # split the label list on commas into filters
    metric_sum "$name" ${lbl//,/ }
}

# om_promtool < PAGE: Prometheus' own OpenMetrics parser (promtool tsdb create-blocks-from
# openmetrics) accepts the page, exemplars included (tools/om_check.py is client_python's parser).
# That command backfills, so it wants a timestamp on every sample: one is put after each sample's
# value (before any exemplar) first; label values must not hold "}" (ours never do).
om_promtool() {
    local dir
    dir=$(mktemp -d "${BATS_TEST_TMPDIR:-/tmp}/om.XXXXXX")
    awk -v ts="$(date +%s)" '
        /^#/ { print; next }
        {
            # the value ends at the first space after the label set (label values may hold spaces)
            i = index($0, "}"); head = i ? substr($0, 1, i) : ""; rest = i ? substr($0, i + 1) : $0
            if (!i) { j = index(rest, " "); head = substr(rest, 1, j - 1); rest = substr(rest, j) }
            rest = substr(rest, 2); k = index(rest, " ")
            if (k) print head " " substr(rest, 1, k - 1) " " ts substr(rest, k)
            else print head " " rest " " ts
        }' >"$dir/page"
    promtool tsdb create-blocks-from openmetrics "$dir/page" "$dir/blocks" >"$dir/log" 2>&1 \
        || { cat "$dir/log" >&2; return 1; }
}
