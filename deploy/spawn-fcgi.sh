#!/bin/bash
# SPDX-License-Identifier: MIT
# promfcgi on a host without systemd: spawn-fcgi binds each FastCGI socket and starts the
# programs as an unprivileged user; multiwatch keeps WORKERS app workers alive (spawn-fcgi -F
# alone restarts nothing). The app is the hello app unless APP names yours (any FastCGI program,
# e.g. one built on pf_serve). Stays in the foreground (run it from runit, daemontools, s6, an
# init script...); SIGTERM or SIGINT stops both pools: multiwatch passes the signal on, each
# worker finishes its request, folds its counts into the store and exits.
#
# Run as root. Settings (environment):
#   APP=/usr/lib/promfcgi/hello.fcgi        the app serving every path but /metrics
#   WORKERS=4                               app processes
#   RUNDIR=/run/promfcgi                    where the sockets are created: metrics.sock, and
#   APP_SOCKET=$RUNDIR/hello.sock           the app's (default: RUNDIR/<APP's name>.sock)
#   PROMFCGI_DB=/var/lib/promfcgi/promfcgi.db   the store, shared by every process
#   PROMFCGI_USER=promfcgi PROMFCGI_GROUP=promfcgi   who the programs run as
#   SOCKET_GROUP=www-data                   the web server's group: sockets are 0660, owner
#                                           PROMFCGI_USER, group SOCKET_GROUP; nobody else may
#                                           talk FastCGI to the workers
#   LIBEXECDIR=/usr/lib/promfcgi            where make install put hello.fcgi and metrics.fcgi
#                                           (make install writes its own LIBEXECDIR here)
# The web server then uses the sockets: deploy/nginx-site.conf (fastcgi_pass unix:...), lighttpd
# with "socket" => "/run/promfcgi/hello.sock" and no "bin-path", Apache's ProxyPass
# "unix:/run/promfcgi/hello.sock|fcgi://promfcgi-hello/", or Caddy's reverse_proxy
# unix//run/promfcgi/hello.sock with transport fastcgi (docs/deploy.md).
set -euo pipefail

WORKERS=${WORKERS:-4}
RUNDIR=${RUNDIR:-/run/promfcgi}
PROMFCGI_DB=${PROMFCGI_DB:-/var/lib/promfcgi/promfcgi.db}
PROMFCGI_USER=${PROMFCGI_USER:-promfcgi}
PROMFCGI_GROUP=${PROMFCGI_GROUP:-promfcgi}
SOCKET_GROUP=${SOCKET_GROUP:-www-data}
LIBEXECDIR=${LIBEXECDIR:-/usr/lib/promfcgi}
APP=${APP:-$LIBEXECDIR/hello.fcgi}
APP_SOCKET=${APP_SOCKET:-$RUNDIR/$(basename "$APP" .fcgi).sock}
export PROMFCGI_DB
[ -x "$APP" ] || { echo "spawn-fcgi.sh: APP $APP is not an executable file" >&2; exit 1; }

# The store's directory belongs to the workers (they create the database, its -wal/-shm and
# the .stage directory); the socket directory must be reachable by the web server.
install -d -m 0755 "$RUNDIR"
install -d -m 0750 -o "$PROMFCGI_USER" -g "$PROMFCGI_GROUP" "$(dirname "$PROMFCGI_DB")"
rm -f "$APP_SOCKET" "$RUNDIR/metrics.sock"

spawn-fcgi -n -s "$RUNDIR/metrics.sock" -M 0660 -U "$PROMFCGI_USER" -G "$SOCKET_GROUP" \
    -u "$PROMFCGI_USER" -g "$PROMFCGI_GROUP" -- "$LIBEXECDIR/metrics.fcgi" &
metrics_pool=$!
spawn-fcgi -n -s "$APP_SOCKET" -M 0660 -U "$PROMFCGI_USER" -G "$SOCKET_GROUP" \
    -u "$PROMFCGI_USER" -g "$PROMFCGI_GROUP" -- /usr/bin/multiwatch -f "$WORKERS" -- "$APP" &
app_pool=$!

stop() {
    trap - INT TERM
    kill -TERM "$app_pool" "$metrics_pool" 2>/dev/null || true
    wait "$app_pool" "$metrics_pool" 2>/dev/null || true
    rm -f "$APP_SOCKET" "$RUNDIR/metrics.sock"
    exit "${1:-0}"
}
trap "stop 0" INT TERM
# Either pool exiting on its own (e.g. multiwatch gave up on a crashing worker) stops both, so
# that the supervisor running this script notices and restarts it.
rc=0
wait -n "$app_pool" "$metrics_pool" || rc=$?
echo "spawn-fcgi.sh: a pool exited (status $rc); stopping" >&2
stop 1
