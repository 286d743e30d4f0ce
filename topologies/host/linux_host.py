"""A Linux machine reached over SSH: provides ``CommandRunner`` through asyncssh, and ``PostgreSQLServer``.

It also provides ``LoadBalancer`` (nginx, driven through the CommandRunner
methods) and ``Docker`` when the host's engine answers through the SSH
connection (its socket forwarded, see docker_over_ssh.py), and with both,
``ApplicationPlatform``: applications as replicated containers behind nginx,
their PostgreSQL on the host (see application_ssh.py).

One connection per host, opened on first use and kept for the whole run.
Files are observed and written through one SFTP session on it; commands run
in exec channels, at most ``max_sessions - 2`` at a time so that together
with the SFTP session they stay within the server's ``MaxSessions``.

Import this module (or ``topologies.LinuxHostTopology``) only where SSH is
wanted: it imports asyncssh, which ``import topologies`` does not.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import anyio
import asyncssh

from capabilities.command_runner import CommandResult, FileStat
from harmony_py.errors import ScoreValueError
from harmony_py.topology import TopologyReport
from harmony_py.values import Secret
from topologies.app.ssh_host import SshHostApplications
from topologies.balancer.nginx import NginxLoadBalancer
from topologies.docker.over_ssh import DockerOverSsh
from topologies.postgres.host import RemoteHostPostgreSQLMixin

from .os_facts import parse_os_release
from .ssh import files as ssh_files
from .ssh.command_line import command_line, env_header, plain_line
from .ssh.connection import ConnectOptions, connect, known_hosts_problem
from .ssh.process import GroupStopper, run_wrapped

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
DEFAULT_MAX_SESSIONS = 10
"""OpenSSH's default ``MaxSessions``: concurrent channels one connection may open."""
DEFAULT_SFTP_SERVER = "/usr/lib/openssh/sftp-server"
PATH_ERRORS = "surrogateescape"
"""How SFTP paths are encoded: as UTF-8, with os.fsdecode's surrogates turned back into their bytes."""
RESERVED_SESSIONS = 3
"""Channels not used for commands: the SFTP session; the one that stops cancelled
commands (see ssh_process.GroupStopper); and one because sshd frees a session's
slot a moment after the client sees its channel closed (measured: 1 SFTP + 9
concurrent exec channels fail under MaxSessions 10, 1 + 8 never do)."""


@dataclass(frozen=True)
class LinuxHostTopology(SshHostApplications, DockerOverSsh, NginxLoadBalancer, RemoteHostPostgreSQLMixin):
    """A Linux host over SSH.

    Host keys are verified against ``known_hosts``; an unknown key is refused
    unless ``accept_new_host_key=True`` (trust on first use, then recorded),
    a changed key always. ``client_keys`` are private key paths (``None``: the
    agent and ~/.ssh defaults). ``sudo=True`` runs commands and file access as
    root through ``sudo -n`` (passwordless sudo required). ``max_sessions`` is
    the server's ``MaxSessions``. ``docker_socket`` is the Docker engine's socket
    on the host; ``balancer_root`` where the nginx balancer instance lives.
    """

    host: str
    port: int = 22
    user: str | None = None
    client_keys: tuple[str, ...] | None = None
    password: Secret | None = None
    use_agent: bool = True
    known_hosts: str = DEFAULT_KNOWN_HOSTS
    accept_new_host_key: bool = False
    sudo: bool = False
    connect_timeout_s: float = 10.0
    command_timeout_s: float | None = None
    max_sessions: int = DEFAULT_MAX_SESSIONS
    sftp_server: str = DEFAULT_SFTP_SERVER
    label: str | None = None
    _link: _HostLink = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.host or any(c.isspace() for c in self.host):
            raise ScoreValueError(f"LinuxHostTopology.host must be a host name or address, got {self.host!r}")
        if not 0 < self.port < 65536:
            raise ScoreValueError(f"LinuxHostTopology.port must be 1-65535, got {self.port}")
        if self.max_sessions <= RESERVED_SESSIONS:
            raise ScoreValueError(
                f"LinuxHostTopology.max_sessions must be at least {RESERVED_SESSIONS + 1} "
                "(the SFTP session, one to stop cancelled commands, a margin, and one command), "
                f"got {self.max_sessions}"
            )
        if self.connect_timeout_s <= 0:
            raise ScoreValueError(f"LinuxHostTopology.connect_timeout_s must be positive, got {self.connect_timeout_s}")
        if self.password is not None and not isinstance(self.password, Secret):
            raise ScoreValueError(
                "LinuxHostTopology.password must be a harmony_py.Secret, not a plain "
                f"{type(self.password).__name__}: write password=Secret(os.environ[\"SSH_PASSWORD\"]) "
                "so that it is never shown in a plan, a report or a traceback"
            )
        problem = known_hosts_problem(self.known_hosts)
        if problem is not None:
            raise ScoreValueError(f"LinuxHostTopology.known_hosts: {problem}")
        if self.client_keys is not None and not isinstance(self.client_keys, tuple):
            object.__setattr__(self, "client_keys", tuple(self.client_keys))
        object.__setattr__(self, "_link", _HostLink(self))

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        if self.port == 22:
            return self.host
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def connect_options(self) -> ConnectOptions:
        return ConnectOptions(
            host=self.host,
            port=self.port,
            user=self.user,
            client_keys=self.client_keys,
            password=self.password,
            use_agent=self.use_agent,
            known_hosts=self.known_hosts,
            accept_new_host_key=self.accept_new_host_key,
            connect_timeout_s=self.connect_timeout_s,
        )

    async def ensure_ready(self) -> TopologyReport:
        """Connect (verifying the host key), open the SFTP session, and report the OS."""
        session = await self._link.session()
        os_release = await ssh_files.read_file(session.sftp, "/etc/os-release")
        facts = parse_os_release(os_release.decode("utf-8", "replace")) if os_release else {"os": "unknown"}
        facts["user"] = "root" if self.sudo else str(session.conn.get_extra_info("username", ""))
        facts["host"] = self.host
        facts.update(await self.probe_docker())
        return TopologyReport(self.name, facts)

    async def ssh_connection(self) -> asyncssh.SSHClientConnection:
        """The host's connection, opened on first use; adapters tunnel through it."""
        return (await self._link.session()).conn

    async def aclose(self) -> None:
        """Close the connection; the next use opens a new one."""
        await self.close_docker()
        await self._link.close()

    # -- CommandRunner -------------------------------------------------------

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandResult:
        """Run ``argv`` on the host under the wrapper of ssh_command.py: clean environment plus ``env``.

        ``env`` travels on stdin, never on the command line. On cancellation or
        timeout the command's process group is stopped on the host before this
        returns; a dropped connection raises ConnectionLostError.
        """
        args = tuple(argv)
        timeout = timeout_s if timeout_s is not None else self.command_timeout_s
        line = command_line(args, sudo=self.sudo, timeout_s=timeout)
        header = env_header(env)
        session = await self._link.session()
        async with session.channels:
            return await run_wrapped(
                session.conn, session.stopper, host=self.name, args=args, line=line,
                stdin=header + (stdin or b""), timeout_s=timeout,
            )  # fmt: skip

    async def stat(self, path: str) -> FileStat | None:
        session = await self._link.session()
        with ssh_files.remote_errors(self.name, "stat", path):
            return await ssh_files.stat(session.sftp, path)

    async def read_file(self, path: str) -> bytes | None:
        session = await self._link.session()
        with ssh_files.remote_errors(self.name, "read", path):
            return await ssh_files.read_file(session.sftp, path)

    async def write_file(
        self, path: str, content: bytes, *, mode: int, follow_parent_symlinks: bool = True
    ) -> None:
        session = await self._link.session()
        with ssh_files.remote_errors(self.name, "write", path):
            if not follow_parent_symlinks:
                await ssh_files.write_within(session.sftp, self.name, path, content, mode)
                return
            await ssh_files.write_file(session.sftp, path, content, mode)

    async def set_mode(self, path: str, mode: int) -> None:
        session = await self._link.session()
        with ssh_files.remote_errors(self.name, "set the mode of", path):
            await ssh_files.set_mode(session.sftp, path, mode)

    async def make_directory(self, path: str, *, mode: int) -> None:
        session = await self._link.session()
        with ssh_files.remote_errors(self.name, "create directory", path):
            await ssh_files.make_directory(session.sftp, path, mode)

    async def resolve(self, path: str) -> str | None:
        # The SFTP session runs as root under sudo=True, so it resolves what root sees.
        session = await self._link.session()
        with ssh_files.remote_errors(self.name, "resolve", path):
            return await ssh_files.resolve(session.sftp, path)

    async def digest(self, path: str) -> str | None:
        # Hashed on the host (sha256sum): a large file never crosses the connection.
        return ssh_files.parse_digest(self.name, path, await self.run(ssh_files.digest_command(path)))


@dataclass
class _Session:
    """One open connection with its SFTP session and its channel budget."""

    conn: asyncssh.SSHClientConnection
    sftp: asyncssh.SFTPClient
    channels: anyio.Semaphore
    stopper: GroupStopper
    loop: asyncio.AbstractEventLoop

    @property
    def usable(self) -> bool:
        return not self.conn.is_closed() and self.loop is asyncio.get_running_loop()


class _HostLink:
    """The mutable part of a host: its live session, opened once and shared by all callers."""

    def __init__(self, host: LinuxHostTopology) -> None:
        self._host = host
        self._session: _Session | None = None
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    async def session(self) -> _Session:
        current = self._session
        if current is not None and current.usable:
            return current
        lock = self._lock()
        async with lock:
            current = self._session
            if current is not None and current.usable:
                return current
            self._session = await self._open()
            return self._session

    def _lock(self) -> asyncio.Lock:
        # An asyncio lock belongs to one loop; each run (loop) gets its own, old ones are dropped.
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            self._locks = {loop: (lock := asyncio.Lock())}
        return lock

    async def _open(self) -> _Session:
        host = self._host
        conn = await connect(host.connect_options())
        try:
            sftp = await self._start_sftp(conn)
        except BaseException:
            conn.close()
            raise
        return _Session(
            conn, sftp, anyio.Semaphore(host.max_sessions - RESERVED_SESSIONS), GroupStopper(conn, sudo=host.sudo),
            asyncio.get_running_loop(),
        )  # fmt: skip

    async def _start_sftp(self, conn: asyncssh.SSHClientConnection) -> asyncssh.SFTPClient:
        # surrogateescape: a path str holding bytes that are not UTF-8 (os.fsdecode's) goes out as those bytes.
        if not self._host.sudo:
            return await conn.start_sftp_client(path_errors=PATH_ERRORS)
        # As root: the host's sftp-server under sudo, spoken to over an exec channel.
        from asyncssh.sftp import start_sftp_client

        line = plain_line([self._host.sftp_server], sudo=True)
        # bytes: see ssh_command (asyncssh's annotation says str; its exec request takes either).
        writer, reader, _ = await conn.open_session(cast(str, line), encoding=None)
        return await start_sftp_client(conn, asyncio.get_running_loop(), "strict", reader, writer, "utf-8", PATH_ERRORS, 3)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        if session.loop is not asyncio.get_running_loop():
            _abandon(session)
            return
        with anyio.CancelScope(shield=True):
            session.sftp.exit()
            session.conn.close()
            with anyio.move_on_after(5):
                await session.conn.wait_closed()


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
