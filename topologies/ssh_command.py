"""Turning an argv into the one command line SSH carries, quoted for the remote shell.

SSH has no argv: the server hands one string to the user's login shell. Every
argument is therefore quoted with :func:`shlex.join`, environment variables go
through ``env`` (servers ignore most of what SSH's own ``env`` request sends),
and ``sudo`` is a prefix rather than anything the shell interprets.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence

from harmony_py.errors import ScoreValueError

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

SUDO_PREFIX = ("sudo", "-n", "--")
"""``-n``: never prompt; a sudo needing a password fails at once instead of hanging."""


def command_line(argv: Sequence[str], *, env: Mapping[str, str] | None = None, sudo: bool = False) -> str:
    """The remote command line that runs exactly ``argv``, with ``env`` set, as root when ``sudo``."""
    args = tuple(argv)
    if not args:
        raise ScoreValueError("a command needs at least one argument (the program)")
    for arg in args:
        if "\0" in arg:
            raise ScoreValueError(f"a command argument contains a NUL byte, which no program can receive: {arg!r}")
    prefix: tuple[str, ...] = SUDO_PREFIX if sudo else ()
    if env:
        prefix += ("env", "--", *_assignments(env))
        if "=" in args[0]:
            raise ScoreValueError(f"with env=, the program name must not contain '=': {args[0]!r}")
    return shlex.join((*prefix, *args))


def _assignments(env: Mapping[str, str]) -> list[str]:
    assignments = []
    for name, value in env.items():
        if not _ENV_NAME.fullmatch(name):
            raise ScoreValueError(f"environment variable name {name!r} is not a valid name")
        if "\0" in value:
            raise ScoreValueError(f"environment variable {name} contains a NUL byte")
        assignments.append(f"{name}={value}")
    return assignments
