#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes a curl config (curl -K FILE) of N requests to random paths on BASE, to stdout.

  random_paths.py BASE N [SEED]

Each path is 1-64 random bytes, every byte percent-encoded (so NUL, control bytes, quotes,
backslashes and invalid UTF-8 all occur); one in four also gets a random query string. Seeded,
so a failure can be replayed.
"""
import random
import sys


def enc(rng, lo, hi):
    return "".join("%%%02X" % rng.randrange(256) for _ in range(rng.randint(lo, hi)))


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    base, n = sys.argv[1], int(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 4)
    for _ in range(n):
        url = base + "/" + enc(rng, 1, 64)
        if rng.random() < 0.25:
            url += "?" + enc(rng, 0, 32)
        print(f'url = "{url}"')
        print('output = "/dev/null"')


if __name__ == "__main__":
    main()
