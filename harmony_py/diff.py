"""Unified diffs of file content for plans, never of secrets."""

from __future__ import annotations

import difflib

MAX_DIFF_LINES = 400


def unified_diff(path: str, current: bytes, desired: bytes) -> str | None:
    """A unified diff from ``current`` to ``desired``, or ``None`` for binary content."""
    try:
        old = current.decode("utf-8")
        new = desired.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = list(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{path} (current)",
            tofile=f"{path} (desired)",
        )
    )
    if len(lines) > MAX_DIFF_LINES:
        hidden = len(lines) - MAX_DIFF_LINES
        lines = [*lines[:MAX_DIFF_LINES], f"... {hidden} more diff lines not shown\n"]
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
