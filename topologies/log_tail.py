"""The end of a program's output, fit to show: a few short lines, secrets masked.

A failed start or a sick service is reported with the last lines its program
printed, in a plan line or an error. Those lines may hold the program's own
configuration (a database URL in a traceback), so every secret value of its
environment is masked first, and the output is bounded whatever the program
wrote.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

from harmony_py.values import MASK, Secret

TAIL_LINES = 5
"""Lines of a log shown with a failure."""
LINE_CHARS = 300
"""Longest line shown; a longer one is cut."""


def last_lines(text: str, secrets: Iterable[str | Secret], *, lines: int = TAIL_LINES, cut: bool = False) -> list[str]:
    """The last ``lines`` non-empty lines of ``text``, secrets masked, each at most :data:`LINE_CHARS` long.

    ``secrets`` may hold plain values too (only :class:`Secret` ones and plain
    strings given on purpose are masked: callers pass what is secret). ``cut``:
    ``text`` is the end of a longer output, so its first line is a fragment; it
    is dropped, as it could hold the end of a secret that masking cannot recognise.
    """
    masked = hide_secrets(text, secrets).splitlines()[1 if cut else 0 :]
    kept = [line.strip() for line in masked if line.strip()][-lines:] if lines > 0 else []
    return [line if len(line) <= LINE_CHARS else line[: LINE_CHARS - 1] + "…" for line in kept]


def hide_secrets(text: str, secrets: Iterable[str | Secret]) -> str:
    """``text`` with each secret value masked: a failing program may print its own configuration.

    A secret that is a URL (``DATABASE_URL``) has its password masked on its
    own too, in case the program prints the password, or the URL without it.
    """
    hidden: set[str] = set()
    for value in secrets:
        plain = value.reveal() if isinstance(value, Secret) else value
        if not plain:
            continue
        hidden.add(plain)
        try:
            password = urlsplit(plain).password
        except ValueError:
            password = None
        if password:
            hidden |= {password, unquote(password)}
    for secret in sorted(hidden, key=len, reverse=True):  # a URL before the password inside it
        text = text.replace(secret, MASK)
    return text
