"""CommandRunner on a Linux host over SSH: one connection, files over one SFTP session, commands in long-lived sessions.

The connection is opened on first use and kept for the whole run; every
caller shares it. Files are observed and written through one SFTP session on
it, started by the first file operation a batch does not answer; commands run
under the wrapper of command_line.py in a few long-lived ``sh`` sessions
(session_pool.py; exec channels on a host that cannot run one), at most ``max_sessions - RESERVED_SESSIONS`` at a time so that together
with the SFTP session they stay within the server's ``MaxSessions``. With
``sudo`` the commands and the SFTP server run as root through ``sudo -n``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import posixpath
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

import anyio
import asyncssh

from capabilities.command_runner import CommandResult, FileStat, GuardCheck
from harmony_py.observations import ahead_for, recent_memo
from topologies.loop_lock import LoopLock

from . import files, plan_snapshot
from .command_line import command_line, env_header, plain_line
from .connection import ConnectOptions, connect
from .process import GroupStopper
from .plan_snapshot import PlanSnapshot
from .session_pool import SessionPool

LOG = logging.getLogger(__name__)
_T = TypeVar("_T")

PATH_ERRORS = "surrogateescape"
"""How SFTP paths are encoded: as UTF-8, with os.fsdecode's surrogates turned back into their bytes."""
RESERVED_SESSIONS = 3
"""Channels not used for commands: the SFTP session; the one that stops cancelled
commands (see process.GroupStopper); and one because sshd frees a session's
slot a moment after the client sees its channel closed (measured: 1 SFTP + 9
concurrent exec channels fail under MaxSessions 10, 1 + 8 never do)."""
_PLANNING: contextvars.ContextVar[tuple[SshCommandRunner, PlanSnapshot] | None] = contextvars.ContextVar(
    "harmony_ssh_plan_snapshot", default=None
)
"""The snapshot a plan observes through, seen only by the tasks of that plan (plan_snapshot.py)."""


@dataclass(frozen=True)
class SshSettings:
    """How a host is reached and used: the connection, root or not, and its channel budget."""

    name: str
    """How errors name the host."""
    options: ConnectOptions
    sudo: bool
    command_timeout_s: float | None
    """The timeout of a command that gives none."""
    max_sessions: int
    """The server's ``MaxSessions``: concurrent channels the connection may open."""
    sftp_server: str
    """The host's SFTP server program, run under ``sudo`` when ``sudo`` is set."""


class SshCommandRunner:
    """The CommandRunnerService of one host over SSH; holds its live session, shared by all callers."""

    def __init__(self, settings: SshSettings) -> None:
        self.settings = settings
        self._session: _Session | None = None
        self._lock = LoopLock()
        self._without_temporaries: set[str] = set()
        """Paths the latest batch saw no leftover temporary of (each spares one write its directory listing)."""
        self._generation = 0
        """Bumped when something that may change the host starts and when it ends: a kept observation is of one generation."""
        self._changes_in_flight = 0
        self._handed_out = False
        """The connection was given to an adapter, which may change the host at any time: nothing is kept."""

    def __repr__(self) -> str:
        return f"SshCommandRunner({self.settings.name!r})"

    @property
    def name(self) -> str:
        return self.settings.name

    async def connection(self) -> asyncssh.SSHClientConnection:
        """The host's connection, opened (and its host key verified) on first use; adapters tunnel through it."""
        # An adapter may change the host through it (a tunnel): an apply's snapshot ends here.
        self._changing()
        self._handed_out = True
        return (await self._current()).conn

    async def login_name(self) -> str:
        """The user this connection logged in as (connecting on first use)."""
        return str((await self._current()).conn.get_extra_info("username", ""))

    async def aclose(self) -> None:
        """Close the connection; the next use opens a new one."""
        session, self._session = self._session, None
        if session is None:
            return
        if session.loop is not asyncio.get_running_loop():
            _abandon(session)
            return
        with anyio.CancelScope(shield=True):
            await session.commands.aclose()
            if session.sftp is not None:
                session.sftp.exit()
            session.conn.close()
            with anyio.move_on_after(5):
                await session.conn.wait_closed()

    # -- CommandRunnerService -------------------------------------------------

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandResult:
        """Run ``argv`` on the host under the wrapper of command_line.py: clean environment plus ``env``.

        ``env`` travels on stdin, never on the command line. On cancellation or
        timeout the command's process group is stopped on the host before this
        returns; a dropped connection raises ConnectionLostError.
        """
        args = tuple(argv)
        timeout = timeout_s if timeout_s is not None else self.settings.command_timeout_s
        # Checked before any channel is used: a bad argument or variable is the caller's error.
        command_line(args, sudo=self.settings.sudo, timeout_s=timeout)
        env_header(env)
        with self._change():  # any command may change the host
            session = await self._current()
            return await session.commands.run(args, stdin=stdin or b"", env=env, timeout_s=timeout)

    async def stat(self, path: str) -> FileStat | None:
        snapshot = self._planned()
        if snapshot is not None and path in snapshot.stats:
            return snapshot.stats[path]
        return await self._kept_or_live("stat", path, self._live_stat)

    async def _live_stat(self, path: str) -> FileStat | None:
        sftp = await self._sftp()
        with files.remote_errors(self.name, "stat", path):
            return await files.stat(sftp, path)

    async def read_file(self, path: str) -> bytes | None:
        snapshot = self._planned()
        if snapshot is not None and path in snapshot.contents:
            return snapshot.contents[path]
        sftp = await self._sftp()
        with files.remote_errors(self.name, "read", path):
            return await files.read_file(sftp, path)

    async def write_file(
        self, path: str, content: bytes, *, mode: int, follow_parent_symlinks: bool = True
    ) -> None:
        if not follow_parent_symlinks:
            # Checked right before writing (SFTP has no openat, adr/0017): live, or kept from the
            # look this score's plan took a moment ago with nothing changed since (never a snapshot).
            directory = posixpath.dirname(path)
            files.require_within(self.name, directory, await self._kept_or_live("resolve", directory, self._live_resolve))
        with self._change():
            sftp = await self._sftp()
            # The latest batch saw no leftover temporary of this path: the write need not list its directory.
            sweep = path not in self._without_temporaries
            self._without_temporaries.discard(path)
            with files.remote_errors(self.name, "write", path):
                await files.write_file(sftp, path, content, mode, sweep=sweep)

    async def set_mode(self, path: str, mode: int) -> None:
        with self._change():
            sftp = await self._sftp()
            with files.remote_errors(self.name, "set the mode of", path):
                await files.set_mode(sftp, path, mode)

    async def make_directory(self, path: str, *, mode: int) -> None:
        with self._change():
            sftp = await self._sftp()
            with files.remote_errors(self.name, "create directory", path):
                await files.make_directory(sftp, path, mode)

    async def resolve(self, path: str) -> str | None:
        # The SFTP session runs as root under sudo=True, so it resolves what root sees.
        snapshot = self._planned()
        if snapshot is not None and path in snapshot.resolved:
            return snapshot.resolved[path]
        return await self._kept_or_live("resolve", path, self._live_resolve)

    async def _live_resolve(self, path: str) -> str | None:
        sftp = await self._sftp()
        with files.remote_errors(self.name, "resolve", path):
            return await files.resolve(sftp, path)

    async def read_link(self, path: str) -> str:
        # One SFTP request: a readlink command would start the command wrapper's programs on the host.
        known = self.observed_link(path)
        if known is not None:
            return known
        sftp = await self._sftp()
        with files.remote_errors(self.name, "read the link", path):
            return await sftp.readlink(path)

    async def digest(self, path: str) -> str | None:
        # Hashed on the host (sha256sum): a large file never crosses the connection.
        known = self.observed_digest(path)
        if known is not None:
            return known
        return files.parse_digest(self.name, path, await self.run(files.digest_command(path)))

    # -- observations batched for a plan or an apply (plan_snapshot.py) ----------

    @contextlib.asynccontextmanager
    async def observing(
        self,
        paths: Iterable[str],
        guards: Iterable[GuardCheck] = (),
        *,
        read: Iterable[str] = (),
        until_changed: bool = False,
    ) -> AsyncIterator[None]:
        """Observe ``paths``, ``guards`` and small files to ``read`` in one round trip; inside, this task's scores are answered from it.

        Only the tasks started inside see the snapshot (a context variable).
        With ``until_changed`` (an apply) it is dropped at the first call that
        may change the host (a write, any command, the connection handed to an
        adapter) or at :meth:`forget_observations`. When the batch cannot be
        taken (too many paths, a host without GNU stat) every
        observation is made live; the reason is logged at debug level.
        """
        snapshot = await self._snapshot_for(list(paths), list(guards), list(read), until_changed=until_changed)
        if snapshot is not None:
            snapshot.until_changed = until_changed
        token = _PLANNING.set((self, snapshot)) if snapshot is not None else None
        try:
            yield
        finally:
            if token is not None:
                _PLANNING.reset(token)

    def observed_digest(self, path: str) -> str | None:
        """The SHA-256 of ``path`` as the current snapshot saw it; ``None`` when it has none (no round trip)."""
        snapshot = self._planned()
        return snapshot.digests.get(path) if snapshot is not None else None

    def observed_link(self, path: str) -> str | None:
        """The target of the link at ``path`` as the current snapshot saw it, or ``None``."""
        snapshot = self._planned()
        return snapshot.links.get(path) if snapshot is not None else None

    def observed_exit(self, guard: GuardCheck) -> int | None:
        """The exit status ``guard`` had in the current snapshot, or ``None``."""
        snapshot = self._planned()
        return snapshot.exits.get(guard.key()) if snapshot is not None else None

    def forget_observations(self) -> None:
        """Stop answering from the current apply's snapshot, in every task sharing it."""
        planning = _PLANNING.get()
        if planning is not None and planning[0] is self and planning[1].until_changed:
            planning[1].valid = False

    def _planned(self) -> PlanSnapshot | None:
        planning = _PLANNING.get()
        if planning is None or planning[0] is not self or not planning[1].valid:
            return None
        return planning[1]

    def _changing(self) -> None:
        """Called before anything that may change the host: an apply's snapshot is no longer the truth."""
        self.forget_observations()
        self._generation += 1

    @contextlib.contextmanager
    def _change(self) -> Iterator[None]:
        """Around anything that may change the host: nothing observed before it, or while it runs, is kept."""
        self._changing()
        self._changes_in_flight += 1
        try:
            yield
        finally:
            self._changes_in_flight -= 1
            self._generation += 1

    async def _kept_or_live(self, kind: str, path: str, observe: Callable[[str], Awaitable[_T]]) -> _T:
        """``observe(path)``, or the answer this score's plan got for it, if nothing may have changed since.

        Kept only from the plan, only when nothing that may change the host was
        running while it was observed; used once, and only while nothing has run
        or is running since (observations.recent_observations). A converge that
        looks again (it waits for something on the host to appear) looks live.
        """
        recent = recent_memo()
        if recent is None or self._handed_out or self._changes_in_flight:
            return await observe(path)
        key = (self, kind, path)
        kept = recent.kept.pop(key, None)  # once: a second look (a wait for something on the host) is live
        if isinstance(kept, _Kept) and kept.generation == self._generation:
            return cast(_T, kept.value)
        generation = self._generation
        value = await observe(path)
        if recent.recording and generation == self._generation and not self._changes_in_flight:
            recent.kept[key] = _Kept(generation, value)
        return value

    async def _snapshot_for(
        self, paths: list[str], guards: list[GuardCheck], read: list[str], *, until_changed: bool
    ) -> PlanSnapshot | None:
        """A new snapshot, or for a plan the one taken a moment earlier with the plan's questions asked ahead."""
        asked = ahead_for(self)
        if asked is None or until_changed:
            return await self._take_snapshot(paths, guards, read)
        if isinstance(asked.snapshot, PlanSnapshot):
            if asked.snapshot.valid and asked.questions.covers(paths, guards, read):
                return asked.snapshot  # a plan's snapshot holds for the whole plan
            return await self._take_snapshot(paths, guards, read)
        ahead = asked.questions
        every_guard = {guard.key(): guard for guard in [*guards, *ahead.guards]}
        asked.snapshot = await self._take_snapshot(
            list(dict.fromkeys([*paths, *ahead.paths])), list(every_guard.values()), list(dict.fromkeys([*read, *ahead.read]))
        )
        return asked.snapshot or await self._take_snapshot(paths, guards, read)

    async def _take_snapshot(
        self, paths: Iterable[str], guards: Iterable[GuardCheck], read: Iterable[str]
    ) -> PlanSnapshot | None:
        self._without_temporaries = set()
        questions = plan_snapshot.batch(paths, guards, read=read, timeout_s=self.settings.command_timeout_s)
        if questions is None:
            LOG.debug("%s: observations not batched (nothing to ask, or more than %d)", self.name, plan_snapshot.MAX_PATHS)
            return None
        try:
            result = await self.run(questions.command(), stdin=questions.stdin())
        except Exception as exc:  # noqa: BLE001 - any failure: observe live, and let that observation name it
            LOG.debug("%s: observations not batched: %s", self.name, exc)
            return None
        snapshot = plan_snapshot.parse(questions, result)
        if snapshot is None:
            LOG.debug("%s: observations not batched: unreadable answer (exit %d)", self.name, result.exit_status)
        else:
            self._without_temporaries = set(snapshot.without_temporaries)
        return snapshot

    # -- the session ----------------------------------------------------------

    async def _current(self) -> _Session:
        current = self._session
        if current is not None and current.usable:
            return current
        async with self._lock():
            current = self._session
            if current is not None and current.usable:
                return current
            self._session = await self._open()
            return self._session

    async def _open(self) -> _Session:
        settings = self.settings
        conn = await connect(settings.options)
        stopper = GroupStopper(conn, sudo=settings.sudo)
        channels = anyio.Semaphore(settings.max_sessions - RESERVED_SESSIONS)
        commands = SessionPool(
            conn, stopper, channels, host=self.name, sudo=settings.sudo, open_timeout_s=settings.options.connect_timeout_s
        )
        return _Session(conn, commands, asyncio.get_running_loop())

    async def _sftp(self) -> asyncssh.SFTPClient:
        """The connection's SFTP session, started on first use: a run its batches answer never opens one (adr/0108)."""
        session = await self._current()
        if session.sftp is None:
            async with self._lock():
                if session.sftp is None:
                    session.sftp = await self._start_sftp(session.conn)
        return session.sftp

    async def _start_sftp(self, conn: asyncssh.SSHClientConnection) -> asyncssh.SFTPClient:
        # surrogateescape: a path str holding bytes that are not UTF-8 (os.fsdecode's) goes out as those bytes.
        if not self.settings.sudo:
            return await conn.start_sftp_client(path_errors=PATH_ERRORS)
        # As root: the host's sftp-server under sudo, spoken to over an exec channel.
        from asyncssh.sftp import start_sftp_client

        line = plain_line([self.settings.sftp_server], sudo=True)
        # bytes: see command_line (asyncssh's annotation says str; its exec request takes either).
        writer, reader, _ = await conn.open_session(cast(str, line), encoding=None)
        return await start_sftp_client(conn, asyncio.get_running_loop(), "strict", reader, writer, "utf-8", PATH_ERRORS, 3)


@dataclass(frozen=True)
class _Kept:
    """An observation kept for the rest of a score's apply, valid in the runner's ``generation`` only."""

    generation: int
    value: object


@dataclass
class _Session:
    """One open connection with its command sessions, channel budget and (once needed) SFTP session."""

    conn: asyncssh.SSHClientConnection
    commands: SessionPool
    loop: asyncio.AbstractEventLoop
    sftp: asyncssh.SFTPClient | None = None
    """Started by the first file operation that needs it (``SshCommandRunner._sftp``)."""

    @property
    def usable(self) -> bool:
        return not self.conn.is_closed() and self.loop is asyncio.get_running_loop()


def _abandon(session: _Session) -> None:
    """Close a session opened under another event loop (an earlier ``asyncio.run``).

    Its transport belongs to that loop: while the loop lives, the close is
    handed to it; once it is closed nothing can drive the transport, so the
    socket is shut down directly and the server ends the session.
    """
    if not session.loop.is_closed():
        session.loop.call_soon_threadsafe(session.conn.close)
        return
    sock = session.conn.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
