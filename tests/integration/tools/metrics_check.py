#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks on saved /metrics pages (text format 0.0.4) for the integration tests.

  metrics_check.py monotonic PAGE...   counters (counter families, and _bucket/_count/_sum of
                                       histograms) never decrease from one page to the next, series
                                       by series; a series may appear, never disappear
  metrics_check.py labels PAGE         every label value is valid UTF-8 once unescaped, and only
                                       \\\\, \\" and \\n escapes occur; prints "NAME SERIES" per name
  metrics_check.py samples PAGE        number of sample lines

Pages are read as bytes: a label value that is not UTF-8 must be reported, not decoded away.
Exits 1 with one line per problem on stdout.
"""
import sys


def parse(path):
    """Yields (name, labels tuple of (key, raw bytes value), value bytes) and TYPE lines."""
    types, samples = {}, []
    with open(path, "rb") as f:
        data = f.read()
    for lineno, line in enumerate(data.split(b"\n"), 1):
        if not line:
            continue
        if line.startswith(b"#"):
            parts = line.split(b" ")
            if len(parts) >= 4 and parts[1] == b"TYPE":
                types[parts[2].decode()] = parts[3].decode()
            continue
        i, name = 0, b""
        while i < len(line) and line[i:i + 1] not in (b"{", b" "):
            i += 1
        name = line[:i].decode("ascii")
        labels = []
        if line[i:i + 1] == b"{":
            i += 1
            while line[i:i + 1] != b"}":
                eq = line.index(b"=", i)
                key = line[i:eq].decode("ascii")
                if line[eq + 1:eq + 2] != b'"':
                    raise SystemExit(f"{path}:{lineno}: label {key} not quoted")
                j, raw = eq + 2, bytearray()
                while line[j:j + 1] != b'"':
                    if j >= len(line):
                        raise SystemExit(f"{path}:{lineno}: unterminated label value")
                    if line[j:j + 1] == b"\\":
                        esc = line[j + 1:j + 2]
                        if esc not in (b"\\", b'"', b"n"):
                            raise SystemExit(f"{path}:{lineno}: bad escape \\{esc!r}")
                        raw += b"\n" if esc == b"n" else esc
                        j += 2
                    else:
                        raw += line[j:j + 1]
                        j += 1
                labels.append((key, bytes(raw)))
                i = j + 1
                if line[i:i + 1] == b",":
                    i += 1
            i += 1
        value = line[i:].split()[0]
        samples.append((name, tuple(labels), value))
    return types, samples


def family_type(types, name):
    for suffix in ("", "_bucket", "_count", "_sum", "_total"):
        if suffix and name.endswith(suffix) and name[: -len(suffix)] in types:
            return types[name[: -len(suffix)]]
    return types.get(name, "untyped")


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    cmd, pages, problems = sys.argv[1], sys.argv[2:], []
    if cmd == "monotonic":
        last = {}
        for page in pages:
            types, samples = parse(page)
            seen = set()
            for name, labels, value in samples:
                if family_type(types, name) not in ("counter", "histogram"):
                    continue
                key = (name, labels)
                seen.add(key)
                v = float(value)
                if key in last and v < last[key][0]:
                    problems.append(f"{name}{dict(labels)} went from {last[key][0]} ({last[key][1]}) "
                                    f"to {v} ({page})")
                last[key] = (v, page)
            for key in last:
                if key not in seen:
                    problems.append(f"{key[0]}{dict(key[1])} vanished in {page}")
    elif cmd == "labels":
        _, samples = parse(pages[0])
        per_name = {}
        for name, labels, _ in samples:
            per_name[name] = per_name.get(name, 0) + 1
            for key, raw in labels:
                try:
                    raw.decode("utf-8", errors="strict")
                except UnicodeDecodeError:
                    problems.append(f"{name} label {key}={raw!r} is not UTF-8")
        for name in sorted(per_name):
            print(name, per_name[name])
    elif cmd == "samples":
        print(len(parse(pages[0])[1]))
    else:
        raise SystemExit(__doc__)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
