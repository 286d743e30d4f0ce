"""The command lines SSH carries for a command, and the one that stops it again.

SSH has no argv: the server hands one string to the user's login shell. Every
argument is therefore quoted with :func:`shlex.join`, and ``sudo`` is a prefix
rather than anything the shell interprets. The line is bytes: a path that is
not UTF-8 (a ``str`` holding surrogate escapes, as ``os.fsdecode`` makes) goes
to the host byte for byte, as a local ``exec`` would pass it.

Each command runs under a small POSIX shell wrapper (adr/0015) that

- makes it the leader of a process group of its own (``setsid`` when the
  login shell's is not already that) with the clean base environment of
  :mod:`topologies.host.clean_env`, expanded on the host;
- reads the caller's variables from the first lines of stdin (never from the
  command line, where ``ps`` on the host and asyncssh's log would show them)
  and exports them;
- reports its process group on the first line of stderr
  (:data:`PGID_MARKER`), then ``exec``\\ s the command.

Stopping a command is then :func:`stop_line` on a second channel: SIGTERM to
the group, SIGKILL after :data:`KILL_GRACE_S`. sshd refuses SSH ``signal``
requests, and closing the channel does not stop a program that neither reads
nor writes, so this is how a cancelled or timed-out command ends on the host.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence

from harmony_py.errors import ScoreValueError

from ..clean_env import check_variables, remote_base_words
from ..stopping import KILL_GRACE_S

SUDO_PREFIX = ("sudo", "-n", "--")
"""``-n``: never prompt; a sudo needing a password fails at once instead of hanging."""

PGID_MARKER = b"harmony-pgid "
"""Starts the first line of a wrapped command's stderr; the process group follows."""

BACKSTOP_S = KILL_GRACE_S + 3.0
"""The host's own ``timeout`` ends a command this long after the client's deadline:
it stops the command only when the client could not (it was killed, the link died)."""

_HEADER_SAFE = re.compile(rb"[A-Za-z0-9_./:,@+=-]")

_INNER = """while :; do
IFS= read -r __harmony_v || exit 125
[ -n "$__harmony_v" ] || break
__harmony_x=$(printf '%bx' "${__harmony_v#*=}")
export "${__harmony_v%%=*}=${__harmony_x%x}"
done
unset __harmony_v __harmony_x
printf 'harmony-pgid %s\\n' "$$" >&2
exec "$@"
"""
"""Runs as the group leader: exports the header's variables, reports its group, becomes the command.

A header cut short (no empty line: the client is gone) runs nothing."""

_OUTER = f"""read -r _ _ _ _ g _ </proc/$$/stat
if [ "$g" = "$$" ]; then s=; else s=setsid; fi
exec $s env -i {remote_base_words()} sh -c {shlex.quote(_INNER)} sh "$@"
"""
"""Becomes the command in a process group of its own, with the clean base environment, forking nothing.

Under sshd the login shell leads its own session and ``exec``\\s this shell, which then
already leads the group; elsewhere (a shell that forked, some sudo set-ups) ``setsid``
makes one. Every step ``exec``\\s the next, so the command's exit status is the channel's."""

_STOP = f"""for g do kill -TERM "-$g" 2>/dev/null; done
i=0
while [ "$i" -lt {round(KILL_GRACE_S * 10)} ]; do
alive=
for g do kill -0 "-$g" 2>/dev/null && alive=1; done
[ -n "$alive" ] || exit 0
sleep 0.1
i=$((i + 1))
done
for g do kill -KILL "-$g" 2>/dev/null; done
exit 0
"""
"""TERM each group, wait up to the grace for all to be gone, KILL what is left. (dash's kill takes no ``--``.)"""


def command_line(argv: Sequence[str], *, sudo: bool = False, timeout_s: float | None = None) -> bytes:
    """The remote command line that runs exactly ``argv`` under the wrapper, as root when ``sudo``.

    With ``timeout_s`` the host also bounds the command with coreutils'
    ``timeout``, :data:`BACKSTOP_S` after the client's own deadline; it runs as
    the group leader, so its group stays the one :func:`stop_line` signals.
    """
    args = tuple(argv)
    if not args:
        raise ScoreValueError("a command needs at least one argument (the program)")
    for arg in args:
        if "\0" in arg:
            raise ScoreValueError(f"a command argument contains a NUL byte, which no program can receive: {arg!r}")
    bound = _bound(timeout_s)
    prefix = SUDO_PREFIX if sudo else ()
    return _wire(shlex.join((*prefix, "sh", "-c", _OUTER, "sh", *bound, *args)))


def nested_words(argv: Sequence[str], *, timeout_s: float | None = None) -> str:
    """Shell text that runs ``argv`` as :func:`command_line` does, from inside a wrapped command.

    The same clean base environment, variables read from the first stdin lines,
    and ``timeout`` backstop, but no process group of its own: it stays in the
    group of the command that runs it (a plan's batch, plan_snapshot.py), so
    stopping that command stops it too. The caller writes the stdin.
    """
    args = tuple(argv)
    if not args or any("\0" in arg for arg in args):
        raise ScoreValueError(f"a command needs a program and no NUL byte in its arguments: {args!r}")
    return f"env -i {remote_base_words()} sh -c {shlex.quote(_INNER)} sh {shlex.join((*_bound(timeout_s), *args))}"


def _bound(timeout_s: float | None) -> tuple[str, ...]:
    if timeout_s is None:
        return ()
    if timeout_s <= 0:
        raise ScoreValueError(f"a command timeout must be positive, got {timeout_s}")
    return ("timeout", f"--kill-after={KILL_GRACE_S:g}", f"{timeout_s + BACKSTOP_S:.3f}")


def plain_line(argv: Sequence[str], *, sudo: bool = False) -> bytes:
    """A command line with no wrapper, for a program the connection itself speaks to (the sftp server)."""
    return _wire(shlex.join((*(SUDO_PREFIX if sudo else ()), *argv)))


def env_header(env: Mapping[str, str] | None) -> bytes:
    """The stdin lines that carry ``env`` to the wrapper, ended by an empty line.

    Each value is one line of ``printf %b`` octal escapes, so any byte but NUL
    survives (newlines included).
    """
    variables = dict(env or {})
    check_variables(variables)
    lines = [f"{name}=".encode() + _escape(_wire(value)) for name, value in variables.items()]
    return b"".join(line + b"\n" for line in lines) + b"\n"


def stop_line(pgids: Iterable[int], *, sudo: bool = False) -> bytes:
    """The command line that stops the process groups ``pgids``; it ends once they are gone."""
    groups = [str(int(pgid)) for pgid in pgids]
    prefix = SUDO_PREFIX if sudo else ()
    return _wire(shlex.join((*prefix, "sh", "-c", _STOP, "sh", *groups)))


def _escape(value: bytes) -> bytes:
    return b"".join(bytes([byte]) if _HEADER_SAFE.fullmatch(bytes([byte])) else b"\\0%03o" % byte for byte in value)


def _wire(text: str) -> bytes:
    # surrogateescape: the bytes of a non-UTF-8 path come back exactly as os.fsdecode took them in.
    return text.encode("utf-8", "surrogateescape")
