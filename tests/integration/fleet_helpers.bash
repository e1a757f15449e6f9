# SPDX-License-Identifier: MIT
# Helpers for fleet.bats: several independent promfcgi stacks (own port, RUNDIR and store each)
# scraped by one Prometheus configured from deploy/prometheus/ (file_sd job promfcgi-fleet).
# Builds on helpers.bash: start_stack / stop_stack work on the globals STACK_PID, STACK_DIR,
# STACK_DB, PORT, BASE; here each stack's copy is kept in FLEET_<i>_* (exported scalars, since
# bats runs setup_file and the tests in different processes) and use_stack i restores them.
load "$(dirname "${BASH_SOURCE[0]}")/helpers"

# start_fleet_stack I SERVER: start stack number I (1, 2, ...) with SERVER (lighttpd|nginx).
start_fleet_stack() {
    local i=$1 v
    start_stack "$2" || return 1
    for v in STACK_PID STACK_DIR STACK_DB PORT BASE; do
        printf -v "FLEET_${i}_$v" '%s' "${!v}"
        export "FLEET_${i}_$v"
    done
}

# use_stack I: make stack I the current one for metric_sum, stop_stack, stack_procs.
use_stack() {
    local i=$1 v n
    for v in STACK_PID STACK_DIR STACK_DB PORT BASE; do
        n=FLEET_${1}_$v
        [[ -n ${!n:-} ]] || { echo "use_stack: no stack $i" >&2; return 1; }
        printf -v "$v" '%s' "${!n}"
    done
}

# start_fleet_prometheus I...: the shipped deploy/prometheus/ tree copied to PROM_DIR/etc, with
# intervals of 1 s, the static job pointed at the first stack, and targets/fleet.json listing
# the given stacks (label stack="<i>"). Sets PROM, PROM_PID, PROM_DIR (stop_prometheus, prom_query).
start_fleet_prometheus() {
    local i etc targets='' n
    PROM_DIR=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/prom.XXXXXX")
    etc=$PROM_DIR/etc
    cp -r "$TOP/deploy/prometheus" "$etc"
    rm -f "$etc"/targets/*.json
    n=FLEET_$1_PORT
    sed -i -e 's/^  scrape_interval: 15s$/  scrape_interval: 1s/' \
        -e 's/^  scrape_timeout: 10s$/  scrape_timeout: 1s/' \
        -e 's/^  evaluation_interval: 15s$/  evaluation_interval: 1s/' \
        -e 's/^        refresh_interval: 1m$/        refresh_interval: 1s/' \
        -e "s/\"127.0.0.1:8080\"/\"127.0.0.1:${!n}\"/" "$etc/prometheus.yml"
    # Every substitution must have applied, or the test would run on the shipped 15 s intervals.
    for pat in 'scrape_interval: 1s' 'scrape_timeout: 1s' 'evaluation_interval: 1s' \
        'refresh_interval: 1s' "\"127.0.0.1:${!n}\""; do
        grep -q "$pat" "$etc/prometheus.yml" || { echo "start_fleet_prometheus: '$pat' not applied" >&2; return 1; }
    done
    for i in "$@"; do
        n=FLEET_${i}_PORT
        targets+="${targets:+,}{\"targets\":[\"127.0.0.1:${!n}\"],\"labels\":{\"stack\":\"$i\"}}"
    done
    echo "[$targets]" >"$etc/targets/fleet.json.tmp"
    mv "$etc/targets/fleet.json.tmp" "$etc/targets/fleet.json"
    promtool check config "$etc/prometheus.yml" >"$PROM_DIR/check.log" 2>&1 \
        || { cat "$PROM_DIR/check.log" >&2; return 1; }
    PPORT=$(free_port)
    PROM=http://127.0.0.1:$PPORT
    prometheus --config.file="$etc/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
        --web.listen-address="127.0.0.1:$PPORT" --log.level=warn \
        >"$PROM_DIR/prometheus.log" 2>&1 3>&- &
    PROM_PID=$!
    export PROM PROM_PID PROM_DIR
    if ! retry 600 curl -sf -o /dev/null "$PROM/-/ready"; then
        cat "$PROM_DIR/prometheus.log" >&2; echo "start_fleet_prometheus: not ready after 60 s" >&2
        return 1
    fi
}

# prom_vector EXPR: "labelvalue value" lines of an instant query, grouped by label $2.
prom_vector() {
    curl -sfG --max-time 5 --data-urlencode "query=$1" "$PROM/api/v1/query" | jq -r --arg l "$2" '
        if .status != "success" then error("query failed") else
        .data.result[] | "\(.metric[$l] // "") \(.value[1])" end' | sort
}

# prom_count EXPR: number of series an instant query returns (0 when none).
prom_count() {
    curl -sfG --max-time 5 --data-urlencode "query=$1" "$PROM/api/v1/query" \
        | jq -r 'if .status != "success" then error("query failed") else .data.result | length end'
}

# prom_rules_health: "<rules loaded> <rules whose health is not ok>" from the rules API.
prom_rules_health() {
    curl -sf --max-time 5 "$PROM/api/v1/rules" \
        | jq -r '[.data.groups[].rules[]] | "\(length) \(map(select(.health != "ok")) | length)"'
}

# await N CMD...: poll CMD up to N times, 0.5 s apart (bounded wait); succeed when it does.
await() {
    local n=$1 i; shift
    for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.5; done
    return 1
}
