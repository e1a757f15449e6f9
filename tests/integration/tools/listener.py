#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs a FastCGI worker on a listening socket this tool keeps a hold of, to break it under it.

  listener.py shutdown SOCK ERRFILE PROGRAM [ARG...]
  listener.py sigterm  SOCK ERRFILE PROGRAM [ARG...]

Makes a unix listening socket at SOCK, starts PROGRAM with it as fd 0 (as spawn-fcgi does) and
its stderr in ERRFILE, and has one GET / answered through it.  Then:
  shutdown  shuts the listening socket down (shutdown(2), both ways; the worker shares it): every
            accept on it fails from then on, as when a supervisor's socket goes bad;
  sigterm   sends the worker SIGTERM, the ordinary stop.
Prints "status NNN" (the GET's) and "exit N" (or "signal N"), the worker's end; waits for it at
most 10 s, then kills it and prints "still running".
"""
import os
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fcgi  # noqa: E402  (the tests' FastCGI client, beside this file)


def main():
    mode, path, errfile, argv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    with open(errfile, "wb") as err:
        worker = subprocess.Popen(argv, stdin=listener.fileno(), stdout=subprocess.DEVNULL,
                                  stderr=err)
    try:
        print("status", fcgi.get(path, "/"), flush=True)
        if mode == "shutdown":
            listener.shutdown(socket.SHUT_RDWR)
        else:
            worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=10)
        print(f"exit {code}" if code >= 0 else f"signal {-code}")
    except subprocess.TimeoutExpired:
        print("still running")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        listener.close()


if __name__ == "__main__":
    main()
