"""A host's command sessions: a few long-lived readers within MaxSessions, or one exec per command when they cannot run.

Each command takes a channel slot (the runner's semaphore, ``max_sessions -
RESERVED_SESSIONS``), then an idle session or a new one: the host never has
more sessions than commands that ran at once, so independent scores still run
concurrently. A session closed by a failure is replaced by the next command
that needs one; a command whose session ended before it started runs once more
on a new session.

The first session decides how this connection runs commands (adr/0088):

- with ``sudo``, a reader under one ``sudo -n`` (commands then run as root
  without a sudo each); if the sudoers policy refuses it, a reader as the login
  user with ``sudo -n`` per command;
- without ``sudo``, a reader as the login user;
- when no reader runs (no ``sh``, a forced command, a restricted shell), one exec
  channel per command as before, with the reason logged at DEBUG (``--debug``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import anyio
import asyncssh

from capabilities.command_runner import CommandResult
from topologies.errors import ConnectionLostError

from .command_line import command_line, env_header
from .connection import is_connection_loss
from .process import GroupStopper, run_wrapped
from .session import CommandNotStarted, CommandSession, ReaderUnavailable

LOG = logging.getLogger(__name__)
LATE_READERS_BEFORE_FALLBACK = 2
"""How many times a first session may be late (that command runs in an exec channel) before the connection gives up on sessions."""


class SessionPool:
    """The command sessions of one connection."""

    def __init__(
        self,
        conn: asyncssh.SSHClientConnection,
        stopper: GroupStopper,
        channels: anyio.Semaphore,
        *,
        host: str,
        sudo: bool,
        open_timeout_s: float,
    ) -> None:
        self._conn = conn
        self._stopper = stopper
        self._channels = channels
        self._host = host
        self._sudo = sudo
        self._open_timeout_s = open_timeout_s
        self._idle: list[CommandSession] = []
        self._open: set[CommandSession] = set()
        self._as_root: bool | None = None
        """Whether readers run under sudo; ``None`` until the first one ran."""
        self._late_readers = 0
        """First sessions that did not answer in time so far (a host whose reader hangs falls back at the next)."""
        self.fallback_reason: str | None = None
        """Why commands run in exec channels, once no reader could run."""
        self._deciding = anyio.Lock()

    async def run(
        self,
        args: tuple[str, ...],
        *,
        stdin: bytes,
        env: Mapping[str, str] | None,
        timeout_s: float | None,
    ) -> CommandResult:
        """Run ``args`` (already checked) through a session, or an exec channel when the host has no reader."""
        header = env_header(env)
        async with self._channels:
            for attempt in (1, 2):
                session = await self._take_or_lost(args)
                if session is None:
                    line = command_line(args, sudo=self._sudo, timeout_s=timeout_s)
                    return await run_wrapped(
                        self._conn, self._stopper, host=self._host, args=args, line=line,
                        stdin=header + stdin, timeout_s=timeout_s,
                    )  # fmt: skip
                line = command_line(args, sudo=self._sudo and not session.as_root, timeout_s=timeout_s)
                try:
                    return await session.run(
                        self._stopper, host=self._host, args=args, line=line, stdin=header + stdin, timeout_s=timeout_s
                    )
                except CommandNotStarted:
                    if attempt == 2:
                        raise
                    LOG.debug("%s: a command session ended before %r started; running it on a new one", self._host, args[0])
                finally:
                    await self._give_back(session)
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def aclose(self) -> None:
        """Close every session (their readers exit on end of file)."""
        sessions, self._open, self._idle = self._open, set(), []
        for session in sessions:
            session.close()

    async def _take_or_lost(self, args: tuple[str, ...]) -> CommandSession | None:
        try:
            return await self._take()
        except (asyncssh.Error, OSError) as exc:
            if self._conn.is_closed() or is_connection_loss(exc):
                raise ConnectionLostError(self._host, f"starting {args[0]!r}", str(exc) or type(exc).__name__) from None
            raise

    async def _take(self) -> CommandSession | None:
        """An idle session, a new one, or ``None`` when this connection runs commands in exec channels."""
        while self._idle:
            session = self._idle.pop()
            if session.usable:
                return session
            self._open.discard(session)
        if self.fallback_reason is not None:
            return None
        if self._as_root is None:
            async with self._deciding:
                if self._as_root is None and self.fallback_reason is None:
                    return await self._first_session()
            if self.fallback_reason is not None:
                return None
        assert self._as_root is not None
        try:
            return self._opened(await CommandSession.open(self._conn, as_root=self._as_root, timeout_s=self._open_timeout_s))
        except (ReaderUnavailable, asyncssh.ChannelOpenError) as exc:
            # The reader ran before on this connection: this is one refusal, not a host without one.
            LOG.debug("%s: could not open another command session (%s); this command runs in an exec channel", self._host, exc)
            return None

    async def _first_session(self) -> CommandSession | None:
        reasons: list[str] = []
        late = False
        for as_root in (True, False) if self._sudo else (False,):
            try:
                session = await CommandSession.open(self._conn, as_root=as_root, timeout_s=self._open_timeout_s)
            except (ReaderUnavailable, asyncssh.ChannelOpenError) as exc:
                reasons.append(str(exc))
                late = late or (isinstance(exc, ReaderUnavailable) and exc.late)
                continue
            self._as_root = as_root
            if reasons:
                LOG.debug("%s: %s; the command session runs as the login user, with sudo per command", self._host, reasons[0])
            return self._opened(session)
        if late and self._late_readers < LATE_READERS_BEFORE_FALLBACK:
            # A reader that was only slow (a loaded host) is no proof the host cannot run one: this command
            # goes to an exec channel and the next one tries a session again.
            self._late_readers += 1
            LOG.debug("%s: the command session was late (%s); this command runs in an exec channel", self._host, reasons[0])
            return None
        self.fallback_reason = "; ".join(reasons)
        LOG.debug("%s: no command session (%s); every command runs in an exec channel", self._host, self.fallback_reason)
        return None

    def _opened(self, session: CommandSession) -> CommandSession:
        self._open.add(session)
        return session

    async def _give_back(self, session: CommandSession) -> None:
        if session.usable and session in self._open:
            self._idle.append(session)
            return
        self._open.discard(session)
        session.close()
        # Its slot is free on the server only once the channel is closed on both sides.
        with anyio.CancelScope(shield=True):
            await session.wait_closed()
