#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The README's "Instrument your app in five minutes", run exactly as written (issue 17: it
# stopped at compiling). tools/tutorial.py takes the section's C program and its shell blocks out
# of README.md, unchanged; they run as root in a machine of their own: a mount namespace whose
# /usr/local, /etc and /var/lib are overlays (make install, ldconfig and the promfcgi account
# land there and vanish), a network namespace (its 127.0.0.1:8080 is free, whatever runs here),
# a pid namespace (whatever the tutorial leaves running dies with it). The newcomer's app is
# ~/notes/notes.c (HOME a fresh directory) behind nginx; every shell block followed by a
# ```text block must print exactly that: the status codes, and the counts on /metrics.
#
# Runs once, in the release pass: make install builds and installs the release tree, so the
# ASan pass (PROMFCGI_BIN_DIR=build/asan) has nothing else to test here.
load "$(dirname "${BATS_TEST_FILENAME}")/helpers"

setup() {
    ((EUID == 0)) || skip "needs root (make install, namespaces)"
    [[ $(cd "$BIN_DIR" && pwd) == "$TOP" ]] \
        || skip "runs in the release pass only (the tutorial installs the tree, not $BIN_DIR)"
    command -v unshare >/dev/null && command -v ip >/dev/null || skip "no unshare or ip (util-linux, iproute2)"
    W=$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/tutorial.XXXXXX")
    chmod 0755 "$W"
}

# In a machine of its own (see the top): runs CMD... as root, HOME=$W/home.
_sandbox() {
    mkdir -p "$W/home"
    W=$W unshare --mount --net --pid --fork --mount-proc -- bash -c '
        set -e
        for d in /usr/local /etc /var/lib; do
            o=$W/overlay${d//\//_}
            mkdir -p "$o/upper" "$o/work"
            mount -t overlay overlay -o "lowerdir=$d,upperdir=$o/upper,workdir=$o/work" "$d"
        done
        ip link set lo up
        export HOME=$W/home
        exec "$@"' sandbox "$@"
}

@test "README: the five-minute tutorial, as written, serves a newcomer's app behind nginx and counts exactly" {
    run python3 "$TOOLS/tutorial.py" "$TOP/README.md" "$W/t"
    assert_success
    local nblocks=$output path
    ((nblocks >= 4))
    path=$(cat "$W/t/app.path")
    path=$W/home/${path#\~/}
    mkdir -p "$(dirname "$path")"
    cp "$W/t/app.c" "$path"
    local start=$SECONDS rc=0
    TUTORIAL_TOP=$TOP TUTORIAL_OUT=$W/t _sandbox bash "$W/t/tutorial.sh" >"$W/t/log" 2>&1 || rc=$?
    echo "# the tutorial took $((SECONDS - start)) s (make install included)" >&3
    if ((rc != 0)); then
        tail -n 40 "$W/t/log" >&2
        fail "the tutorial failed (status $rc)"
    fi
    # every block ran, and printed what the README says it prints
    local n checked=0
    for ((n = 1; n <= nblocks; n++)); do
        [[ -f $W/t/out/$n ]] || fail "block $n did not run"
        [[ -f $W/t/expect/$n ]] || continue
        run cat "$W/t/out/$n"
        assert_output "$(cat "$W/t/expect/$n")"
        checked=$((checked + 1))
    done
    ((checked >= 3))   # the status codes, the counts on /metrics, the counts in the store
    # make install made the default store's directory (0750) for the account the units run as,
    # which it created (both are in the overlays' upper layers)
    local uid
    uid=$(awk -F: '$1 == "promfcgi" { print $3 }' "$W/overlay_etc/upper/passwd")
    [[ -n $uid ]] || fail "make install created no account promfcgi"
    run stat -c '%a %u' "$W/overlay_var_lib/upper/promfcgi"
    assert_output "750 $uid"
}

# Issue 17: make run served the hello app only. The README's own line, with the run directory and
# the store moved out of the checkout.
@test "README: make run APP=\$HOME/notes/notes.fcgi serves the newcomer's app" {
    run python3 "$TOOLS/tutorial.py" "$TOP/README.md" "$W/t"
    assert_success
    local cmd
    cmd=$(grep -o '`make run APP=[^`]*`' "$TOP/README.md" | head -n 1 | tr -d '`')
    [[ -n $cmd ]] || fail "the README names no make run APP=... line"
    mkdir -p "$W/home/notes"
    cc -std=c11 -Wall -Wextra -Werror -I"$TOP/include" "$W/t/app.c" "$TOP/build/lib/libpromfcgi.a" \
        -lfcgi -lz -lm -o "$W/home/notes/notes.fcgi"
    cat >"$W/run.sh" <<SH
set -euo pipefail
cd "$TOP"
$cmd RUNDIR=$W/run PROMFCGI_DB=$W/db/notes.db >"$W/make.log" 2>&1 &
for ((i = 0; i < 600; i++)); do grep -q ' ready\$' "$W/make.log" && break; sleep 0.1; done
curl -s -o /dev/null -w '%{http_code}\n' 127.0.0.1:8080/notes
curl -s -o /dev/null -w '%{http_code}\n' 127.0.0.1:8080/notes/7
curl -s 127.0.0.1:8080/metrics | grep '^requests_total'
SH
    run _sandbox bash "$W/run.sh"
    [[ $status == 0 ]] || { cat "$W/make.log" >&2; fail "make run: status $status"; }
    assert_output '200
404
requests_total{method="GET",route="/notes",code="200"} 1
requests_total{method="GET",route="/notes/{id}",code="404"} 1'
    run grep ' ready$' "$W/make.log"
    assert_output --partial "app $W/home/notes/notes.fcgi"
}
