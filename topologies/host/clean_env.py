"""The environment every program harmony_py starts receives: a small named base, plus what the score asks for.

Nothing else of the operator's environment reaches a program: not
``PGPASSWORD``, ``PGHOST``, ``PGSERVICEFILE``, ``PGSSLMODE``, ``DOCKER_*``,
``LC_*`` or ``LANGUAGE``. A variable in the shell that ran harmony_py would
otherwise change what a server or command does (libpq prefers ``PGPASSWORD``
to a password file; a locale changes the text harmony_py parses) without the
score saying so. See adr/0015-command-runners-clean-environment-and-cancellation.md.

Both runners use the same names: :class:`~topologies.host.local_runner.LocalCommandRunner`
takes their values from the running process, the SSH runner
(:class:`~topologies.host.ssh.runner.SshCommandRunner`) from the login
(or ``sudo``'s) environment on the host, so that the host's own ``PATH`` still
finds its programs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from harmony_py.errors import ScoreValueError

PASSED_THROUGH = ("PATH", "HOME", "USER", "LOGNAME", "TMPDIR")
"""Taken from the environment the program is started from, when set there: where programs,
the user's home and temporary files are. None of them changes what a program connects to."""

FIXED = {"LANG": "C.UTF-8"}
"""Set to the same value everywhere: output harmony_py parses is never translated,
and UTF-8 text stays UTF-8. ``LC_ALL``, ``LC_*`` and ``LANGUAGE`` are never passed."""

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""``PATH`` when the starting environment has none (as Debian's sudo ``secure_path``)."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_variables(env: Mapping[str, str]) -> None:
    """Refuse a variable no program could receive: a name that is not a name, a value holding NUL."""
    for name, value in env.items():
        if not _NAME.fullmatch(name):
            raise ScoreValueError(f"environment variable name {name!r} is not a valid name")
        if "\0" in value:
            raise ScoreValueError(f"environment variable {name} contains a NUL byte")


def local_environment(env: Mapping[str, str] | None = None, *, source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The complete environment of a program started on this machine: the base, then ``env``.

    ``source`` is where the passed-through values come from (``os.environ``
    unless given).
    """
    origin = os.environ if source is None else source
    base = {name: origin[name] for name in PASSED_THROUGH if name in origin}
    base.setdefault("PATH", DEFAULT_PATH)
    extra = dict(env or {})
    check_variables(extra)
    return {**base, **FIXED, **extra}


def remote_base_words() -> str:
    """The base as words for a POSIX shell on the host, expanded there from its own environment.

    ``${NAME+"NAME=$NAME"}`` gives one word when the variable is set (even
    empty) and none when it is not, so an unset ``TMPDIR`` stays unset.
    """
    words = [f'"PATH=${{PATH:-{DEFAULT_PATH}}}"']
    words += [f'${{{name}+"{name}=${name}"}}' for name in PASSED_THROUGH if name != "PATH"]
    words += [f"{name}={value}" for name, value in FIXED.items()]
    return " ".join(words)
