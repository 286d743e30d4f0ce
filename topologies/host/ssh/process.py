"""One wrapped command in an exec channel: run to the end, or stopped on the host when cancelled or late.

The command line comes from :func:`topologies.host.ssh.command_line.command_line`: the
wrapper there reports the command's process group first thing on stderr.
Whatever ends the wait early — the caller's cancellation (Ctrl-C, SIGTERM,
another host failing), or the deadline — the group is then stopped from a
second channel before this returns, so a re-run never finds the old command
still running next to the new one. A connection that drops under the command
is a :class:`~topologies.host.ssh.connection.ConnectionLostError`, not an exit status.
"""

from __future__ import annotations

from typing import cast

import anyio
import asyncssh

from capabilities.command_runner import CommandResult
from capabilities.errors import CommandTimeoutError
from topologies.errors import ConnectionLostError

from ..stopping import KILL_GRACE_S
from .command_line import PGID_MARKER, stop_line
from .connection import is_connection_loss

CHANNEL_CLOSE_TIMEOUT_S = KILL_GRACE_S + 3.0
"""How long to wait for sshd to confirm a channel closed (its slot is free only then)."""
STOP_TIMEOUT_S = KILL_GRACE_S + 5.0
"""Bound on stopping a group, channel included: a dead link must not hold a cancellation forever."""
SIGNALLED_EXIT = 255
"""Exit status reported when the wrapper itself was killed by a signal (as ssh(1) does)."""


class GroupStopper:
    """Stops process groups on one host, all groups waiting at that moment through one channel.

    One channel at a time (the host reserves a session for it); when many
    commands are cancelled together, those that arrive while a stop is under
    way are stopped by the next one, together.
    """

    def __init__(self, conn: asyncssh.SSHClientConnection, *, sudo: bool) -> None:
        self._conn = conn
        self._sudo = sudo
        self._pending: set[int] = set()
        self._lock = anyio.Lock()

    async def stop(self, pgid: int) -> None:
        """Return once ``pgid`` is gone, or stopping it was tried and could not reach the host."""
        self._pending.add(pgid)
        async with self._lock:
            if pgid not in self._pending:
                return  # an earlier batch took it
            batch, self._pending = sorted(self._pending), set()
            with anyio.move_on_after(STOP_TIMEOUT_S):
                try:
                    # bytes: see command_line (asyncssh's annotation says str; its exec request takes either).
                    await self._conn.run(cast(str, stop_line(batch, sudo=self._sudo)), check=False, encoding=None)
                except (asyncssh.Error, OSError):
                    pass  # the link is gone: nothing more can reach the host


async def run_wrapped(
    conn: asyncssh.SSHClientConnection,
    stopper: GroupStopper,
    *,
    host: str,
    args: tuple[str, ...],
    line: bytes,
    stdin: bytes,
    timeout_s: float | None,
) -> CommandResult:
    """Run the wrapped ``line``, feeding it ``stdin`` (the env header first); the result is the command's."""
    doing = f"running {args[0]!r}"
    try:
        process = await conn.create_process(cast(str, line), encoding=None)
    except (asyncssh.Error, OSError) as exc:
        if conn.is_closed() or is_connection_loss(exc):
            raise ConnectionLostError(host, f"starting {args[0]!r}", _reason(exc)) from None
        raise
    started = _Started()
    try:
        with anyio.move_on_after(timeout_s) as deadline:
            process.stdin.write(stdin)
            # After the input the remote stdin gets EOF, like /dev/null locally.
            process.stdin.write_eof()
            first_line = await process.stderr.readline()
            started.marker_read = True
            started.pgid, started.early_stderr = _parse_marker(first_line)
            done = await process.wait(check=False)
        if deadline.cancelled_caught:
            await _stop(conn, stopper, process, started)
            raise CommandTimeoutError(f"{host}: {args[0]} timed out after {timeout_s:g} s and was stopped")
    except BaseException as exc:
        # Cancelled, or the link failed: whatever happens next, the command must not go on.
        await _stop(conn, stopper, process, started)
        if isinstance(exc, (asyncssh.Error, OSError)) and (conn.is_closed() or is_connection_loss(exc)):
            raise ConnectionLostError(host, doing, _reason(exc)) from None
        raise
    finally:
        # The slot is free on the server only once the channel is closed on
        # both sides; wait for that, even when cancelled.
        process.close()
        with anyio.CancelScope(shield=True), anyio.move_on_after(CHANNEL_CLOSE_TIMEOUT_S):
            await process.wait_closed()
    if done.exit_status is None and done.exit_signal is None:
        # No exit status and no signal: the channel closed under the command.
        raise ConnectionLostError(host, doing, "the channel closed without an exit status")
    status = done.exit_status if done.exit_status is not None and done.exit_status >= 0 else SIGNALLED_EXIT
    return CommandResult(args, status, _as_bytes(done.stdout), started.early_stderr + _as_bytes(done.stderr))


class _Started:
    """What the wrapper reported so far: the command's process group, once known."""

    def __init__(self) -> None:
        self.pgid: int | None = None
        self.early_stderr = b""
        self.marker_read = False
        self.stopped = False


async def _stop(
    conn: asyncssh.SSHClientConnection, stopper: GroupStopper, process: asyncssh.SSHClientProcess[bytes], started: _Started
) -> None:
    """Stop the command's group once, shielded from the cancellation that asked for it."""
    if started.stopped or conn.is_closed():
        return
    started.stopped = True
    with anyio.CancelScope(shield=True):
        if started.pgid is None and not started.marker_read:
            started.pgid = await _late_marker(process)
        if started.pgid is not None:
            await stopper.stop(started.pgid)


def _parse_marker(first_line: bytes) -> tuple[int | None, bytes]:
    """The process group the wrapper reported, or ``None`` and the line (it was the command's own stderr)."""
    if first_line.startswith(PGID_MARKER) and first_line.endswith(b"\n"):
        text = first_line[len(PGID_MARKER) : -1]
        if text.isdigit():
            return int(text), b""
    return None, first_line


async def _late_marker(process: asyncssh.SSHClientProcess[bytes]) -> int | None:
    """The group of a command cancelled before its marker was read: it may still start, so wait for it (bounded)."""
    with anyio.move_on_after(CHANNEL_CLOSE_TIMEOUT_S):
        try:
            pgid, _ = _parse_marker(await process.stderr.readline())
        except (asyncssh.Error, OSError):
            return None
        return pgid
    return None


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", "") or str(exc)
    return str(reason)


def _as_bytes(output: object) -> bytes:
    if output is None:
        return b""
    if isinstance(output, str):
        return output.encode("utf-8")
    if isinstance(output, (bytes, bytearray, memoryview)):
        return bytes(output)
    raise TypeError(f"unexpected command output of type {type(output).__name__}")
