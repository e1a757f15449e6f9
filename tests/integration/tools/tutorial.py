#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turns the README's "Instrument your app in five minutes" into files tutorial.bats runs as is.

  tutorial.py README DIR

writes into DIR:
  app.c        the section's C program (the first ```c block), and app.path: where the README
               says to save it (the first `~/...c` path of the section's text, e.g. ~/notes/notes.c)
  tutorial.sh  every ```sh block of the section, in order, each run with its stdout in
               DIR/out/N (N = 1, 2, ...), its commands traced on stderr; the shell starts in the
               checkout (the README's commands begin there), stops at the first failing command
  expect/N     for a ```sh block followed directly by a ```text block: that block, the output
               the README promises for it
Nothing of the blocks is changed: the test runs what a reader would type.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from mdblocks import blocks  # noqa: E402

SECTION = "Instrument your app in five minutes"


def section_text(readme):
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## " + re.escape(SECTION) + r"\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    if not m:
        raise SystemExit(f"tutorial.py: no section '## {SECTION}' in {readme}")
    return m.group(1)


def main():
    readme, out = sys.argv[1], sys.argv[2]
    mine = [b for b in blocks(readme) if b.heading == SECTION]
    programs = [b for b in mine if b.lang == "c"]
    if not programs:
        raise SystemExit("tutorial.py: the section has no ```c block")
    prose = re.sub(r"```.*?```", "", section_text(readme), flags=re.S)
    m = re.search(r"`(~/[^`\s]+\.c)`", prose)
    if not m:
        raise SystemExit("tutorial.py: the section never says where to save its program (`~/....c`)")
    os.makedirs(os.path.join(out, "out"), exist_ok=True)
    os.makedirs(os.path.join(out, "expect"), exist_ok=True)
    with open(os.path.join(out, "app.c"), "w") as f:
        f.write(programs[0].text)
    with open(os.path.join(out, "app.path"), "w") as f:
        f.write(m.group(1) + "\n")
    script = ["set -euo pipefail", 'cd "$TUTORIAL_TOP"', "exec 3>&1", "set -x"]
    n = 0
    for i, b in enumerate(mine):
        if b.lang != "sh":
            continue
        n += 1
        script.append(f'exec >"$TUTORIAL_OUT/out/{n}"   # README.md:{b.line}')
        script.append(b.text.rstrip("\n"))
        if i + 1 < len(mine) and mine[i + 1].lang == "text":
            with open(os.path.join(out, "expect", str(n)), "w") as f:
                f.write(mine[i + 1].text)
    script.append("exec >&3")
    with open(os.path.join(out, "tutorial.sh"), "w") as f:
        f.write("\n".join(script) + "\n")
    print(n)


if __name__ == "__main__":
    main()
