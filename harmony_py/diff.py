"""Unified diffs of file content for plans: bounded in input, work and output, never of secrets.

A diff is made only when both sides are at most ``MAX_DIFF_BYTES`` of UTF-8
text. The lines both sides share at their start and end are set aside first
(linear work), and difflib, whose matching is quadratic in the worst case, runs
only when what remains differs in at most ``MAX_CHANGED_LINES`` lines a side;
its output is cut after ``MAX_DIFF_LINES`` lines. Otherwise the plan states the
sizes instead.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

MAX_DIFF_BYTES = 1 << 20
MAX_CHANGED_LINES = 2000
MAX_DIFF_LINES = 400
_CONTEXT = 3
_HUNK_HEADER = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@$")


@dataclass(frozen=True)
class NoDiff:
    """Why a difference is summarised instead of shown line by line."""

    reason: str


def bounded_diff(path: str, current: bytes, desired: bytes) -> str | NoDiff:
    """A unified diff from ``current`` to ``desired``, or the reason there is none."""
    if max(len(current), len(desired)) > MAX_DIFF_BYTES:
        return NoDiff(f"too large to diff (over {MAX_DIFF_BYTES // (1 << 20)} MiB)")
    try:
        old = current.decode("utf-8").splitlines(keepends=True)
        new = desired.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return NoDiff("binary content")
    start, old_end, new_end = _changed_window(old, new)
    if max(old_end - start, new_end - start) > MAX_CHANGED_LINES:
        return NoDiff(f"too many changed lines to diff (over {MAX_CHANGED_LINES})")
    # Keep the context lines around the changed window, and number hunks as in the whole file.
    first = max(start - _CONTEXT, 0)
    lines = [
        _shift_hunk(line, first)
        for line in difflib.unified_diff(
            old[first : old_end + _CONTEXT],
            new[first : new_end + _CONTEXT],
            fromfile=f"{path} (current)",
            tofile=f"{path} (desired)",
            n=_CONTEXT,
        )
    ]
    if len(lines) > MAX_DIFF_LINES:
        hidden = len(lines) - MAX_DIFF_LINES
        lines = [*lines[:MAX_DIFF_LINES], f"... {hidden} more diff lines not shown\n"]
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def unified_diff(path: str, current: bytes, desired: bytes) -> str | None:
    """:func:`bounded_diff`, with ``None`` wherever no diff is shown."""
    diff = bounded_diff(path, current, desired)
    return diff if isinstance(diff, str) else None


def _changed_window(old: list[str], new: list[str]) -> tuple[int, int, int]:
    """``(start, old_end, new_end)``: the lines before ``start`` and from the ends on are the same on both sides."""
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start] == new[start]:
        start += 1
    old_end, new_end = len(old), len(new)
    while old_end > start and new_end > start and old[old_end - 1] == new[new_end - 1]:
        old_end -= 1
        new_end -= 1
    return start, old_end, new_end


def _shift_hunk(line: str, offset: int) -> str:
    match = _HUNK_HEADER.match(line.rstrip("\n"))
    if match is None or offset == 0:
        return line
    old_start, old_len, new_start, new_len = match.groups()
    return f"@@ -{int(old_start) + offset}{old_len or ''} +{int(new_start) + offset}{new_len or ''} @@\n"
