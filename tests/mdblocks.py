# SPDX-License-Identifier: MIT
"""The fenced code blocks of a Markdown file, for the checks that run the docs' examples
(tests/docs compiles the C ones, tests/integration/tutorial.bats runs the README's tutorial).

A block opens with a line of three or more backticks, indented or not (a block inside a list item
is indented), followed by its info string ("c", "sh", "text", ...: the first word is its
language), and closes with a line of at least as many backticks at the same indentation. The
indentation of the opening line is taken off every line of the block.
"""
import re

FENCE = re.compile(r"^( *)(`{3,})(.*)$")


class Block:
    def __init__(self, lang, info, text, line, heading):
        self.lang = lang        # first word of the info string, "" if none
        self.info = info        # the whole info string
        self.text = text        # the block's content, each line ending in "\n"
        self.line = line        # 1-based line number of the opening fence
        self.heading = heading  # the last "#" heading before the block, "" if none

    def __repr__(self):
        return f"Block({self.lang!r}, line {self.line}, under {self.heading!r})"


def blocks(path):
    """Every fenced block of the file at path, in order."""
    out, heading, cur = [], "", None
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip("\n")
        if cur is None:
            m = FENCE.match(line)
            if m:
                indent, ticks, info = len(m.group(1)), m.group(2), m.group(3).strip()
                lang = info.split()[0] if info else ""
                cur = (indent, ticks, info, lang, n, [])
            elif line.startswith("#"):
                heading = line.lstrip("#").strip()
            continue
        indent, ticks, info, lang, start, body = cur
        if line.strip().startswith(ticks) and line.strip().strip("`") == "" \
                and len(line) - len(line.lstrip(" ")) == indent:
            out.append(Block(lang, info, "".join(body), start, heading))
            cur = None
            continue
        body.append(line[indent:] + "\n" if line[:indent].strip() == "" else line + "\n")
    if cur is not None:
        raise SystemExit(f"{path}:{cur[4]}: a code block is never closed")
    return out
