#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Security of the deployment (issue 4, item 5): the deploy templates (allow-list and basic-auth
# examples for /metrics), socket and run-directory modes, and, run as root with
# PROMFCGI_USER=nobody, privilege drop of every worker and ownership/modes of the store files.
# Each test starts and stops its own stack.
load helpers

SERVICE_USER=${PROMFCGI_TEST_USER:-nobody}
PROM_ADDR=127.0.0.3     # the "Prometheus server": any loopback address other than 127.0.0.1
OTHER_ADDR=127.0.0.2    # someone else on the host

teardown() {
    stop_stack || true
    forget_stack
    [[ -n ${SEC_DIR:-} ]] && rm -rf "$SEC_DIR"
    return 0
}

# status [CURL-ARGS...] PATH: status code of GET $BASE$PATH.
status() { curl -s --max-time 10 -o /dev/null -w '%{http_code}' "${@:1:$#-1}" "$BASE${!#}"; }

@test "deploy: templates render, and pass nginx -t / lighttpd -tt / apache2 -t / caddy validate with the basic-auth examples enabled" {
    local d=$BATS_TEST_TMPDIR f hash
    mkdir -p "$d/run/tmp" "$d/run/htdocs" "$d/run/caddy"
    htpasswd -b -c -B "$d/htpasswd" prometheus secret 2>/dev/null
    "$TOP/deploy/render" "$TOP/deploy/nginx.conf.in" "$d/nginx.conf" PORT=1 RUNDIR="$d/run" \
        APP_SOCKET="$d/run/app.sock" USER="$(id -un)" GROUP="$(id -gn)" PROMETHEUS_ADDR=10.0.0.0/8
    "$TOP/deploy/render" "$TOP/deploy/lighttpd.conf.in" "$d/lighttpd.conf" PORT=1 RUNDIR="$d/run" \
        APP_SOCKET="$d/run/app.sock" USER= GROUP= PROMETHEUS_ADDR=10.0.0.0/8
    "$TOP/deploy/render" "$TOP/deploy/lighttpd-cgi.conf.in" "$d/lighttpd-cgi.conf" PORT=1 RUNDIR="$d/run" \
        DB="$d/db" APP_BIN=/bin/true METRICS_BIN=/bin/true USER= GROUP= PROMETHEUS_ADDR=10.0.0.0/8
    "$TOP/deploy/render" "$TOP/deploy/apache.conf.in" "$d/apache.conf" PORT=1 RUNDIR="$d/run" \
        APP_SOCKET="$d/run/app.sock" USER=www-data GROUP=www-data PROMETHEUS_ADDR=10.0.0.0/8
    "$TOP/deploy/render" "$TOP/deploy/apache-cgi.conf.in" "$d/apache-cgi.conf" PORT=1 RUNDIR="$d/run" \
        DB="$d/db" APP_BIN=/bin/true APP_DIR=/bin METRICS_BIN=/bin/true METRICS_DIR=/bin \
        USER=www-data GROUP=www-data PROMETHEUS_ADDR=10.0.0.0/8
    "$TOP/deploy/render" "$TOP/deploy/Caddyfile.in" "$d/Caddyfile" PORT=1 RUNDIR="$d/run" \
        APP_SOCKET="$d/run/app.sock" PROMETHEUS_ADDR=10.0.0.0/8
    # The allow-list is there, the auth lines are examples (commented).
    run grep -E '^\s*(allow 127\.0\.0\.1|allow 10\.0\.0\.0/8|deny  all);' "$d/nginx.conf"
    assert_equal "${#lines[@]}" 3
    grep -qE '^\s*# auth_basic_user_file ' "$d/nginx.conf"
    for f in lighttpd.conf lighttpd-cgi.conf; do
        grep -qE '^\s*\$HTTP\["remote-ip"\] != "10\.0\.0\.0/8"' "$d/$f"
        grep -qE '^\s*# auth\.require' "$d/$f"
    done
    for f in apache.conf apache-cgi.conf; do
        grep -qE '^\s*Require ip 127\.0\.0\.1 10\.0\.0\.0/8$' "$d/$f"
        grep -qE '^\s*# AuthUserFile ' "$d/$f"
    done
    grep -qE '^\s*@denied not remote_ip 127\.0\.0\.1 10\.0\.0\.0/8$' "$d/Caddyfile"
    grep -qE '^\s*# basicauth \{' "$d/Caddyfile"
    # Uncomment the examples, point them at our password file: still valid configs.
    sed -E -e 's/^(\s*)# (satisfy all|auth_basic)/\1\2/' -e "s|/etc/nginx/promfcgi.htpasswd|$d/htpasswd|" \
        "$d/nginx.conf" >"$d/nginx-auth.conf"
    for f in lighttpd lighttpd-cgi; do
        sed -E -e 's/^(\s*)# ?(server\.modules +\+=|auth\.|  +"require")/\1\2/' \
            -e "s|/etc/lighttpd/promfcgi.htpasswd|$d/htpasswd|" "$d/$f.conf" >"$d/$f-auth.conf"
        grep -q '^\s*auth.require' "$d/$f-auth.conf"
    done
    for f in apache apache-cgi; do
        sed -E -e 's/^(\s*)# (LoadModule auth|Require valid-user|Auth)/\1\2/' \
            -e "s|/etc/apache2/promfcgi.htpasswd|$d/htpasswd|" "$d/$f.conf" >"$d/$f-auth.conf"
        grep -q '^\s*AuthUserFile' "$d/$f-auth.conf"
        grep -q '^\s*Require valid-user' "$d/$f-auth.conf"
    done
    hash=$(caddy hash-password --plaintext secret)
    sed -E -e 's/^(\s*)# (basicauth|\s*prometheus|\})/\1\2/' -e "s|prometheus HASH|prometheus $hash|" \
        "$d/Caddyfile" >"$d/Caddyfile-auth"
    grep -q '^\s*basicauth {' "$d/Caddyfile-auth"
    grep -q '^\s*prometheus \$2' "$d/Caddyfile-auth"
    grep -q '^\s*auth_basic_user_file' "$d/nginx-auth.conf"
    for f in nginx.conf nginx-auth.conf; do
        run nginx -t -p "$d/run" -c "$d/$f" -e "$d/nginx-t.log"
        assert_success
    done
    for f in lighttpd.conf lighttpd-auth.conf lighttpd-cgi.conf lighttpd-cgi-auth.conf; do
        run lighttpd -tt -f "$d/$f"
        assert_success
    done
    for f in apache.conf apache-auth.conf apache-cgi.conf apache-cgi-auth.conf; do
        run /usr/sbin/apache2 -t -f "$d/$f"
        assert_success
    done
    for f in Caddyfile Caddyfile-auth; do
        run env HOME="$d/run/caddy" XDG_CONFIG_HOME="$d/run/caddy" XDG_DATA_HOME="$d/run/caddy" \
            caddy validate --config "$d/$f" --adapter caddyfile
        assert_success
    done
}

# One stack as root with the service user and a Prometheus address; everything checked on it.
# t_privdrop SERVER [MODE]
t_privdrop() {
    local server=$1 mode=${2:-fastcgi} p uid name f mode_bits owner
    ((EUID == 0)) || skip "needs root"
    id -u "$SERVICE_USER" >/dev/null 2>&1 || skip "no user $SERVICE_USER"
    # Outside bats' 0700 temp dirs: the service user must reach RUNDIR and the store.
    SEC_DIR=$(mktemp -d /tmp/promfcgi-sec.XXXXXX)
    chmod 0711 "$SEC_DIR"
    # ... and must be able to execute the programs: a checkout may sit under a 0700 directory
    # (CI clones into one), so run copies from a directory it can reach.
    mkdir -p "$SEC_DIR/bin/app" "$SEC_DIR/bin/metrics"
    cp "$BIN_DIR/app/hello.fcgi" "$SEC_DIR/bin/app/"
    cp "$BIN_DIR/metrics/metrics.fcgi" "$SEC_DIR/bin/metrics/"
    chmod -R a+rX "$SEC_DIR/bin"
    BIN_DIR=$SEC_DIR/bin BATS_FILE_TMPDIR=$SEC_DIR PROMFCGI_USER=$SERVICE_USER \
        PROMETHEUS_ADDR=$PROM_ADDR start_stack "$server" "$mode"

    # /metrics: loopback and the Prometheus address only; the app stays open to everyone.
    assert_equal "/ from $OTHER_ADDR: $(status --interface "$OTHER_ADDR" /)" "/ from $OTHER_ADDR: 200"
    assert_equal "/metrics from 127.0.0.1: $(status /metrics)" "/metrics from 127.0.0.1: 200"
    assert_equal "/metrics from $PROM_ADDR: $(status --interface "$PROM_ADDR" /metrics)" "/metrics from $PROM_ADDR: 200"
    assert_equal "/metrics from $OTHER_ADDR: $(status --interface "$OTHER_ADDR" /metrics)" "/metrics from $OTHER_ADDR: 403"
    assert_equal "/metrics?x from $OTHER_ADDR: $(status --interface "$OTHER_ADDR" '/metrics?x')" "/metrics?x from $OTHER_ADDR: 403"

    # Every FastCGI process (and lighttpd, nginx's and Apache's workers, Caddy, multiwatch) runs
    # as the service user; only scripts/stack itself and nginx's and Apache's masters stay root.
    local want_uid seen=0 ppid
    want_uid=$(id -u "$SERVICE_USER")
    while read -r p name; do
        uid=$(awk '/^Uid:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
        ppid=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
        case $name in
            *scripts/stack*|*"nginx: master"*) continue ;;
            apache2\ *) [[ $ppid == "$STACK_PID" ]] && continue ;;   # the master
        esac
        [[ $uid == "$want_uid" ]] || fail "pid $p ($name) runs as uid $uid, not $SERVICE_USER"
        [[ ${name%% *} == */hello.fcgi ]] && seen=$((seen + 1))
    done < <(stack_procs | awk '{ p = $1; $1 = ""; print p, $0 }')
    # (In CGI mode a hello process lives for one request: none is expected between requests.)
    [[ $mode == cgi ]] || assert_equal "hello workers as $SERVICE_USER: $seen" "hello workers as $SERVICE_USER: $WORKERS"

    # Run directory 0750 and sockets without access for others, both the service user's.
    assert_equal "rundir $(stat -c '%a %U' "$STACK_DIR/run")" "rundir 750 $SERVICE_USER"
    for f in "$STACK_DIR"/run/*.sock*; do
        [[ -e $f ]] || continue
        read -r mode_bits owner < <(stat -c '%a %U' "$f")
        echo "# $server $mode: socket ${f##*/} $mode_bits $owner" >&3
        [[ $owner == "$SERVICE_USER" ]] || fail "$f owned by $owner"
        ((8#$mode_bits & 8#007)) && fail "$f mode $mode_bits lets others connect"
        [[ ${f##*/} == cgid.sock* || $mode_bits == 660 ]] || fail "$f mode $mode_bits, want 660"
    done

    # Store, WAL, -shm, staging directory and files: the service user's, nothing for others,
    # files no more than 0660. (A CGI process's staging file, if any, is gone by now.)
    for f in "$STACK_DB" "$STACK_DB-wal" "$STACK_DB-shm" "$STACK_DB.stage" "$STACK_DB.stage"/*; do
        [[ $mode == cgi && $f == "$STACK_DB.stage/*" ]] && continue
        [[ -e $f ]] || fail "$f missing"
        read -r mode_bits owner < <(stat -c '%a %U' "$f")
        echo "# $server $mode: ${f#"$STACK_DIR/"} $mode_bits $owner" >&3
        [[ $owner == "$SERVICE_USER" ]] || fail "$f owned by $owner, not $SERVICE_USER"
        ((8#$mode_bits & 8#007)) && fail "$f mode $mode_bits: others have access"
        [[ -d $f ]] || ! ((8#$mode_bits & 8#111)) || fail "$f mode $mode_bits: executable"
    done

    stop_stack
    run grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$STACK_DIR/stack.log" "$STACK_DIR"/run/*.log
    assert_failure
}

@test "nginx as root with PROMFCGI_USER=$SERVICE_USER: workers dropped, files theirs and 0660 at most, /metrics allow-list" { t_privdrop nginx; }
@test "lighttpd as root with PROMFCGI_USER=$SERVICE_USER: workers dropped, files theirs and 0660 at most, /metrics allow-list" { t_privdrop lighttpd; }
@test "apache as root with PROMFCGI_USER=$SERVICE_USER: workers dropped, files theirs and 0660 at most, /metrics allow-list" { t_privdrop apache; }
@test "caddy as root with PROMFCGI_USER=$SERVICE_USER: caddy and workers dropped, files theirs and 0660 at most, /metrics allow-list" { t_privdrop caddy; }
@test "lighttpd CGI as root with PROMFCGI_USER=$SERVICE_USER: programs dropped, files theirs and 0660 at most, /metrics allow-list" { t_privdrop lighttpd cgi; }
@test "apache CGI as root with PROMFCGI_USER=$SERVICE_USER: programs dropped, files theirs and 0660 at most, /metrics allow-list" { t_privdrop apache cgi; }

@test "nginx without PROMFCGI_USER: sockets 0660, run directory 0750" {
    start_stack nginx
    assert_equal "rundir $(stat -c %a "$STACK_DIR/run")" "rundir 750"
    assert_equal "$(stat -c '%n %a' "$STACK_DIR"/run/*.sock | sed 's|.*/||')" $'hello.sock 660\nmetrics.sock 660'
    assert_equal "/metrics from $OTHER_ADDR: $(status --interface "$OTHER_ADDR" /metrics)" "/metrics from $OTHER_ADDR: 403"
    stop_stack
}

# Apache refuses to serve as root: its children run as www-data, who reach the sockets (0660) and
# RUNDIR (0750) through their group, while the workers stay ours.
@test "apache as root without PROMFCGI_USER: children as www-data, sockets root:www-data 0660, run directory 0750" {
    ((EUID == 0)) || skip "needs root"
    start_stack apache
    assert_equal "rundir $(stat -c '%a %U:%G' "$STACK_DIR/run")" "rundir 750 root:www-data"
    assert_equal "$(stat -c '%n %a %U:%G' "$STACK_DIR"/run/*.sock | sed 's|.*/||')" \
        $'hello.sock 660 root:www-data\nmetrics.sock 660 root:www-data'
    local children
    children=$(ps -o user= --ppid "$(pgrep -P "$STACK_PID" -x apache2)" | sort -u)
    assert_equal "apache children as: $children" "apache children as: www-data"
    assert_equal "/ : $(status /)" "/ : 200"
    assert_equal "/metrics from $OTHER_ADDR: $(status --interface "$OTHER_ADDR" /metrics)" "/metrics from $OTHER_ADDR: 403"
    stop_stack
}
