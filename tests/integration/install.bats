#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# make install / make uninstall (mk/install.mk), the pkg-config file, the systemd units, and the
# installed programs serving through the shipped nginx-site.conf + spawn-fcgi.sh.
load "$(dirname "${BATS_TEST_FILENAME}")/helpers"

setup_file() {
    # Under /tmp, world-traversable: the smoke test runs the installed programs as "daemon" and
    # nginx workers as "www-data".
    INST=$(mktemp -d /tmp/promfcgi-install.XXXXXX)
    chmod 0755 "$INST"
    export INST D=$INST/root
    make -s -C "$TOP" install PREFIX=/usr DESTDIR="$D" >"$INST/install.log" 2>&1 \
        || { cat "$INST/install.log" >&2; return 1; }
}

teardown_file() {
    _smoke_stop || true
    [[ -n ${INST:-} && $INST == /tmp/promfcgi-install.* ]] && rm -rf "$INST"
}

# What PREFIX=/usr must install, relative to DESTDIR (man pages and tools: whatever exists).
expected_files() {
    local f
    printf '%s\n' /usr/lib/promfcgi/hello.fcgi /usr/lib/promfcgi/api.fcgi /usr/lib/promfcgi/metrics.fcgi \
        /usr/include/promfcgi.h /usr/include/promfcgi_http.h /usr/lib/libpromfcgi.a \
        /usr/lib/pkgconfig/promfcgi.pc \
        /usr/lib/systemd/system/promfcgi-hello.socket /usr/lib/systemd/system/promfcgi-hello.service \
        /usr/lib/systemd/system/promfcgi-metrics.socket /usr/lib/systemd/system/promfcgi-metrics.service \
        /usr/lib/sysusers.d/promfcgi.conf \
        /usr/share/promfcgi/lighttpd.conf.in /usr/share/promfcgi/nginx.conf.in /usr/share/promfcgi/render \
        /usr/share/promfcgi/apache.conf.in /usr/share/promfcgi/Caddyfile.in \
        /usr/share/promfcgi/lighttpd-cgi.conf.in /usr/share/promfcgi/apache-cgi.conf.in \
        /usr/share/promfcgi/nginx-site.conf /usr/share/promfcgi/spawn-fcgi.sh \
        /usr/share/promfcgi/prometheus/prometheus.yml \
        /usr/share/promfcgi/prometheus/rules/promfcgi.rules.yml \
        /usr/share/promfcgi/prometheus/rules/promfcgi.rules.test.yml \
        /usr/share/promfcgi/prometheus/targets/fleet.json \
        /usr/share/promfcgi/prometheus/targets/fleet.json.example \
        /usr/share/promfcgi/prometheus/grafana/promfcgi.json \
        /usr/share/doc/promfcgi/deploy.md
    # the shared library (libpromfcgi.so.VERSION), its soname link and its link-time name
    for f in $(make -s -C "$TOP" --no-print-directory \
        --eval 'print-shlib: ; @echo $(notdir $(SHLIB) $(SHLIB_LINKS))' print-shlib); do
        echo "/usr/lib/$f"
    done
    for f in "$TOP"/man/*.1; do [[ -e $f ]] && echo "/usr/share/man/man1/${f##*/}"; done
    for f in "$TOP"/man/*.3; do [[ -e $f ]] && echo "/usr/share/man/man3/${f##*/}"; done
    # command-line tools the Makefile adds with INSTALL_BIN += ...
    for f in $(make -s -C "$TOP" --no-print-directory \
        --eval 'print-install-bin: ; @echo $(notdir $(INSTALL_BIN))' print-install-bin); do
        echo "/usr/bin/$f"
    done
    return 0
}

@test "make install PREFIX=/usr DESTDIR=...: exactly the expected files, with their modes" {
    run bash -c "cd '$D' && find . -type f -o -type l | sed 's|^\.||' | sort"
    assert_output "$(expected_files | sort)"
    run stat -c '%a %n' "$D/usr/lib/promfcgi/hello.fcgi" "$D/usr/lib/promfcgi/metrics.fcgi" \
        "$D/usr/share/promfcgi/spawn-fcgi.sh" "$D/usr/include/promfcgi.h" "$D/usr/lib/libpromfcgi.a" \
        "$D/usr/lib/systemd/system/promfcgi-hello.service"
    assert_line --index 0 --regexp '^755 '
    assert_line --index 1 --regexp '^755 '
    assert_line --index 2 --regexp '^755 '
    assert_line --index 3 --regexp '^644 '
    assert_line --index 4 --regexp '^644 '
    assert_line --index 5 --regexp '^644 '
    # the installed copies are the built ones
    cmp "$D/usr/lib/promfcgi/hello.fcgi" "$TOP/app/hello.fcgi"
    cmp "$D/usr/include/promfcgi.h" "$TOP/include/promfcgi.h"
    cmp "$D/usr/lib/libpromfcgi.a" "$TOP/build/lib/libpromfcgi.a"
    # the default store's directory (PROMFCGI_DEFAULT_DB), private to the workers
    run stat -c '%F %a' "$D/var/lib/promfcgi"
    assert_output 'directory 750'
}

@test "systemd units: socket activation on fd 0, journal, restart, user, state directory, hardening" {
    local u=$D/usr/lib/systemd/system s
    for s in hello metrics; do
        run grep -E '^(ListenStream|Accept|SocketMode|SocketUser)=' "$u/promfcgi-$s.socket"
        assert_output "$(printf 'ListenStream=/run/promfcgi/%s.sock\nAccept=no\nSocketUser=promfcgi\nSocketMode=0660' "$s")"
        run grep -E '^(ExecStart|StandardInput|StandardOutput|StandardError|Restart|User|Group|StateDirectory|StateDirectoryMode|Environment|NoNewPrivileges|ProtectSystem|ProtectHome|PrivateTmp)=' \
            "$u/promfcgi-$s.service"
        assert_output "ExecStart=/usr/lib/promfcgi/$s.fcgi
StandardInput=socket
StandardOutput=journal
StandardError=journal
Restart=on-failure
User=promfcgi
Group=promfcgi
StateDirectory=promfcgi
StateDirectoryMode=0750
Environment=PROMFCGI_DB=/var/lib/promfcgi/promfcgi.db
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes"
        [[ -x $D/usr/lib/promfcgi/$s.fcgi ]]
    done
    run cat "$D/usr/lib/sysusers.d/promfcgi.conf"
    assert_line --regexp '^u promfcgi - .* /var/lib/promfcgi '
}

# systemd-analyze verify needs the ExecStart binaries to exist at their real paths: verify the
# units of a PREFIX=$INST/opt install (no DESTDIR), which name $INST/opt/lib/promfcgi/*.fcgi.
@test "systemd-analyze verify: the units (PREFIX install) load without any warning" {
    command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed"
    mkdir -p "$INST/probe"
    printf '[Service]\nExecStart=/bin/true\n' >"$INST/probe/probe.service"
    if ! (cd "$INST/probe" && systemd-analyze verify ./probe.service) >"$INST/probe/log" 2>&1; then
        skip "systemd-analyze verify does not work here: $(head -c 300 "$INST/probe/log")"
    fi
    # (the store's directory inside the prefix too, owned by us: nothing outside INST)
    local state=(STATEDIR="$INST/opt/var/lib/promfcgi" STORE_USER="$(id -un)")
    run make -s -C "$TOP" install PREFIX="$INST/opt" "${state[@]}"
    assert_success
    run stat -c '%F %a %U' "$INST/opt/var/lib/promfcgi"
    assert_output "directory 750 $(id -un)"
    local u=$INST/opt/share/promfcgi/systemd
    run grep -h '^ExecStart=' "$u"/promfcgi-hello.service "$u"/promfcgi-metrics.service
    assert_output "ExecStart=$INST/opt/lib/promfcgi/hello.fcgi
ExecStart=$INST/opt/lib/promfcgi/metrics.fcgi"
    cd "$u"
    run systemd-analyze verify ./promfcgi-hello.socket ./promfcgi-hello.service \
        ./promfcgi-metrics.socket ./promfcgi-metrics.service
    assert_success
    assert_output ''   # verify exits 0 on unknown keys and bad values: any output is a finding
    # the multiwatch variant from the unit's comment verifies too (as a drop-in)
    mkdir -p promfcgi-hello.service.d
    printf '[Service]\nExecStart=\nExecStart=/usr/bin/multiwatch -f 4 -- %s\n' \
        "$INST/opt/lib/promfcgi/hello.fcgi" >promfcgi-hello.service.d/workers.conf
    run systemd-analyze verify ./promfcgi-hello.socket ./promfcgi-hello.service
    assert_success
    assert_output ''
    rm -r promfcgi-hello.service.d
    cd /
    run make -s -C "$TOP" uninstall PREFIX="$INST/opt" "${state[@]}"
    assert_success
    run find "$INST/opt" -type f
    assert_output ''
    [[ ! -e $INST/opt/var/lib/promfcgi ]] || fail "the empty store directory was left behind"
}

@test "pkg-config: flags for the installed header and library; a program using the API links" {
    export PKG_CONFIG_PATH=$D/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
    run pkg-config --modversion promfcgi
    assert_success
    run pkg-config --cflags --libs promfcgi
    assert_success
    assert_equal "${output% }" "-I$D/usr/include -L$D/usr/lib -lpromfcgi"
    # --static adds what libpromfcgi.a needs
    run pkg-config --libs --static promfcgi
    assert_success
    assert_output --regexp '^-L[^ ]+ -lpromfcgi .*-lfcgi .*-lz'
    cat >"$INST/count.c" <<'C'
#include <promfcgi.h>
#include <stdio.h>
/* Counts 3 events with the installed API; argv[1]: the store. */
int main(int argc, char **argv)
{
	static const char *const labels[] = { "kind", NULL };
	static const char *const values[] = { "smoke", NULL };
	pf_family *f;
	pf_series *s;
	int i;

	if (argc != 2 || pf_open(argv[1]) != 0)
		return 1;
	f = pf_counter("install_test_events_total", "Events counted by install.bats.", labels);
	s = pf_with(f, values);
	if (f == NULL || s == NULL)
		return 2;
	for (i = 0; i < 3; i++)
		if (pf_inc(s) != 0)
			return 3;
	if (pf_close() != 0)
		return 4;
	puts("counted 3");
	return 0;
}
C
    # only the installed header: no -I into the source tree; the installed shared library,
    # found at run time through the rpath (it is not in the dynamic linker's directories)
    run bash -c "cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags promfcgi) '$INST/count.c' \
        -o '$INST/count' $(pkg-config --libs promfcgi) -Wl,-rpath,$D/usr/lib"
    assert_success
    run readelf -d "$INST/count"
    assert_output --partial '[libpromfcgi.so.'
    mkdir -p "$INST/standalone"
    run "$INST/count" "$INST/standalone/promfcgi.db"
    assert_success
    assert_output 'counted 3'
    [[ -s $INST/standalone/promfcgi.db ]]
    # docs/abi.md: pkg-config --static alone still links the shared library (it is for cc -static)...
    run bash -c "cc -std=c11 $(pkg-config --cflags promfcgi) '$INST/count.c' -o '$INST/count-s' \
        $(pkg-config --libs --static promfcgi) -Wl,-rpath,$D/usr/lib && readelf -d '$INST/count-s'"
    assert_success
    assert_output --partial '[libpromfcgi.so.'
    # ... and naming the archive links libpromfcgi.a, the system libraries shared
    run bash -c "cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags promfcgi) '$INST/count.c' \
        -o '$INST/count-a' \"$(pkg-config --variable=libdir promfcgi)/libpromfcgi.a\" \
        $(pkg-config --libs fcgi zlib) -lm && readelf -d '$INST/count-a'"
    assert_success
    refute_output --partial 'libpromfcgi'
    assert_output --partial '(NEEDED)'
    run "$INST/count-a" "$INST/standalone/promfcgi.db"
    assert_output 'counted 3'
}

# Stops what the smoke test started: pids listed in $INST/smoke.pids (a file, so that
# teardown_file finds them even when the test failed half-way), newest first.
_smoke_stop() {
    [[ -f ${INST:-}/smoke.pids ]] || return 0
    local pids p
    mapfile -t pids < <(tac "$INST/smoke.pids")
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        retry 200 _gone "$p" || { echo "smoke: pid $p still running, killing" >&2; kill -KILL "$p" 2>/dev/null || true; }
    done
    rm -f "$INST/smoke.pids"
}

# The installed programs, started the way deploy/spawn-fcgi.sh starts them on a host without
# systemd (as user daemon, sockets 0660 group www-data), behind deploy/nginx-site.conf (nginx
# workers as www-data). Paths moved into INST; listen on 127.0.0.1 only.
@test "installed tree serves: spawn-fcgi.sh pools behind nginx-site.conf, as unprivileged users" {
    ((EUID == 0)) || skip "needs root (spawn-fcgi -u, nginx user)"
    getent passwd daemon >/dev/null && getent group www-data >/dev/null || skip "no user daemon / group www-data"
    local w=$INST/smoke port
    mkdir -p "$w/run" "$w/nginx/tmp" && chmod 0755 "$w" "$w/run"
    export SMOKE_DB=$w/state/promfcgi.db
    WORKERS=2 RUNDIR=$w/run PROMFCGI_DB=$SMOKE_DB PROMFCGI_USER=daemon PROMFCGI_GROUP=daemon \
        SOCKET_GROUP=www-data LIBEXECDIR=$D/usr/lib/promfcgi \
        "$D/usr/share/promfcgi/spawn-fcgi.sh" >"$w/pools.log" 2>&1 3>&- &
    echo "$!" >>"$INST/smoke.pids"
    retry 100 test -S "$w/run/hello.sock" -a -S "$w/run/metrics.sock" || { cat "$w/pools.log"; fail "no sockets"; }
    run stat -c '%a %U %G' "$w/run/hello.sock" "$w/run/metrics.sock"
    assert_output "$(printf '660 daemon www-data\n660 daemon www-data')"

    port=$(free_port)
    sed -e "s|listen 80;|listen 127.0.0.1:$port;|" -e '/listen \[::\]:80;/d' \
        -e "s|/run/promfcgi/|$w/run/|g" "$D/usr/share/promfcgi/nginx-site.conf" >"$w/nginx/site.conf"
    grep -q "listen 127.0.0.1:$port;" "$w/nginx/site.conf"
    cp /etc/nginx/fastcgi_params "$w/nginx/"
    cat >"$w/nginx/nginx.conf" <<NGINX
user www-data www-data;
worker_processes 1;
pid $w/nginx/nginx.pid;
error_log $w/nginx/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $w/nginx/tmp/body;
    fastcgi_temp_path $w/nginx/tmp/fastcgi;
    proxy_temp_path $w/nginx/tmp/proxy;
    scgi_temp_path $w/nginx/tmp/scgi;
    uwsgi_temp_path $w/nginx/tmp/uwsgi;
    include $w/nginx/site.conf;
}
NGINX
    nginx -p "$w/nginx" -c "$w/nginx/nginx.conf" -e "$w/nginx/error.log" -g 'daemon off;' 3>&- &
    echo "$!" >>"$INST/smoke.pids"
    local base=http://127.0.0.1:$port
    retry 100 curl -sf -o /dev/null "$base/metrics" || { cat "$w/nginx/error.log" "$w/pools.log"; fail "nginx not serving"; }

    run curl -sS --max-time 5 "$base/"
    assert_output "Hello, Prometheus!"
    # the workers run as daemon with the store from the environment, and 2 of them
    # (other stacks on this machine may run hello.fcgi too: look at ours only)
    run bash -c "ps -o user=,args= -C hello.fcgi | grep -F ' $D/usr/lib/promfcgi/hello.fcgi'"
    assert_equal "${#lines[@]}" 2
    assert_line --index 0 --regexp "^daemon +$D/usr/lib/promfcgi/hello.fcgi\$"
    assert_line --index 1 --regexp "^daemon +$D/usr/lib/promfcgi/hello.fcgi\$"
    # a program built against the installed API (previous test) writes the same store
    run runuser -u daemon -- "$INST/count" "$SMOKE_DB"
    assert_output 'counted 3'
    BASE=$base
    run metric_value 'requests_total{method="GET",route="/",code="200"}'
    assert_output 1
    run metric_value 'install_test_events_total{kind="smoke"}'
    assert_output 3
    curl -sf "$base/metrics" | promtool check metrics

    _smoke_stop
    run cat "$w/pools.log"
    refute_output --partial 'a pool exited'
    [[ ! -e $w/run/hello.sock && ! -e $w/run/metrics.sock ]]
    STACK_DIR=$w/run STACK_DB=$SMOKE_DB
    run stack_procs
    assert_output ''
    # the store is the workers': owned by daemon, not readable by others
    run stat -c '%U %a' "$w/state"
    assert_output 'daemon 750'
}

# Issue 17: an installed spawn-fcgi.sh with PREFIX=/opt/... still ran /usr/lib/promfcgi/*.fcgi.
@test "make install PREFIX=/opt/...: installed scripts and units name that prefix, never /usr's" {
    local d=$INST/other p=/opt/promfcgi-test
    run make -s -C "$TOP" install PREFIX=$p DESTDIR="$d"
    assert_success
    run grep -rlE '/usr/(lib|share|share/doc)/promfcgi([^a-zA-Z0-9_.-]|$)' "$d$p/share/promfcgi"
    assert_output ''
    run grep -h '^LIBEXECDIR=\|^APP=' "$d$p/share/promfcgi/spawn-fcgi.sh"
    assert_output "LIBEXECDIR=\${LIBEXECDIR:-$p/lib/promfcgi}
APP=\${APP:-\$LIBEXECDIR/hello.fcgi}"
    run grep -h '^ExecStart=\|^Documentation=' "$d$p/share/promfcgi/systemd/promfcgi-hello.service"
    assert_output "Documentation=file:$p/share/doc/promfcgi/deploy.md
ExecStart=$p/lib/promfcgi/hello.fcgi"
    rm -rf "$d"
}

# Issue 17: spawn-fcgi.sh ran hello.fcgi and nothing else. APP= serves another program (here the
# API example) on its own socket, RUNDIR/<name>.sock; the metrics program sees its routes.
@test "spawn-fcgi.sh APP=...: serves another program, on RUNDIR/<its name>.sock" {
    ((EUID == 0)) || skip "needs root (spawn-fcgi -u)"
    getent passwd daemon >/dev/null && getent group www-data >/dev/null || skip "no user daemon / group www-data"
    local w=$INST/app
    mkdir -p "$w/run" && chmod 0755 "$w" "$w/run"
    APP=$D/usr/lib/promfcgi/api.fcgi WORKERS=1 RUNDIR=$w/run PROMFCGI_DB=$w/state/promfcgi.db \
        PROMFCGI_USER=daemon PROMFCGI_GROUP=daemon SOCKET_GROUP=www-data LIBEXECDIR=$D/usr/lib/promfcgi \
        "$D/usr/share/promfcgi/spawn-fcgi.sh" >"$w/pools.log" 2>&1 3>&- &
    echo "$!" >>"$INST/smoke.pids"
    retry 100 test -S "$w/run/api.sock" -a -S "$w/run/metrics.sock" || { cat "$w/pools.log"; fail "no sockets"; }
    [[ ! -e $w/run/hello.sock ]]
    run python3 "$TOP/tests/integration/tools/fcgi.py" get "$w/run/api.sock" /orders /orders/7 /orders/7000 /nope
    assert_output "$(printf '200\n200\n404\n404')"
    run runuser -u daemon -- env PROMFCGI_DB="$w/state/promfcgi.db" "$D/usr/bin/promfcgi" dump
    assert_success
    assert_line 'requests_total{method="GET",route="/orders",code="200"} 1'
    assert_line 'requests_total{method="GET",route="/orders/{id}",code="200"} 1'
    assert_line 'requests_total{method="GET",route="/orders/{id}",code="404"} 1'
    assert_line 'requests_total{method="GET",route="unmatched",code="404"} 1'
    _smoke_stop
    [[ ! -e $w/run/api.sock && ! -e $w/run/metrics.sock ]]
}

@test "make uninstall PREFIX=/usr DESTDIR=...: no file left, promfcgi's own directories gone" {
    run make -s -C "$TOP" uninstall PREFIX=/usr DESTDIR="$D"
    assert_success
    run find "$D" -type f -o -type l
    assert_output ''
    for d in usr/lib/promfcgi usr/share/promfcgi usr/share/doc/promfcgi var/lib/promfcgi; do
        [[ ! -e $D/$d ]] || fail "$d left behind"
    done
    # shared directories stay (they may hold other packages' files on a real system)
    [[ -d $D/usr/lib/systemd/system && -d $D/usr/include ]]
}
