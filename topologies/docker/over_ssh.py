"""Docker on a host reached over SSH: the engine's unix socket, forwarded through the SSH connection.

The docker SDK talks to a local socket in a private 0700 directory; the SSH
connection carries each of its connections to the engine's socket on the
host (OpenSSH's ``direct-streamlocal`` channel, what ``ssh -L local:remote``
does). No engine port is opened on the network, and reaching the engine
needs exactly the rights of the SSH login. See adr/0034.

Whether the host has an engine is known only once connected: ``ensure_ready``
asks it (:meth:`DockerOverSsh.probe_docker`), and the maestro's capability
check, which runs right after, refuses Docker scores with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
import asyncssh

from capabilities.command_runner import CommandRunnerService, FileKind
from topologies.errors import DockerUnavailableError
from topologies.gap_hooks import inherited_gaps

from .engine import DockerEngine, close_client, includes_docker, probe_engine

DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"
_PROBE_TIMEOUT_S = 5.0


class _EngineLink:
    """The mutable part: the open forward, and what the last probe found.

    ``problem`` is why the engine did not answer the last probe; ``None``
    when it answered, or while nobody has asked yet.
    """

    def __init__(self) -> None:
        self.forward: UnixSocketForward | None = None
        self.problem: str | None = None
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def lock(self) -> asyncio.Lock:
        # An asyncio lock belongs to one loop; each run (loop) gets its own.
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            self._locks = {loop: (lock := asyncio.Lock())}
        return lock

    def close(self) -> None:
        forward, self.forward = self.forward, None
        if forward is not None:
            close_client(forward.url)
            forward.close()


@dataclass(frozen=True, kw_only=True)
class DockerOverSsh(DockerEngine):
    """Mixin for an SSH host: provides ``Docker`` when an engine answers on the host.

    ``docker_socket`` is the engine's socket path on the host. The SSH user
    must be allowed to use it (root, or a member of the ``docker`` group:
    forwarding runs as the login user, ``sudo`` does not apply), and sshd
    must allow stream forwarding (``AllowStreamLocalForwarding``, on by
    default). Missing images are an error unless ``docker_pull_missing``.

    The class using it provides ``ssh_connection()`` (the host's open
    connection) and ``command_runner()``.
    """

    docker_socket: str = DEFAULT_DOCKER_SOCKET
    docker_pull_missing: bool = False
    _docker_link: _EngineLink = field(default_factory=_EngineLink, init=False, repr=False, compare=False)

    async def ssh_connection(self) -> asyncssh.SSHClientConnection:
        raise NotImplementedError

    def command_runner(self) -> CommandRunnerService:
        """The host's command runner; the topology this mixin is part of provides it."""
        raise NotImplementedError

    def _docker_url(self) -> str | None:
        forward = self._docker_link.forward
        return forward.url if forward is not None else None

    def _docker_pulls(self) -> bool:
        return self.docker_pull_missing

    def _docker_where(self) -> str:
        return f"{self._remote_socket()} on {getattr(self, 'name', 'the host')} (through SSH)"

    def _remote_socket(self) -> str:
        return self.docker_socket.removeprefix("unix://")

    async def _engine_url(self) -> str:
        return (await self._forward()).url

    async def _forward(self) -> UnixSocketForward:
        """The forward over the current connection, opened on first use and again after a reconnect."""
        conn = await self.ssh_connection()
        link = self._docker_link
        async with link.lock():
            if link.forward is not None and link.forward.conn is conn:
                return link.forward
            link.close()
            try:
                link.forward = await forward_unix_socket(conn, self._remote_socket())
            except OSError as exc:
                raise DockerUnavailableError(
                    f"{self._docker_where()}: cannot listen on a local socket to forward it: {exc}"
                ) from exc
            return link.forward

    async def probe_docker(self) -> dict[str, str]:
        """Ask the host's engine whether it answers; remember the answer for the capability check.

        Returns facts for the topology report (the engine's version), empty
        when there is no engine. Never raises for a missing engine: a host
        without one is still a good host for every other score.
        """
        link = self._docker_link
        try:
            version = await self._ask_engine()
        except DockerUnavailableError as exc:
            link.close()
            link.problem = str(exc)
            return {}
        link.problem = None
        return {
            "docker.version": str(version.get("Version", "unknown")),
            "docker.api_version": str(version.get("ApiVersion", "unknown")),
        }

    async def _ask_engine(self) -> dict[str, Any]:
        host = getattr(self, "name", "the host")
        path = self._remote_socket()
        found = await self.command_runner().stat(path)
        if found is None:
            raise DockerUnavailableError(
                f"no Docker engine on {host}: {path} does not exist (docker_socket names the engine's socket there)"
            )
        if found.kind in (FileKind.FILE, FileKind.DIRECTORY):
            raise DockerUnavailableError(f"no Docker engine on {host}: {path} is a {found.kind.value}, not a socket")
        # One direct channel first: sshd's refusal names the reason, which a
        # connection through the forward (simply closed) would not.
        conn = await self.ssh_connection()
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
        url = (await self._forward()).url
        problem = await anyio.to_thread.run_sync(probe_engine, url)
        if problem is not None:
            raise DockerUnavailableError(f"no Docker engine answers at {path} on {host}: {problem}")
        version: dict[str, Any] = await self._call(lambda client: client.version())
        return version

    async def close_docker(self) -> None:
        """Stop forwarding and remove the local socket (the topology's ``aclose`` calls this)."""
        self._docker_link.close()

    def capability_gaps(self, capability: type) -> list[str]:
        gaps = inherited_gaps(super(), self, capability)
        problem = self._docker_link.problem
        # Before the host is made ready nothing is known (a group checks its
        # members' classes before connecting): each member's check after its
        # ensure_ready decides.
        if not gaps and problem is not None and includes_docker(capability):
            gaps.append(problem)
        return gaps


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
