"""Docker on a host reached over SSH: the engine's unix socket, forwarded through the SSH connection.

The docker SDK talks to a local socket in a private 0700 directory; the SSH
connection carries each of its connections to the engine's socket on the
host (OpenSSH's ``direct-streamlocal`` channel, what ``ssh -L local:remote``
does). No engine port is opened on the network, and reaching the engine
needs exactly the rights of the SSH login. See adr/0034.

Whether the host has an engine is known only once connected: the host's
``ensure_ready`` asks it (:meth:`DockerOverSsh.probe`), and the maestro's
capability check, which runs right after, refuses Docker scores with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio
import anyio.to_thread
import asyncssh

from capabilities.command_runner import CommandRunnerService, FileKind
from topologies.errors import DockerUnavailableError
from topologies.loop_lock import LoopLock

from .engine import DockerEngine, close_client, probe_engine

DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"
_PROBE_TIMEOUT_S = 5.0

Connect = Callable[[], Awaitable[asyncssh.SSHClientConnection]]
"""The host's open SSH connection (opened on first use, again after it was lost)."""


class ForwardedSocket:
    """An ``EngineAddress``: the engine's socket on the host, forwarded to a private local socket.

    The forward is opened on first use and again when the connection it runs
    over was replaced (a reconnect).
    """

    def __init__(self, host: str, socket: str, connect: Connect) -> None:
        self.host = host
        self.socket = socket.removeprefix("unix://")
        self._connect = connect
        self._forward: UnixSocketForward | None = None
        self._lock = LoopLock()

    def where(self) -> str:
        return f"{self.socket} on {self.host} (through SSH)"

    async def url(self) -> str:
        conn = await self._connect()
        async with self._lock():
            if self._forward is not None and self._forward.conn is conn:
                return self._forward.url
            self.close()
            try:
                self._forward = await forward_unix_socket(conn, self.socket)
            except OSError as exc:
                raise DockerUnavailableError(
                    f"{self.where()}: cannot listen on a local socket to forward it: {exc}"
                ) from exc
            return self._forward.url

    def close(self) -> None:
        """Stop forwarding and remove the local socket; safe to repeat."""
        forward, self._forward = self._forward, None
        if forward is not None:
            close_client(forward.url)
            forward.close()


class DockerOverSsh:
    """An SSH host's Docker engine: the :class:`DockerEngine` service over a :class:`ForwardedSocket`.

    ``socket`` is the engine's socket path on the host. The SSH user must be
    allowed to use it (root, or a member of the ``docker`` group: forwarding
    runs as the login user, ``sudo`` does not apply), and sshd must allow
    stream forwarding (``AllowStreamLocalForwarding``, on by default).

    :meth:`probe` asks whether the engine answers and keeps the answer in
    :attr:`problem` (``None`` when it answered, or while nobody has asked
    yet), which the host's ``capability_gaps`` reports.
    """

    def __init__(
        self, host: str, socket: str, runner: CommandRunnerService, connect: Connect, *, pull_missing: bool = False
    ) -> None:
        self.host = host
        self.runner = runner
        self._connect = connect
        self.address = ForwardedSocket(host, socket, connect)
        self.engine = DockerEngine(self.address, pull_missing=pull_missing)
        self.problem: str | None = None

    async def probe(self) -> dict[str, str]:
        """Ask the host's engine whether it answers; remember the answer for the capability check.

        Returns facts for the topology report (the engine's version), empty
        when there is no engine. Never raises for a missing engine: a host
        without one is still a good host for every other score.
        """
        try:
            facts = await self._ask_engine()
        except DockerUnavailableError as exc:
            self.address.close()
            self.problem = str(exc)
            return {}
        self.problem = None
        return facts

    async def _ask_engine(self) -> dict[str, str]:
        host, path = self.host, self.address.socket
        found = await self.runner.stat(path)
        if found is None:
            raise DockerUnavailableError(
                f"no Docker engine on {host}: {path} does not exist (docker_socket names the engine's socket there)"
            )
        if found.kind in (FileKind.FILE, FileKind.DIRECTORY):
            raise DockerUnavailableError(f"no Docker engine on {host}: {path} is a {found.kind.value}, not a socket")
        # One direct channel first: sshd's refusal names the reason, which a
        # connection through the forward (simply closed) would not.
        conn = await self._connect()
        try:
            with anyio.fail_after(_PROBE_TIMEOUT_S):
                _reader, writer = await conn.open_unix_connection(path)
        except asyncssh.ChannelOpenError as exc:
            raise DockerUnavailableError(
                f"the Docker engine on {host} cannot be reached: the SSH server would not connect to {path} "
                f"({exc.reason}); either nothing listens on it, or the SSH user may not use it (it needs root "
                "or the docker group), or sshd does not allow stream forwarding (AllowStreamLocalForwarding)"
            ) from None
        except TimeoutError:
            raise DockerUnavailableError(
                f"the Docker engine on {host} cannot be reached: opening {path} took over {_PROBE_TIMEOUT_S:g} s"
            ) from None
        writer.close()
        problem = await anyio.to_thread.run_sync(probe_engine, await self.address.url())
        if problem is not None:
            raise DockerUnavailableError(f"no Docker engine answers at {path} on {host}: {problem}")
        return await self.engine.version()

    def close(self) -> None:
        """Stop forwarding and remove the local socket (the host's ``aclose`` calls this)."""
        self.address.close()


# -- unix socket forwarding -------------------------------------------------

FORWARD_SOCKET_NAME = "forward.sock"


@dataclass
class UnixSocketForward:
    """A local unix socket whose connections the SSH connection carries to a socket on the host.

    The local socket lives in a directory of its own created 0700, so only
    this user can connect to it: reaching the remote socket through it needs
    the same rights as the SSH login itself. Nothing listens on the network.
    """

    conn: asyncssh.SSHClientConnection
    listener: asyncssh.SSHListener
    directory: str
    remote_path: str

    @property
    def local_path(self) -> str:
        return os.path.join(self.directory, FORWARD_SOCKET_NAME)

    @property
    def url(self) -> str:
        return f"unix://{self.local_path}"

    def close(self) -> None:
        """Stop listening and remove the private directory; safe to repeat."""
        # The listener may belong to an event loop that has ended (one run per
        # loop); its server is then already unusable, and only the files remain.
        with contextlib.suppress(RuntimeError):
            self.listener.close()
        shutil.rmtree(self.directory, ignore_errors=True)


async def forward_unix_socket(conn: asyncssh.SSHClientConnection, remote_path: str) -> UnixSocketForward:
    """Listen on a fresh private local socket and forward each connection to ``remote_path`` on the host."""
    directory = tempfile.mkdtemp(prefix="harmony-ssh-")  # created 0700
    try:
        local_path = os.path.join(directory, FORWARD_SOCKET_NAME)
        listener = await conn.forward_local_path(local_path, remote_path)
        os.chmod(local_path, 0o600)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    forward = UnixSocketForward(conn, listener, directory, remote_path)
    # Also removed when the program ends without closing it.
    weakref.finalize(forward, shutil.rmtree, directory, True)
    return forward
