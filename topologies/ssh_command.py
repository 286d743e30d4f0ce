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


KILL_GRACE_S = 2.0
"""After its timeout, a command gets SIGTERM, and this much later SIGKILL."""


def command_line(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    sudo: bool = False,
    timeout_s: float | None = None,
) -> str:
    """The remote command line that runs exactly ``argv``, with ``env`` set, as root when ``sudo``.

    With ``timeout_s`` the remote side enforces it with coreutils' ``timeout``:
    sshd does not act on SSH signal requests, and closing the channel does not
    stop a program that neither reads nor writes, so only the host can end it.
    It sits inside ``sudo`` so that it may signal a command running as root.
    """
    args = tuple(argv)
    if not args:
        raise ScoreValueError("a command needs at least one argument (the program)")
    for arg in args:
        if "\0" in arg:
            raise ScoreValueError(f"a command argument contains a NUL byte, which no program can receive: {arg!r}")
    prefix: tuple[str, ...] = SUDO_PREFIX if sudo else ()
    if timeout_s is not None:
        if timeout_s <= 0:
            raise ScoreValueError(f"a command timeout must be positive, got {timeout_s}")
        prefix += ("timeout", f"--kill-after={KILL_GRACE_S:g}", f"{timeout_s:.3f}")
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
