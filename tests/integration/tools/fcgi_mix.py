#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""FastCGI client for valgrind.bats and graceful.bats: talks straight to a worker's unix socket.

  fcgi_mix.py hello SOCK N       N requests to a hello worker, one connection each, in a fixed
                                 rotation: GET /, HEAD /, GET of 404 paths, POST / (405, with a
                                 body), unknown methods, hostile bytes (NUL, quotes, backslashes,
                                 newlines, invalid UTF-8, a 6,000-byte path, no REQUEST_URI, no
                                 REQUEST_METHOD). Checks each status against route.c's rules and
                                 prints one line per requests_total series:
                                   requests_total{method="GET",route="/",code="200"} 1234
                                 then "sent N".
  fcgi_mix.py scrape SOCK N      N scrapes of a metrics worker in rotation: text 0.0.4, OpenMetrics
                                 (HTTP_ACCEPT), gzip (HTTP_ACCEPT_ENCODING), a name[] filter
                                 (QUERY_STRING), HEAD, POST (405). Checks status, Content-Type,
                                 that gzip bodies decompress, that filtered pages hold only the
                                 asked-for families; prints "scraped N".
  fcgi_mix.py inflight SOCK PID CUT
                                 one GET / whose request is in the worker's hands when it gets
                                 SIGTERM: BEGIN_REQUEST and the first part of PARAMS are sent, up
                                 to CUT ("pairs:N": the first N name-value pairs; "bytes:N": the
                                 first N bytes of the pairs, which may end inside one);
                                 once the worker PID is blocked reading them (/proc/PID/syscall),
                                 SIGTERM is sent to it; once it has taken it, or holds it blocked
                                 (/proc/PID/status), the rest of PARAMS and an empty STDIN
                                 follow. Prints the events, then the status and the body, or
                                 "no response: ..." when the connection closes without END_REQUEST.

Every socket operation has a timeout and every wait is bounded: a stuck worker fails the test
instead of hanging it.
"""
import gzip
import os
import signal
import socket
import struct
import sys
import time

# The wire format (records, name-value lengths, connect with retry) is fcgi.py's.
import fcgi
from fcgi import BEGIN_REQUEST, END_REQUEST, PARAMS, RESPONDER, STDIN, STDOUT, connect, nv_len, record

STDERR = 7
fcgi.TIMEOUT = 20.0     # generous: the worker may run under valgrind


def nv_pairs(pairs):
    return b"".join(nv_len(len(k)) + nv_len(len(v)) + k + v for k, v in pairs)


def params_records(pairs):
    """PARAMS content split into records of at most 65535 bytes, then the empty one."""
    body, out = nv_pairs(pairs), b""
    for i in range(0, len(body), 65535):
        out += record(PARAMS, body[i:i + 65535])
    return out + record(PARAMS, b"")


def begin():
    return record(BEGIN_REQUEST, struct.pack(">HB5x", RESPONDER, 0))


def stdin_records(data):
    out = b""
    for i in range(0, len(data), 65535):
        out += record(STDIN, data[i:i + 65535])
    return out + record(STDIN, b"")


def read_response(s):
    """STDOUT bytes up to END_REQUEST; None if the peer closes first."""
    buf, out = b"", b""
    while True:
        while len(buf) < 8:
            chunk = s.recv(65536)
            if not chunk:
                return None, out
            buf += chunk
        _, rtype, _, clen, plen = struct.unpack(">BBHHB", buf[:7])
        need = 8 + clen + plen
        while len(buf) < need:
            chunk = s.recv(65536)
            if not chunk:
                return None, out
            buf += chunk
        content, buf = buf[8:8 + clen], buf[need:]
        if rtype == STDOUT:
            out += content
        elif rtype == END_REQUEST:
            return out, out


def split_response(out):
    head, _, body = out.partition(b"\r\n\r\n")
    status, headers = "200", {}
    for line in head.split(b"\r\n"):
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    if "status" in headers:
        status = headers["status"].split()[0]
    return status, headers, body


def request(path, pairs, body=b""):
    s = connect(path)
    s.sendall(begin() + params_records(pairs) + stdin_records(body))
    out, partial = read_response(s)
    s.close()
    if out is None:
        raise SystemExit("fcgi_mix.py: connection closed before END_REQUEST (got %r)" % partial[:200])
    return split_response(out)


def cgi_env(method, uri, extra=()):
    env = []
    if method is not None:
        env.append((b"REQUEST_METHOD", method))
    if uri is not None:
        env += [(b"REQUEST_URI", uri), (b"SCRIPT_NAME", uri.split(b"?")[0]),
                (b"QUERY_STRING", uri.partition(b"?")[2])]
    env += [(b"SERVER_PROTOCOL", b"HTTP/1.1"), (b"GATEWAY_INTERFACE", b"CGI/1.1")]
    return env + list(extra)


METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

# (method bytes or None, uri bytes or None, request body); the expected labels follow route.c.
HELLO_MIX = [
    (b"GET", b"/", b""),
    (b"HEAD", b"/", b""),
    (b"GET", b"/nope", b""),
    (b"POST", b"/", b"a=1&b=2"),
    (b"GET", b"/?q=1", b""),
    (b"GET", b"/metricsfoo", b""),
    (b"PUT", b"/", b"x" * 3000),
    (b"DELETE", b"/x", b""),
    (b"OPTIONS", b"/", b""),
    (b"PATCH", b"/", b""),
    (b"BREW", b"/", b""),                                   # unknown method -> other
    (b"get", b"/", b""),                                    # methods are case-sensitive
    (b"GET", b"/%22%5C%0A%00%ff", b""),                     # percent-encoded hostile bytes
    (b"GET", b"/\"quote\\back\nline", b""),                 # raw quote, backslash, newline
    (b"GET", b"/\xff\xfe\xc3(invalid-utf8", b""),
    (b"GET", b"/" + b"a" * 6000, b""),                      # 6,000-byte path
    (b"GET\x00X", b"/", b""),                               # NUL in the method: "GET" (C string)
    (b"GET", b"/\x00/../etc", b""),                          # NUL in the path: "/" (C string)
    (b"GET", None, b""),                                    # no REQUEST_URI / SCRIPT_NAME
    (None, b"/", b""),                                      # no REQUEST_METHOD
    (b"GET", b"/", b""),
]


def expected_labels(method, uri):
    # libfcgi hands the app NUL-terminated strings: a value is read up to its first NUL.
    method = method.split(b"\0")[0] if method is not None else None
    uri = uri.split(b"\0")[0] if uri is not None else None
    m = method.decode("latin-1") if method is not None else None
    m = m if m in METHODS else "other"
    r = "/" if uri is not None and uri.split(b"?")[0] == b"/" else "unmatched"
    if r != "/":
        code = "404"
    else:
        code = "200" if m in ("GET", "HEAD") else "405"
    return m, r, code


def cmd_hello(path, n):
    counts = {}
    for i in range(n):
        method, uri, body = HELLO_MIX[i % len(HELLO_MIX)]
        m, r, code = expected_labels(method, uri)
        status, headers, got = request(path, cgi_env(method, uri), body)
        if status != code:
            raise SystemExit("fcgi_mix.py: request %d (%r %r): status %s, want %s"
                             % (i, method, uri and uri[:60], status, code))
        if code == "200" and m == "GET" and got != b"Hello, Prometheus!\n":
            raise SystemExit("fcgi_mix.py: request %d: body %r" % (i, got[:100]))
        if m == "HEAD" and got:
            raise SystemExit("fcgi_mix.py: request %d: HEAD with a body" % i)
        key = 'requests_total{method="%s",route="%s",code="%s"}' % (m, r, code)
        counts[key] = counts.get(key, 0) + 1
    for key in sorted(counts):
        print(key, counts[key])
    print("sent", n)


SCRAPE_MIX = [
    ("text", [], "text/plain; version=0.0.4"),
    ("openmetrics", [(b"HTTP_ACCEPT", b"application/openmetrics-text; version=1.0.0; charset=utf-8")],
     "application/openmetrics-text"),
    ("gzip", [(b"HTTP_ACCEPT_ENCODING", b"gzip")], "text/plain; version=0.0.4"),
    ("filter", [], "text/plain; version=0.0.4"),
    ("om+gzip+filter", [(b"HTTP_ACCEPT", b"application/openmetrics-text"),
                        (b"HTTP_ACCEPT_ENCODING", b"deflate, gzip;q=0.5")],
     "application/openmetrics-text"),
    ("head", [], "text/plain; version=0.0.4"),
    ("post", [], None),
]
FILTER_QS = b"name[]=requests_total&name[]=active_requests"


def cmd_scrape(path, n):
    for i in range(n):
        kind, extra, ctype = SCRAPE_MIX[i % len(SCRAPE_MIX)]
        method = {"head": b"HEAD", "post": b"POST"}.get(kind, b"GET")
        uri = b"/metrics?" + FILTER_QS if "filter" in kind else b"/metrics"
        status, headers, body = request(path, cgi_env(method, uri, extra),
                                        b"x=1" if kind == "post" else b"")
        if kind == "post":
            if status != "405":
                raise SystemExit("fcgi_mix.py: scrape %d (post): status %s" % (i, status))
            continue
        if status != "200":
            raise SystemExit("fcgi_mix.py: scrape %d (%s): status %s: %r" % (i, kind, status, body[:200]))
        if not headers.get("content-type", "").startswith(ctype):
            raise SystemExit("fcgi_mix.py: scrape %d (%s): Content-Type %r"
                             % (i, kind, headers.get("content-type")))
        if kind == "head":
            if body:
                raise SystemExit("fcgi_mix.py: scrape %d: HEAD with a body" % i)
            continue
        if "gzip" in kind:
            if headers.get("content-encoding") != "gzip":
                raise SystemExit("fcgi_mix.py: scrape %d (%s): not gzipped" % (i, kind))
            body = gzip.decompress(body)
        text = body.decode("utf-8")
        if "openmetrics" in ctype and not text.endswith("# EOF\n"):
            raise SystemExit("fcgi_mix.py: scrape %d (%s): no '# EOF' at the end" % (i, kind))
        names = {l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ")}
        if "filter" in kind:
            if not names or not names <= {"requests_total", "requests", "active_requests"}:
                raise SystemExit("fcgi_mix.py: scrape %d (%s): families %s" % (i, kind, sorted(names)))
        elif "promfcgi_metric_handler_requests" not in " ".join(names):
            raise SystemExit("fcgi_mix.py: scrape %d (%s): families %s" % (i, kind, sorted(names)))
    print("scraped", n)


def syscall_nr(pid):
    with open("/proc/%d/syscall" % pid) as f:
        return f.read().split()[0]


def term_state(pid):
    """'taken' (handled), 'held' (pending while the worker blocks it) or 'pending'."""
    bit, pending, blocked = 1 << (signal.SIGTERM - 1), False, False
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("SigPnd:", "ShdPnd:")) and int(line.split()[1], 16) & bit:
                pending = True
            if line.startswith("SigBlk:") and int(line.split()[1], 16) & bit:
                blocked = True
    return "taken" if not pending else "held" if blocked else "pending"


def cmd_inflight(path, pid, where):
    env = cgi_env(b"GET", b"/") + [(b"HTTP_HOST", b"127.0.0.1"), (b"HTTP_USER_AGENT", b"graceful")]
    body = nv_pairs(env)
    kind, _, n = where.partition(":")
    cut = len(nv_pairs(env[:int(n)])) if kind == "pairs" else int(n)
    s = connect(path)
    # An empty PARAMS record would end the params: with nothing to cut, send BEGIN_REQUEST alone.
    s.sendall(begin() + (record(PARAMS, body[:cut]) if cut else b""))
    print("sent BEGIN_REQUEST and %d of %d PARAMS bytes" % (cut, len(body)), flush=True)
    # Bounded (500 x 10 ms): the worker has accepted and sits in read(2) (x86-64 syscall 0)
    # on our connection, i.e. inside FCGX_Accept_r reading the request's params.
    for _ in range(500):
        if syscall_nr(pid) == "0":
            break
        time.sleep(0.01)
    else:
        raise SystemExit("fcgi_mix.py: worker %d never blocked in read (syscall %s)"
                         % (pid, syscall_nr(pid)))
    print("worker blocked in read(2)", flush=True)
    os.kill(pid, signal.SIGTERM)
    # Bounded: the signal has reached the worker: handled, or held pending because the worker
    # blocks it while it has a request in hand (and takes it once the request is done).
    for _ in range(500):
        state = term_state(pid)
        if state != "pending":
            break
        time.sleep(0.01)
    else:
        raise SystemExit("fcgi_mix.py: SIGTERM still pending in worker %d" % pid)
    print("SIGTERM sent and %s" % state, flush=True)
    try:
        s.sendall(record(PARAMS, body[cut:]) + record(PARAMS, b"") + record(STDIN, b""))
        print("sent the rest of PARAMS and an empty STDIN", flush=True)
        out, partial = read_response(s)
    except OSError as e:
        print("no response: %s" % e)
        return
    if out is None:
        print("no response: connection closed before END_REQUEST (%d STDOUT bytes)" % len(partial))
        return
    status, headers, got = split_response(out)
    print("status", status)
    print("body", got.decode("utf-8", "replace").rstrip("\n"))


def main():
    if sys.argv[1:2] == ["inflight"] and len(sys.argv) == 5:
        cmd_inflight(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    if len(sys.argv) != 4 or sys.argv[1] not in ("hello", "scrape"):
        raise SystemExit(__doc__)
    cmd, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    {"hello": cmd_hello, "scrape": cmd_scrape}[cmd](path, n)


if __name__ == "__main__":
    main()
