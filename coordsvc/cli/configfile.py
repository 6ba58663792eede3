"""TOML config files for ``coordsvc serve --config FILE`` and ``coordsvc config check FILE``.

A file holds ``coordsvc serve``'s settings at the top level, one key per flag,
named as the flag with underscores (``--tick-ms`` is ``tick_ms = 2000``). The
keys, their types and their checks all come from the ``serve`` parser, so a
flag added there is a valid file key at once. A switch (``--observer``) is a
boolean, a flag with an integer type is an integer, anything else a string.

``check_text`` collects every problem instead of stopping at the first, so an
operator fixes a file in one pass. ``tomllib`` reports no positions for
values, so each problem's line is found by scanning the text for the first
top-level assignment of its key (or the header of the table it is in); a key
written only inside a multi-line string or array is not found, and its
problem is reported without a line.
"""

from __future__ import annotations

import argparse
import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coordsvc.cli.config import INT_TYPES

__all__ = [
    "Problem",
    "ConfigFileError",
    "settings_of",
    "check_text",
    "load_file",
    "apply_file_defaults",
]

# Flags that are not settings: --config names the file itself.
NOT_SETTINGS = frozenset({"help", "config"})

_TOML_LINE = re.compile(r"at line (\d+), column (\d+)\)?$")
_HEADER = re.compile(r"^\s*\[\[?\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)")
_ASSIGN = re.compile(r"^\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)\s*[.=]")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config file; ``line`` is 1-based, None when unknown."""

    line: int | None
    message: str

    def format(self, path: str) -> str:
        return f"{path}:{self.line}: {self.message}" if self.line else f"{path}: {self.message}"


class ConfigFileError(Exception):
    """A config file that cannot be used; ``problems`` says everything wrong with it."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(p.format(path) for p in problems))


def settings_of(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """File key -> the ``serve`` flag it sets."""
    return {
        a.dest: a
        for a in parser._actions
        if a.option_strings and a.dest not in NOT_SETTINGS and a.dest != argparse.SUPPRESS
    }


def _kind(action: argparse.Action) -> type:
    if action.nargs == 0:
        return bool
    if action.type in INT_TYPES:
        return int
    if action.type is float:
        return float
    return str


def _key_lines(text: str) -> dict[str, int]:
    """First line of each top-level key (bare, quoted or dotted) or table header."""
    lines: dict[str, int] = {}
    in_table = False
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.lstrip()
        if stripped.startswith("["):
            in_table = True
            if m := _HEADER.match(raw):
                lines.setdefault(m.group(1).strip("\"'"), number)
            continue
        if not in_table and (m := _ASSIGN.match(raw)):
            lines.setdefault(m.group(1).strip("\"'"), number)
    return lines


def _check_value(key: str, value: Any, action: argparse.Action) -> str | None:
    """Why ``value`` is not acceptable for ``action``, or None when it is."""
    kind = _kind(action)
    toml_type = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}[kind]
    if isinstance(value, dict):
        return f"{key} must be {toml_type}, not a table"
    ok = type(value) is kind or (kind is float and type(value) is int)
    if not ok:
        return f"{key} must be {toml_type}, got {type(value).__name__} {value!r}"
    if kind is bool:
        return None
    try:
        converted = action.type(str(value)) if action.type else value
    except (ValueError, argparse.ArgumentTypeError) as exc:
        return f"{key}: {exc}"
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(repr(c) for c in action.choices)
        return f"{key} must be one of {choices}, got {value!r}"
    return None


def _cross_checks(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, message) for settings that are fine alone but not together."""
    out = []
    lo, hi = values.get("min_session_timeout_ms"), values.get("max_session_timeout_ms")
    if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        out.append(("min_session_timeout_ms", f"min_session_timeout_ms ({lo}) exceeds max ({hi})"))
    return out


def check_text(text: str, parser: argparse.ArgumentParser) -> tuple[dict[str, Any], list[Problem]]:
    """(settings, problems) of a TOML document; settings holds only the valid keys."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_LINE.search(msg)
        if m is None:
            return {}, [Problem(None, f"not valid TOML: {msg}")]
        what = msg[: m.start()].rstrip(" (")
        return {}, [Problem(int(m.group(1)), f"not valid TOML: {what} (column {m.group(2)})")]
    known = settings_of(parser)
    lines = _key_lines(text)
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for key, value in doc.items():
        action = known.get(key)
        if action is None:
            problems.append(Problem(lines.get(key), _unknown(key, value, known)))
            continue
        why = _check_value(key, value, action)
        if why is None:
            values[key] = value
        else:
            problems.append(Problem(lines.get(key), why))
    for key, message in _cross_checks(values):
        problems.append(Problem(lines.get(key), message))
    problems.sort(key=lambda p: (p.line or 0, p.message))
    return values, problems


def _unknown(key: str, value: Any, known: Mapping[str, argparse.Action]) -> str:
    if isinstance(value, dict):
        return f"unknown table [{key}]: settings go at the top level, outside any table"
    close = difflib.get_close_matches(key.replace("-", "_"), list(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown key {key!r}{hint}"


def load_file(path: str | Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The settings in ``path``; ConfigFileError listing every problem if there is any."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(str(path), [Problem(None, f"cannot read: {exc}")]) from None
    values, problems = check_text(text, parser)
    if problems:
        raise ConfigFileError(str(path), problems)
    return values


def apply_file_defaults(parser: argparse.ArgumentParser, values: Mapping[str, Any]) -> None:
    """Make each file setting the flag's default (env and flags are applied on top)."""
    known = settings_of(parser)
    for key, value in values.items():
        action = known[key]
        if action.nargs == 0 or action.type is None:
            action.default = value
        else:
            action.default = action.type(str(value))
