#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The Debian packages, end to end on this machine: `make deb` builds libpromfcgi1,
# libpromfcgi-dev and promfcgi (lintian: no error); `apt-get install ./*.deb` installs them
# (system user promfcgi, store directory, no service started); an app is compiled against the
# installed -dev package with pkg-config, shared and --static; the installed programs serve / and
# /metrics behind lighttpd, under the packaged spawn-fcgi.sh; an upgrade to a rebuilt package with
# a higher version keeps the store's counts; purge leaves nothing but the system user (kept, as
# Debian keeps system accounts); then the soname's change: the 0.3.0 packages (libpromfcgi0,
# built from the commit that released them) upgraded to this tree's (libpromfcgi1), the old
# library kept beside the new one for the programs built against it, the store's counts kept. teardown_file undoes everything, even after a failure: the
# packages, the user (if this test created it), the policy-rc.d guard, the processes.
#
# Runs once, in the release pass: the packages are built from the sources, so the ASan pass
# (PROMFCGI_BIN_DIR=build/asan) has nothing else to test here.
load "$(dirname "${BATS_TEST_FILENAME}")/helpers"

# The runtime package is named after the soname (libpromfcgi$(SOVERSION)).
SOV=$(make -s -C "$TOP" --no-print-directory --eval 'print-sov: ; @echo $(SOVERSION)' print-sov)
PKGS=("libpromfcgi$SOV" libpromfcgi-dev promfcgi)
# The runtime package of the soname before (0.3.0's), in the upgrade test.
OLD_SOV=0
OLD_PKGS=("libpromfcgi$OLD_SOV")
DB=/var/lib/promfcgi/promfcgi.db

# Why every test skips, if they do (bats 1.8 cannot skip from setup_file: setup does).
_skip_reason() {
    ((EUID == 0)) || { echo "needs root (apt-get, dpkg, users)"; return; }
    [[ $(cd "$BIN_DIR" && pwd) == "$TOP" ]] \
        || { echo "runs in the release pass only (packages are built from the sources, not $BIN_DIR)"; return; }
    local p
    for p in "${PKGS[@]}" "${OLD_PKGS[@]}"; do
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv 'not-installed'; then
            echo "package $p is already on this machine ($(dpkg-query -W -f='${Status}' "$p")); not touching it"
            return
        fi
    done
    [[ ! -e /usr/lib/promfcgi ]] || { echo "/usr/lib/promfcgi exists (make install PREFIX=/usr?); the packages would overwrite it"; return; }
    [[ ! -e /var/lib/promfcgi ]] || { echo "/var/lib/promfcgi exists; purging the packages would remove it"; return; }
}

setup_file() {
    DEB_SKIP=$(_skip_reason)
    export DEB_SKIP
    [[ -z $DEB_SKIP ]] || return 0
    DEBW=$(mktemp -d /tmp/promfcgi-deb.XXXXXX)
    chmod 0755 "$DEBW"   # apt's _apt user reads the .deb files; www-data and promfcgi reach run/
    export DEBW
    # What this test must undo, written down before it changes anything.
    {
        getent passwd promfcgi >/dev/null && echo "user_existed=1" || echo "user_existed=0"
        getent group promfcgi >/dev/null && echo "group_existed=1" || echo "group_existed=0"
    } >"$DEBW/state"
    # what is named after promfcgi before the packages come (a make install to /usr/local...)
    find /usr /etc /var/lib -name '*promfcgi*' 2>/dev/null | sort >"$DEBW/found.before"
    make -s -C "$TOP" --no-print-directory deb DEB_OUT="$DEBW/v1" >"$DEBW/v1.log" 2>&1 \
        || { cat "$DEBW/v1.log" >&2; return 1; }
    grep -q 'lintian: no error' "$DEBW/v1.log" || { cat "$DEBW/v1.log" >&2; return 1; }
}

setup() {
    [[ -z ${DEB_SKIP:-} ]] || skip "$DEB_SKIP"
}

teardown_file() {
    if [[ -z ${DEBW:-} || $DEBW != /tmp/promfcgi-deb.* ]]; then return 0; fi
    _deb_stop || true
    local p installed=()
    for p in "${PKGS[@]}" "${OLD_PKGS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv 'not-installed' && installed+=("$p")
    done
    if ((${#installed[@]})); then
        echo "teardown: purging ${installed[*]}" >&2
        _apt purge "${installed[@]}" >&2 || dpkg --purge "${installed[@]}" >&2 || true
    fi
    # shellcheck disable=SC1091
    source "$DEBW/state"
    if ((!user_existed)) && getent passwd promfcgi >/dev/null; then userdel promfcgi || true; fi
    if ((!group_existed)) && getent group promfcgi >/dev/null; then groupdel promfcgi || true; fi
    rm -rf /var/lib/promfcgi   # setup_file made sure it was not there before
    rm -rf "$DEBW"
    # the rest of the suite (install.bats, security.bats...) must find the machine as it was
    [[ ! -e /usr/lib/promfcgi ]] || { echo "teardown: /usr/lib/promfcgi left behind" >&2; return 1; }
    if ((!user_existed)) && getent passwd promfcgi >/dev/null; then
        echo "teardown: user promfcgi left behind" >&2; return 1
    fi
}

# apt-get with the policy-rc.d guard (exit 101: no service may start), created only for the call
# when the machine has none; quiet, noninteractive, from the local .deb files only.
_apt() {
    local policy=/usr/sbin/policy-rc.d created=0 rc=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created=1
    fi
    # (waits for dpkg's lock if another apt or dpkg runs on the machine)
    DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300 "$@" || rc=$?
    ((created)) && rm -f "$policy"
    return "$rc"
}

# Stops what the serving test started (pids in $DEBW/pids, newest first): the spawn-fcgi.sh
# pools (SIGTERM: each worker finishes, folds its counts into the store and exits) and lighttpd.
_deb_stop() {
    [[ -f ${DEBW:-}/pids ]] || return 0
    local pids p
    mapfile -t pids < <(tac "$DEBW/pids")
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        retry 200 _gone "$p" || { echo "deb: pid $p still running, killing" >&2; kill -KILL "$p" 2>/dev/null || true; }
    done
    rm -f "$DEBW/pids"
}

# The packaged programs under the packaged spawn-fcgi.sh (as user promfcgi, sockets 0660 group
# www-data, the store in /var/lib/promfcgi), started from /usr/lib/promfcgi.
_pools_start() {
    mkdir -p "$DEBW/run"
    WORKERS=2 RUNDIR=$DEBW/run PROMFCGI_DB=$DB \
        /usr/share/promfcgi/spawn-fcgi.sh >>"$DEBW/pools.log" 2>&1 3>&- &
    echo "$!" >>"$DEBW/pids"
    echo "$!" >"$DEBW/pools.pid"
    retry 100 test -S "$DEBW/run/hello.sock" -a -S "$DEBW/run/metrics.sock" \
        || { cat "$DEBW/pools.log" >&2; return 1; }
}
_pools_stop() {
    local pid
    pid=$(cat "$DEBW/pools.pid")
    kill -TERM "$pid"
    retry 200 _gone "$pid" || { cat "$DEBW/pools.log" >&2; return 1; }
    # every worker folded and left: no hello.fcgi or metrics.fcgi of ours runs any more
    retry 100 _no_workers || { pgrep -a -f '^/usr/lib/promfcgi/' >&2; return 1; }
}
_no_workers() { ! pgrep -f '^/usr/lib/promfcgi/' >/dev/null; }

# "app" (promfcgi_http.h: its handler calls FCGX_*) run once as CGI, as the service user.
_app_once() { # binary
    runuser -u promfcgi -- env REQUEST_METHOD=GET PATH_INFO=/ SERVER_PROTOCOL=HTTP/1.1 \
        PROMFCGI_DB=$DB "$1"
}

@test "make deb: three packages with the expected contents; lintian reports no error" {
    cd "$DEBW/v1"
    local arch ver
    arch=$(dpkg --print-architecture)
    ver=$(dpkg-deb -f promfcgi_*.deb Version)
    run ls
    assert_line "libpromfcgi${SOV}_${ver}_${arch}.deb"
    assert_line "libpromfcgi-dev_${ver}_${arch}.deb"
    assert_line "promfcgi_${ver}_${arch}.deb"
    [[ $(ls ./*.deb | wc -l) == 3 ]]
    run grep -E '^E: ' lintian.log
    assert_failure
    # runtime: the library and its soname link only
    local ma up=${ver%-*}
    ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
    run bash -c "dpkg-deb -c libpromfcgi${SOV}_*.deb | awk '{print \$6}' | grep -v '/$' | grep -v '^./usr/share/doc/'"
    assert_output "./usr/lib/$ma/libpromfcgi.so.$up
./usr/lib/$ma/libpromfcgi.so.$SOV"
    run bash -c "dpkg-deb -c libpromfcgi-dev_*.deb | awk '{print \$6}' | grep -v '/$' | grep -v '^./usr/share/doc/' | sort"
    assert_output "./usr/include/promfcgi.h
./usr/include/promfcgi_http.h
./usr/lib/$ma/libpromfcgi.a
./usr/lib/$ma/libpromfcgi.so
./usr/lib/$ma/pkgconfig/promfcgi.pc
./usr/share/man/man3/promfcgi.3.gz"
    run dpkg-deb -c promfcgi_*.deb
    for f in ./usr/lib/promfcgi/hello.fcgi ./usr/lib/promfcgi/api.fcgi ./usr/lib/promfcgi/metrics.fcgi \
        ./usr/bin/promfcgi ./usr/share/man/man1/promfcgi.1.gz ./usr/lib/sysusers.d/promfcgi.conf \
        ./lib/systemd/system/promfcgi-hello.socket ./lib/systemd/system/promfcgi-metrics.service \
        ./usr/share/promfcgi/spawn-fcgi.sh ./usr/share/promfcgi/nginx-site.conf \
        ./usr/share/promfcgi/lighttpd.conf.in ./usr/share/promfcgi/prometheus/rules/promfcgi.rules.yml \
        ./usr/share/doc/promfcgi/deploy.md; do
        assert_output --partial " $f"
    done
    # the programs use the shared library: a fix in libpromfcgi1 reaches them
    run dpkg-deb -f promfcgi_*.deb Depends
    assert_output --partial "libpromfcgi$SOV (>= $up)"
    run dpkg-deb -f libpromfcgi-dev_*.deb Depends
    assert_output --partial "libpromfcgi$SOV (= $ver)"
}

@test "apt-get install ./*.deb: system user promfcgi, its store directory, no service started" {
    cd "$DEBW/v1"
    run _apt install ./*.deb
    assert_success
    for p in "${PKGS[@]}"; do
        run dpkg-query -W -f='${Status}' "$p"
        assert_output 'install ok installed'
    done
    dpkg -L "${PKGS[@]}" | sort -u >"$DEBW/files.installed"
    # shellcheck disable=SC1091
    source "$DEBW/state"
    if ((!user_existed)); then
        run getent passwd promfcgi
        assert_output --regexp '^promfcgi:x:[0-9]+:[0-9]+:[^:]*:/var/lib/promfcgi:/usr/sbin/nologin$'
        (($(id -u promfcgi) < 1000))   # a system account
    fi
    run stat -c '%U %G %a' /var/lib/promfcgi
    assert_output 'promfcgi promfcgi 750'
    # the programs load the shared library the package installed
    run ldconfig -p
    assert_output --partial "libpromfcgi.so.$SOV "
    run readelf -d /usr/lib/promfcgi/hello.fcgi
    assert_output --partial "[libpromfcgi.so.$SOV]"
    # -lfcgi only where it is used: metrics.fcgi calls no FCGX_* itself
    run readelf -d /usr/lib/promfcgi/metrics.fcgi
    assert_output --partial "[libpromfcgi.so.$SOV]"
    refute_output --partial '[libfcgi.so'
    [[ -f /usr/share/man/man1/promfcgi.1.gz && -x /usr/bin/promfcgi ]]
    # installing started nothing
    run pgrep -f '^/usr/lib/promfcgi/'
    assert_failure
    # the CLI records into the packaged store, as the service user
    run runuser -u promfcgi -- promfcgi define counter deb_backups_total "Backups run." --labels result
    assert_success
    run runuser -u promfcgi -- promfcgi inc deb_backups_total result=ok
    assert_success
}

@test "an app compiled against libpromfcgi-dev with pkg-config: shared, and --static" {
    cat >"$DEBW/app.c" <<'C'
#include <promfcgi_http.h>
/* Request metrics with the prefix app_, a page on /; FastCGI, or one CGI request. */
static const char *const routes[] = {"/", NULL};
static int handle(FCGX_Request *req, pf_request *r, void *arg)
{
	(void)r;
	(void)arg;
	FCGX_FPrintF(req->out, "Content-Type: text/plain\r\n\r\nfrom the app\n");
	return 0;
}
int main(void)
{
	struct pf_http_options o = {.size = sizeof o, .prefix = "app_"};
	return pf_serve(pf_http_new(routes, &o), handle, NULL);
}
C
    cat >"$DEBW/job.c" <<'C'
#include <promfcgi.h>
/* Only records (promfcgi.h): a batch job counting its runs. */
int main(void)
{
	pf_series *s;
	if (pf_open(NULL) != 0)
		return 1;
	s = pf_with(pf_counter("job_runs_total", "Job runs.", NULL), NULL);
	if (s == NULL || pf_inc(s) != 0)
		return 2;
	return pf_close() != 0 ? 3 : 0;
}
C
    cd "$DEBW"
    local cflags=(-std=c11 -Wall -Wextra -Werror)
    # the app calls FCGX_* itself, so it names libfcgi too; the shared libpromfcgi brings the rest
    run bash -c "cc ${cflags[*]} \$(pkg-config --cflags promfcgi fcgi) app.c -o app \$(pkg-config --libs promfcgi fcgi)"
    assert_success
    run readelf -d app
    assert_output --partial "[libpromfcgi.so.$SOV]"
    refute_output --partial '[libsqlite3'
    # a program that only records: -lpromfcgi alone, no libfcgi
    run pkg-config --libs promfcgi
    assert_output --regexp '^-lpromfcgi *$'
    run bash -c "cc ${cflags[*]} \$(pkg-config --cflags promfcgi) job.c -o job \$(pkg-config --libs promfcgi)"
    assert_success
    run readelf -d job
    assert_output --partial "[libpromfcgi.so.$SOV]"
    refute_output --partial '[libfcgi.so'
    # --static: libpromfcgi.a and everything it needs (libfcgi, zlib, libm); a fully static
    # program (the linker warns about dlopen, gethostbyname: SQLite is loaded on first use,
    # which a CGI request never needs)
    run pkg-config --libs --static promfcgi
    assert_output --regexp '-lpromfcgi .*-lfcgi .*-lz'
    run bash -c "cc ${cflags[*]} -static \$(pkg-config --cflags promfcgi) app.c -o app-static \$(pkg-config --libs --static promfcgi)"
    assert_success
    run readelf -d app-static
    assert_output --partial 'no dynamic section'
    # each records into the packaged store
    run _app_once ./app
    assert_success
    assert_output --partial 'from the app'
    run _app_once ./app-static
    assert_success
    assert_output --partial 'from the app'
    run runuser -u promfcgi -- env PROMFCGI_DB=$DB ./job
    assert_success
}

@test "the installed programs serve / and /metrics behind lighttpd, under spawn-fcgi as user promfcgi" {
    getent group www-data >/dev/null || skip "no group www-data (lighttpd's user)"
    _pools_start
    run stat -c '%a %U %G' "$DEBW/run/hello.sock" "$DEBW/run/metrics.sock"
    assert_output "$(printf '660 promfcgi www-data\n660 promfcgi www-data')"
    # lighttpd connects to the pools' sockets (docs/deploy.md), as www-data
    local port l=$DEBW/lighttpd
    port=$(free_port)
    mkdir -p "$l/htdocs"
    chown www-data:www-data "$l"   # lighttpd opens its error log after dropping to www-data
    cat >"$l/lighttpd.conf" <<CONF
server.modules        = ( "mod_fastcgi" )
server.bind           = "127.0.0.1"
server.port           = $port
server.document-root  = "$l/htdocs"
server.errorlog       = "$l/error.log"
server.username       = "www-data"
server.groupname      = "www-data"
\$HTTP["url"] == "/metrics" {
  fastcgi.server = ( "/" => (( "socket" => "$DEBW/run/metrics.sock", "check-local" => "disable" )) )
} else {
  fastcgi.server = ( "/" => (( "socket" => "$DEBW/run/hello.sock", "check-local" => "disable" )) )
}
CONF
    lighttpd -D -f "$l/lighttpd.conf" >"$l/out.log" 2>&1 3>&- &
    echo "$!" >>"$DEBW/pids"
    BASE=http://127.0.0.1:$port
    retry 100 curl -sf -o /dev/null "$BASE/metrics" || { cat "$l"/*.log "$DEBW/pools.log"; fail "lighttpd not serving"; }
    echo "$BASE" >"$DEBW/base"

    local i
    for ((i = 0; i < 25; i++)); do
        run curl -sS --max-time 5 "$BASE/"
        assert_output "Hello, Prometheus!"
    done
    # the workers are the packaged ones, as the service user
    run bash -c "ps -o user=,args= -C hello.fcgi | grep -F ' /usr/lib/promfcgi/hello.fcgi'"
    assert_equal "${#lines[@]}" 2
    assert_line --index 0 --regexp '^promfcgi +/usr/lib/promfcgi/hello.fcgi$'
    run metric_value 'requests_total{method="GET",route="/",code="200"}'
    assert_output 25
    # what the compiled app and the CLI recorded, in the same store
    run metric_value 'app_requests_total{method="GET",route="/",code="200"}'
    assert_output 2
    run metric_value 'job_runs_total'
    assert_output 1
    run metric_value 'deb_backups_total{result="ok"}'
    assert_output 1
    curl -sf "$BASE/metrics" | promtool check metrics
}

@test "upgrade to a rebuilt package with a higher version while serving: the store keeps its counts" {
    [[ -f $DEBW/base ]] || skip "the serving test did not start"
    BASE=$(cat "$DEBW/base")
    local v1 v2 i
    v1=$(dpkg-query -W -f='${Version}' promfcgi)
    v2=$v1+rebuild1
    run make -s -C "$TOP" --no-print-directory deb DEB_OUT="$DEBW/v2" DEB_VERSION="$v2" LINTIAN=no \
        DEB_BUILD_OPTIONS=nocheck
    assert_success
    dpkg --compare-versions "$v2" gt "$v1"
    local uid
    uid=$(id -u promfcgi)
    cd "$DEBW/v2"
    run _apt install ./*.deb
    assert_success
    for p in "${PKGS[@]}"; do
        run dpkg-query -W -f='${Version} ${Status}' "$p"
        assert_output "$v2 install ok installed"
    done
    # the same account, the store where it was
    assert_equal "$(id -u promfcgi)" "$uid"
    [[ -s $DB ]]
    run stat -c '%U %a' /var/lib/promfcgi
    assert_output 'promfcgi 750'
    # the old workers still serve, and see every count
    run metric_value 'requests_total{method="GET",route="/",code="200"}'
    assert_output 25
    # restart onto the upgraded binaries (each old worker folds its counts at SIGTERM)
    _pools_stop
    _pools_start
    retry 100 curl -sf -o /dev/null "$BASE/metrics"
    run metric_value 'requests_total{method="GET",route="/",code="200"}'
    assert_output 25
    run metric_value 'app_requests_total{method="GET",route="/",code="200"}'
    assert_output 2
    run metric_value 'deb_backups_total{result="ok"}'
    assert_output 1
    for ((i = 0; i < 10; i++)); do curl -sf -o /dev/null "$BASE/"; done
    run metric_value 'requests_total{method="GET",route="/",code="200"}'
    assert_output 35
}

@test "purge: nothing left but the system account Debian keeps" {
    _deb_stop
    run _no_workers
    assert_success
    [[ -s $DEBW/files.installed ]]
    run _apt purge "${PKGS[@]}"
    assert_success
    for p in "${PKGS[@]}"; do
        run dpkg-query -W -f='${Status}' "$p"
        refute_output 'install ok installed'
        refute_output --partial 'config-files'
    done
    # every file the packages had installed is gone (directories shared with others stay)
    local f left=()
    while IFS= read -r f; do
        [[ -e $f || -L $f ]] && [[ ! -d $f || $f == */promfcgi* ]] && left+=("$f")
    done <"$DEBW/files.installed"
    assert_equal "${left[*]}" ""
    # nor anything else named after promfcgi (the store, dpkg's and systemd's state) that was
    # not there before
    run bash -c "find /usr /etc /var/lib -name '*promfcgi*' 2>/dev/null | sort | comm -13 '$DEBW/found.before' -"
    assert_output ''
    [[ ! -e /var/lib/promfcgi ]]
    # the account stays (Debian does not remove system users: files may still carry its uid);
    # teardown_file removes it, as this test created it
    run getent passwd promfcgi
    assert_success
}

# The commit whose changelog released version $1 (its first entry), or nothing.
_release_commit() {
    local c
    git -C "$TOP" rev-parse --is-inside-work-tree >/dev/null 2>&1 || return 0
    for c in $(git -C "$TOP" log --format=%H -- debian/changelog); do
        if git -C "$TOP" show "$c:debian/changelog" | head -n 1 | grep -qF "promfcgi ($1-1)"; then
            echo "$c"; return 0
        fi
    done
}

# Issue 17: the soname went from 0 to 1 (docs/abi.md). An installation of 0.3.0 upgrades to this
# tree's packages: libpromfcgi1 comes, libpromfcgi0 stays for the programs built against it,
# and the store keeps its counts.
@test "upgrade from 0.3.0 (libpromfcgi0) to this release (libpromfcgi$SOV): both libraries, an old program still runs, the counts kept" {
    ((SOV != OLD_SOV)) || skip "the soname is still $OLD_SOV"
    local c
    c=$(_release_commit 0.3.0)
    [[ -n $c ]] || skip "no git history with the 0.3.0 release here (not a clone?)"
    # the packages of 0.3.0, built from that commit (a clone of it: make deb copies git's files)
    git clone -q --no-checkout "$TOP" "$DEBW/old-src"
    git -C "$DEBW/old-src" checkout -q "$c"
    run make -s -C "$DEBW/old-src" --no-print-directory deb DEB_OUT="$DEBW/v0" LINTIAN=no \
        DEB_BUILD_OPTIONS=nocheck
    assert_success
    cd "$DEBW/v0"
    run _apt install ./*.deb
    assert_success
    run dpkg-query -W -f='${Version}' "libpromfcgi$OLD_SOV"
    assert_output --regexp '^0\.3\.0-'
    # a program built against 0.3.0's headers (values without NULL, as that API had them); a
    # count and a CGI request of the packaged 0.3.0 hello, in the packaged store
    cat >"$DEBW/old.c" <<'C'
#include <promfcgi.h>
int main(void)
{
	static const char *const labels[] = {"run", NULL};
	static const char *const values[] = {"old"};
	if (pf_open(NULL) != 0)
		return 1;
	pf_series *s = pf_with(pf_counter("soname_test_total", "Built against 0.3.0.", labels), values);
	return s && pf_inc(s) == 0 && pf_close() == 0 ? 0 : 2;
}
C
    run bash -c "cc -std=c11 -Wall -Wextra -Werror \$(pkg-config --cflags promfcgi) '$DEBW/old.c' -o '$DEBW/old' \$(pkg-config --libs promfcgi)"
    assert_success
    chmod 0755 "$DEBW/old"
    run runuser -u promfcgi -- env PROMFCGI_DB=$DB "$DEBW/old"
    assert_success
    run _app_once /usr/lib/promfcgi/hello.fcgi
    assert_output --partial 'Hello, Prometheus!'
    # the upgrade
    cd "$DEBW/v1"
    run _apt install ./*.deb
    assert_success
    local up
    up=$(dpkg-deb -f "promfcgi_"*.deb Version)
    for p in "${PKGS[@]}"; do
        run dpkg-query -W -f='${Version} ${Status}' "$p"
        assert_output "$up install ok installed"
    done
    run dpkg-query -W -f='${Status}' "libpromfcgi$OLD_SOV"
    assert_output 'install ok installed'   # kept: a program still needs it
    run readelf -d /usr/lib/promfcgi/hello.fcgi
    assert_output --partial "[libpromfcgi.so.$SOV]"
    run readelf -d "$DEBW/old"
    assert_output --partial "[libpromfcgi.so.$OLD_SOV]"
    run runuser -u promfcgi -- env PROMFCGI_DB=$DB "$DEBW/old"
    assert_success
    run _app_once /usr/lib/promfcgi/hello.fcgi
    assert_output --partial 'Hello, Prometheus!'
    # every count, before and after, in the store (read by the new release)
    run runuser -u promfcgi -- env PROMFCGI_DB=$DB promfcgi dump
    assert_success
    assert_line 'soname_test_total{run="old"} 2'
    assert_line 'requests_total{method="GET",route="/",code="200"} 2'
    run _apt purge "${PKGS[@]}" "${OLD_PKGS[@]}"
    assert_success
    [[ ! -e /usr/lib/promfcgi && ! -e /var/lib/promfcgi ]]
}
