"""A small datadriven runner (etcd's testdata format, our own code).

A file is a sequence of blocks::

    # comments and blank lines between blocks are kept as they are
    command arg arg
    ----
    expected output (one or more lines, no blank lines)

``run_file(path, handler, rewrite)`` calls ``handler(command, args)`` for each
block and compares its output; with ``rewrite`` it writes the actual
outputs back into the file instead (then review the diff: only commit
changes you understand). Returns a list of mismatch descriptions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Block", "parse", "run_file"]

SEPARATOR = "----"


@dataclass
class Block:
    lead: list[str]  # comments / blank lines before the command
    line: int  # 1-based line of the command
    command: str
    expected: list[str]


def parse(text: str) -> tuple[list[Block], list[str]]:
    """Blocks, plus the trailing lines after the last block."""
    lines = text.splitlines()
    blocks: list[Block] = []
    lead: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            lead.append(line)
            i += 1
            continue
        if i + 1 >= len(lines) or lines[i + 1] != SEPARATOR:
            raise ValueError(f"line {i + 1}: command {line!r} is not followed by {SEPARATOR!r}")
        start = i + 1
        i += 2
        expected: list[str] = []
        while i < len(lines) and lines[i].strip():
            expected.append(lines[i])
            i += 1
        blocks.append(Block(lead, start, line, expected))
        lead = []
    return blocks, lead


def render(blocks: list[Block], tail: list[str]) -> str:
    out: list[str] = []
    for b in blocks:
        out += b.lead
        out += [b.command, SEPARATOR, *b.expected]
    out += tail
    return "\n".join(out) + "\n"


def run_file(path: Path, handler: Callable[[str, list[str]], str], rewrite: bool) -> list[str]:
    blocks, tail = parse(path.read_text())
    problems: list[str] = []
    for b in blocks:
        command, *args = b.command.split()
        try:
            actual = handler(command, args).rstrip("\n")
        except Exception as exc:  # report where, then let the test fail with it
            raise AssertionError(f"{path.name}:{b.line}: {b.command!r} raised {exc!r}") from exc
        got = [ln.rstrip() or "." for ln in actual.splitlines()] or ["ok"]
        if got != b.expected:
            if rewrite:
                b.expected = got
            else:
                problems.append(
                    f"{path.name}:{b.line}: {b.command}\n--- expected\n"
                    + "\n".join(b.expected)
                    + "\n--- actual\n"
                    + "\n".join(got)
                )
    if rewrite:
        path.write_text(render(blocks, tail))
    return problems
