#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`make run` as a person runs it: on a terminal of its own, then stopped.

  make_run.py TOP STOP [VAR=VALUE...]

Runs `make -C TOP run VAR=VALUE...` on a new pseudo-terminal, as its controlling terminal and in
its foreground process group (what an interactive shell does for a command), waits for the
stack's "ready" line (at most 120 s: make may build first), GETs / once, then stops it:
  ctrl-c   types ^C on the terminal: the kernel sends SIGINT to the terminal's foreground
           process group, whatever it is then;
  sigterm  sends SIGTERM to the stack (the process of scripts/stack under make).
Waits at most 60 s for make to end (then kills its process group), and prints what the
terminal showed, then "GET / -> STATUS" and "exit N" (or "signal N", or "still running").
"""
import os
import pty
import re
import select
import signal
import sys
import time
import urllib.request


def read_until(fd, out, pattern, limit):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if re.search(pattern, out.decode(errors="replace")):
            return True
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the terminal's other side is gone
                return re.search(pattern, out.decode(errors="replace")) is not None
            if not chunk:
                break
            out += chunk
    return re.search(pattern, out.decode(errors="replace")) is not None


def stack_pid(make_pid):
    """The pid of scripts/stack under make (it may have re-executed itself: same pid), or None."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if ppid == make_pid and any(a.endswith(b"scripts/stack") for a in args) \
                and b"--check" not in args:
            return int(d)
    return None


def main():
    top, stop, assigns = sys.argv[1], sys.argv[2], sys.argv[3:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("make", ["make", "--no-print-directory", "-C", top, "run", *assigns])
    out = bytearray()
    status = "none"
    try:
        if not read_until(fd, out, r"\) ready", 120):
            raise RuntimeError("no ready line within 120 s")
        port = re.search(r"http://127\.0\.0\.1:(\d+)/", out.decode(errors="replace")).group(1)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
                status = r.status
        except Exception as e:  # noqa: BLE001  (shown to the test)
            status = f"failed: {e}"
        if stop == "ctrl-c":
            os.write(fd, b"\x03")
        elif stop == "sigterm":
            os.kill(stack_pid(pid), signal.SIGTERM)
    except Exception as e:  # noqa: BLE001  (shown to the test; the stack is stopped below)
        out += f"\nmake_run.py: {e!r}\n".encode()
    end = time.monotonic() + 60
    code = None
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 65536)
                out += chunk
            except OSError:
                pass
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            code = f"exit {os.WEXITSTATUS(st)}" if os.WIFEXITED(st) else f"signal {os.WTERMSIG(st)}"
            break
    if code is None:  # the stack first (its own process group, maybe): it stops its tree
        code = "still running"
        stack = stack_pid(pid)
        if stack:
            os.kill(stack, signal.SIGTERM)
            time.sleep(10)
        os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    while select.select([fd], [], [], 0.2)[0]:  # what is left on the terminal
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    sys.stdout.write(out.decode(errors="replace").replace("\r\n", "\n"))
    print(f"GET / -> {status}")
    print(code)


if __name__ == "__main__":
    main()
