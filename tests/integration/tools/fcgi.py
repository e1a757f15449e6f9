#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Minimal FastCGI client for the integration tests: talks straight to a worker's unix socket.

  fcgi.py get SOCK [URI...]      one GET per URI (default "/"), one connection each; prints the
                                 status code of each response ("200" when no Status header);
                                 QUERY_STRING is what follows the URI's "?"
  fcgi.py get SOCK -             the same, the URIs read from stdin, one a line
  fcgi.py get SOCK --param NAME=VALUE [--param ...] [URI...]
                                 the same, each request with these FastCGI parameters too
                                 (e.g. HTTP_X_REQUEST_START=t=...)
  SOCK is a unix socket's path, or HOST:PORT for a TCP one.
  fcgi.py garbage SOCK [N]       writes N (default 4096) random bytes, then closes
  fcgi.py hugeparam SOCK         BEGIN_REQUEST + a PARAMS record whose name length claims
                                 0x7ffffff0 bytes (libfcgi's ReadParams would try to allocate it;
                                 CVE-2025-23016 was an overflow there), then closes

Every socket operation has a timeout, so a stuck worker fails the test instead of hanging it.
"""
import os
import socket
import struct
import sys
import time

TIMEOUT = 10.0
VERSION, BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 1, 3, 4, 5, 6
RESPONDER = 1


def record(rtype, content, req_id=1):
    return struct.pack(">BBHHBx", VERSION, rtype, req_id, len(content), 0) + content


def nv_len(n):
    # 1 byte below 128, else 4 bytes with the high bit set (FastCGI spec, 3.4)
    return struct.pack(">B", n) if n < 128 else struct.pack(">I", n | 0x80000000)


def params(pairs):
    body = b"".join(nv_len(len(k)) + nv_len(len(v)) + k + v for k, v in pairs)
    return record(PARAMS, body) + record(PARAMS, b"")


def connect(path):
    # A worker just started by spawn-fcgi may not have bound its socket yet: retry, bounded
    # (100 x 50 ms), only while the socket is missing or refuses.
    tcp = "/" not in path and ":" in path
    for attempt in range(100):
        s = socket.socket(socket.AF_INET if tcp else socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        try:
            if tcp:
                host, port = path.rsplit(":", 1)
                s.connect((host, int(port)))
            else:
                s.connect(path)
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            if attempt == 99:
                raise
            time.sleep(0.05)


def get(path, uri, extra=()):
    s = connect(path)
    query = uri.split("?", 1)[1] if "?" in uri else ""
    env = [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", uri.encode()),
           (b"SCRIPT_NAME", uri.split("?")[0].encode()), (b"QUERY_STRING", query.encode()),
           (b"SERVER_PROTOCOL", b"HTTP/1.1"), (b"GATEWAY_INTERFACE", b"CGI/1.1")]
    env += [(k.encode(), v.encode()) for k, v in extra]
    s.sendall(record(BEGIN_REQUEST, struct.pack(">HB5x", RESPONDER, 0)) + params(env)
              + record(STDIN, b""))
    buf, out = b"", b""
    while True:  # read records until END_REQUEST (bounded: the socket timeout, then EOF)
        while len(buf) < 8:
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit("fcgi.py: connection closed before END_REQUEST")
            buf += chunk
        _, rtype, _, clen, plen = struct.unpack(">BBHHB", buf[:7])
        need = 8 + clen + plen
        while len(buf) < need:
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit("fcgi.py: connection closed mid-record")
            buf += chunk
        content, buf = buf[8:8 + clen], buf[need:]
        if rtype == STDOUT:
            out += content
        elif rtype == END_REQUEST:
            break
    s.close()
    head = out.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"status:"):
            return line.split()[1].decode()
    return "200"


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "get":
        args, extra = sys.argv[3:], []
        while len(args) >= 2 and args[0] == "--param" and "=" in args[1]:
            extra.append(tuple(args[1].split("=", 1)))
            args = args[2:]
        uris = args or ["/"]
        if uris == ["-"]:
            uris = [line.strip() for line in sys.stdin if line.strip()]
        for uri in uris:
            print(get(path, uri, extra), flush=True)
    elif cmd == "garbage":
        s = connect(path)
        s.sendall(os.urandom(int(sys.argv[3]) if len(sys.argv) > 3 else 4096))
        s.close()
    elif cmd == "hugeparam":
        s = connect(path)
        body = nv_len(0x7FFFFFF0) + nv_len(1) + b"A" * 64
        s.sendall(record(BEGIN_REQUEST, struct.pack(">HB5x", RESPONDER, 0)) + record(PARAMS, body))
        s.close()
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
