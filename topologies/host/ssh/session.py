"""One long-lived command session on a host: a ``sh -s`` reader in one channel, running framed commands one at a time.

A command costs one frame written and its output read back on the open
channel, instead of a channel opened, a login shell started and the channel
closed again (adr/0088). The frame format is in :mod:`.session_frame`; the
command line is the exec path's wrapper, so the environment rules, the process
group and the way a cancelled or late command is stopped are the same:

- the wrapper reports the command's process group first thing on stderr; on
  cancellation or timeout the group is stopped from a second channel
  (:class:`~topologies.host.ssh.process.GroupStopper`), the reader reports the
  killed command's status and the session is used again;
- a session that does not reach its end markers after that, or that ended
  under a command, is closed and never used again (the pool opens another);
- a reader that ended before the command reported its group never started it:
  :class:`CommandNotStarted`, which the pool answers by running it on a fresh session.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, cast

import anyio
import asyncssh

from capabilities.command_runner import CommandResult
from capabilities.errors import CommandTimeoutError
from topologies.errors import ConnectionLostError

from .connection import is_connection_loss
from .process import CHANNEL_CLOSE_TIMEOUT_S, GroupStopper
from .session_frame import PROBE, READY, command_frame, hello_frame, new_token, parse_group, parse_status, reader_line

READ_CHUNK = 256 * 1024
"""Bytes asked of the channel per read: large outputs stream in big pieces."""


class SessionEnded(Exception):
    """The reader's channel reached end of file (the reader exited or was killed)."""


class CommandNotStarted(Exception):
    """The session ended before the command reported its process group: it did not run."""


class ReaderUnavailable(Exception):
    """The host could not run the reader; the message says why (shown with --debug).

    ``late``: the reader did not answer within the time given, which a busy host also does.
    """

    def __init__(self, message: str, *, late: bool = False) -> None:
        super().__init__(message)
        self.late = late


async def _read_both(stdout: Callable[[], Coroutine[Any, Any, object]], stderr: Callable[[], Coroutine[Any, Any, object]]) -> None:
    """Read the two streams together (a command can fill either first); one error, not a group, when one fails."""
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(stdout)
            await stderr()
    except BaseExceptionGroup as failed:
        # Both readers fail together when the channel ends; the first says why.
        raise _leaves(failed)[0] from None


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return found


class _FramedStream:
    """One of the channel's output streams, read up to the end markers of the current command."""

    def __init__(self, stream: asyncssh.SSHReader[bytes]) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def _more(self) -> None:
        chunk = await self._stream.read(READ_CHUNK)
        if not chunk:
            raise SessionEnded("the session's channel ended")
        self._buffer += chunk

    async def first_line_group(self) -> int | None:
        """The process group the wrapper reported as the stream's first line, consumed; ``None`` (nothing consumed) otherwise."""
        while b"\n" not in self._buffer:
            await self._more()
        end = self._buffer.index(b"\n") + 1
        group = parse_group(bytes(self._buffer[:end]))
        if group is not None:
            del self._buffer[:end]
        return group

    async def until_end(self, token: bytes) -> tuple[bytes, bytes]:
        """The output before ``token``'s marker, and the rest of the marker's line.

        Anything after the marker line (output of a process the command left
        behind) is dropped: it belongs to no command the caller ran.
        """
        marker = b"\n" + token
        start = 0
        while True:
            found = self._buffer.find(marker, start)
            if found >= 0:
                line_end = self._buffer.find(b"\n", found + len(marker))
                if line_end >= 0:
                    output = bytes(self._buffer[:found])
                    rest = bytes(self._buffer[found + len(marker) : line_end])
                    self._buffer.clear()
                    return output, rest
                start = found
            else:
                start = max(0, len(self._buffer) - len(marker) + 1)
            await self._more()


class CommandSession:
    """A reader running on the host, as the login user or (``as_root``) under one ``sudo``."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes], *, as_root: bool, reader_pid: int) -> None:
        self._process = process
        self._stdout = _FramedStream(process.stdout)
        self._stderr = _FramedStream(process.stderr)
        self.as_root = as_root
        self.reader_pid = reader_pid
        self.usable = True

    @classmethod
    async def open(cls, conn: asyncssh.SSHClientConnection, *, as_root: bool, timeout_s: float) -> CommandSession:
        """Start the reader and check with a hello frame that it runs frames; ReaderUnavailable otherwise."""
        # bytes: see command_line (asyncssh's annotation says str; its exec request takes either).
        process = await conn.create_process(cast(str, reader_line(sudo=as_root)), encoding=None)
        session = cls(process, as_root=as_root, reader_pid=0)
        token = new_token()
        try:
            with anyio.fail_after(timeout_s):
                process.stdin.write(hello_frame(token))
                answer: list[tuple[bytes, bytes]] = []
                await _read_both(lambda: session._read_stdout(token, answer), lambda: session._stderr.until_end(token))
                output, rest = answer[0]
        except (SessionEnded, TimeoutError) as exc:
            session.close()
            why = "did not answer in time" if isinstance(exc, TimeoutError) else "ended"
            raise ReaderUnavailable(
                f"{reader_line(sudo=as_root).decode()!r} {why}{await session._ending()}", late=isinstance(exc, TimeoutError)
            ) from None
        except BaseException:
            session.close()
            raise
        # What a login shell's rc files print comes first; the ready line is the reader's own.
        ready = output.rfind(READY)
        pid = output[ready + len(READY) :].strip()
        if ready < 0 or not pid.isdigit() or parse_status(rest) != 0 or not output[:ready].endswith(PROBE):
            session.close()
            raise ReaderUnavailable(f"the reader answered {output[-80:]!r} instead of its ready line")
        session.reader_pid = int(pid)
        return session

    async def _ending(self) -> str:
        """How the reader's channel ended, for the fallback's reason: its exit status and first error line."""
        with anyio.move_on_after(1):
            await self._process.wait_closed()
        error = bytes(self._stderr._buffer)
        with anyio.move_on_after(0.5):
            try:
                error += await self._process.stderr.read(400)
            except (asyncssh.Error, OSError):
                pass
        lines = error.decode("utf-8", "replace").strip().splitlines()
        parts = [f"exit status {self._process.exit_status}"] if self._process.exit_status is not None else []
        parts += lines[:1]
        return f" ({': '.join(parts)})" if parts else ""

    def close(self) -> None:
        """Close the channel: the reader gets end of file and exits; never used again."""
        self.usable = False
        self._process.close()

    async def wait_closed(self) -> None:
        with anyio.move_on_after(CHANNEL_CLOSE_TIMEOUT_S):
            await self._process.wait_closed()

    async def run(
        self,
        stopper: GroupStopper,
        *,
        host: str,
        args: tuple[str, ...],
        line: bytes,
        stdin: bytes,
        timeout_s: float | None,
    ) -> CommandResult:
        """Run the wrapped ``line`` with ``stdin`` (the env header first); the result is the command's."""
        token = new_token()
        started = _Started()
        outputs: list[tuple[bytes, bytes]] = []
        try:
            self._process.stdin.write(command_frame(line, stdin, token))
            errors: list[tuple[bytes, bytes]] = []
            with anyio.move_on_after(timeout_s) as deadline:
                await _read_both(lambda: self._read_stdout(token, outputs), lambda: self._read_stderr(token, started, errors))
            if deadline.cancelled_caught:
                await self._stop(stopper, started, token)
                raise CommandTimeoutError(f"{host}: {args[0]} timed out after {timeout_s:g} s and was stopped")
        except BaseException as exc:
            # Cancelled, or the link or the reader failed: whatever happens next, the command must not go on.
            await self._stop(stopper, started, token)
            if isinstance(exc, (asyncssh.Error, OSError)) and is_connection_loss(exc):
                raise ConnectionLostError(host, f"running {args[0]!r}", str(exc) or type(exc).__name__) from None
            if isinstance(exc, SessionEnded):
                if not started.reported:
                    raise CommandNotStarted(str(exc)) from None
                raise ConnectionLostError(host, f"running {args[0]!r}", "the command session ended under it") from None
            raise
        output, rest = outputs[0]
        error_output = errors[0][0]
        status = parse_status(rest)
        if status is None:
            self.close()
            raise ConnectionLostError(host, f"running {args[0]!r}", "the command session sent no exit status")
        return CommandResult(args, status, output, error_output)

    async def _read_stdout(self, token: bytes, outputs: list[tuple[bytes, bytes]]) -> None:
        outputs.append(await self._stdout.until_end(token))

    async def _read_stderr(self, token: bytes, started: _Started, errors: list[tuple[bytes, bytes]]) -> None:
        started.group = await self._stderr.first_line_group()
        started.reported = True
        errors.append(await self._stderr.until_end(token))

    async def _stop(self, stopper: GroupStopper, started: _Started, token: bytes) -> None:
        """Stop the command's group once, then read the session up to the end markers; close it when that fails."""
        if started.stopped:
            return
        started.stopped = True
        if not self.usable or self._process.is_closing():
            self.usable = False
            return
        with anyio.CancelScope(shield=True):
            try:
                with anyio.fail_after(CHANNEL_CLOSE_TIMEOUT_S):
                    if not started.reported:
                        started.group = await self._stderr.first_line_group()
                        started.reported = True
                if started.group is not None:
                    await stopper.stop(started.group)
                with anyio.fail_after(CHANNEL_CLOSE_TIMEOUT_S):
                    await _read_both(lambda: self._stdout.until_end(token), lambda: self._stderr.until_end(token))
            except (TimeoutError, SessionEnded, asyncssh.Error, OSError):
                self.close()


class _Started:
    """What the wrapper reported so far: whether its first stderr line came, and the group in it."""

    def __init__(self) -> None:
        self.group: int | None = None
        self.reported = False
        self.stopped = False
