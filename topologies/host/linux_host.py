"""A Linux machine reached over SSH, assembled from the technology subpackages.

It provides ``CommandRunner`` through its :class:`SshCommandRunner` (one
connection per host for the whole run, files over one SFTP session on it,
commands in a bounded number of exec channels: see ssh/runner.py), and
``PostgreSQLServer`` and ``LoadBalancer`` (nginx) driven through that runner.
It provides ``Docker`` when the host's engine answers through the SSH
connection (its socket forwarded, see docker/over_ssh.py), and with both,
``ApplicationPlatform``: applications as replicated containers behind nginx,
their PostgreSQL on the host (see app/ssh_host.py).

Import this module (or ``topologies.LinuxHostTopology``) only where SSH is
wanted: it imports asyncssh, which ``import topologies`` does not.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import asyncssh

from typing import TYPE_CHECKING

from harmony_py.capability_check import member_gaps
from harmony_py.errors import ScoreValueError
from harmony_py.topology import TopologyReport
from harmony_py.values import Secret
from topologies.balancer import DEFAULT_ROOT
from topologies.docker.over_ssh import DEFAULT_DOCKER_SOCKET, DockerOverSsh
from topologies.gap_hooks import asks_for_docker, includes_runtime

from .base import HostTopology
from .os_facts import parse_os_release
from .ssh.connection import ConnectOptions, known_hosts_problem
from .ssh.runner import RESERVED_SESSIONS, SshCommandRunner, SshSettings

# PostgreSQL, nginx and the application runtime are imported by the accessors that build them: a
# fleet of files and commands does not load them (adr/0110); the capability check resolves these.
if TYPE_CHECKING:
    from topologies.app.runtime import HostApplicationRuntime
    from topologies.app.ssh_host import RemoteApplications
    from topologies.balancer.nginx import NginxBalancer
    from topologies.docker.engine import DockerEngine
    from topologies.postgres.host import HostPostgreSQL

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
DEFAULT_MAX_SESSIONS = 10
"""OpenSSH's default ``MaxSessions``: concurrent channels one connection may open."""
DEFAULT_SFTP_SERVER = "/usr/lib/openssh/sftp-server"


@dataclass(frozen=True)
class LinuxHostTopology(HostTopology):
    """A Linux host over SSH.

    Host keys are verified against ``known_hosts``; an unknown key is refused
    unless ``accept_new_host_key=True`` (trust on first use, then recorded),
    a changed key always. ``client_keys`` are private key paths (``None``: the
    agent and ~/.ssh defaults). ``sudo=True`` runs commands and file access as
    root through ``sudo -n`` (passwordless sudo required). ``max_sessions`` is
    the server's ``MaxSessions``. ``docker_socket`` is the Docker engine's socket
    on the host (missing images are pulled only with ``docker_pull_missing``);
    ``balancer_root`` where the nginx balancer instance lives.

    Applications (``application_runtime()``) run as replicated containers
    behind the balancer on ``app_address`` (default: ``host``), see
    topologies/app/ssh_host.py. ``postgres_listen`` replaces a PostgreSQL
    score's loopback-only listen addresses on this host, ``postgres_networks``
    is added to its allowed networks (a database host for applications
    elsewhere, adr/0067).
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
    docker_socket: str = field(default=DEFAULT_DOCKER_SOCKET, kw_only=True)
    docker_pull_missing: bool = field(default=False, kw_only=True)
    balancer_root: str = field(default=DEFAULT_ROOT, kw_only=True)
    app_address: str | None = field(default=None, kw_only=True)
    app_host_paths: tuple[str, ...] = field(default=(), kw_only=True)
    app_backend_ports: range = field(default=range(20000, 21000), kw_only=True)
    app_start_timeout_s: float = field(default=30.0, kw_only=True)
    postgres_listen: tuple[str, ...] = field(default=(), kw_only=True)
    postgres_networks: tuple[str, ...] = field(default=(), kw_only=True)
    _runner: SshCommandRunner = field(init=False, repr=False, compare=False, hash=False)

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
        settings = SshSettings(
            self.name, self.connect_options(), sudo=self.sudo, command_timeout_s=self.command_timeout_s,
            max_sessions=self.max_sessions, sftp_server=self.sftp_server,
        )  # fmt: skip
        object.__setattr__(self, "_runner", SshCommandRunner(settings))

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

    def command_runner(self) -> SshCommandRunner:
        return self._runner

    def docker(self) -> DockerEngine:
        return self._docker.engine

    def load_balancer(self) -> NginxBalancer:
        from topologies.balancer.nginx import NginxBalancer

        return NginxBalancer(self._runner, self.balancer_root)

    def application_runtime(self) -> HostApplicationRuntime:
        return self._applications.runtime(self.name, self.host, self)

    @functools.cached_property
    def _docker(self) -> DockerOverSsh:
        # Made on first use and kept (the forward it opens lives as long as the connection).
        return DockerOverSsh(
            self.name, self.docker_socket, self._runner, self._runner.connection, pull_missing=self.docker_pull_missing
        )

    def capability_gaps(self, capability: type) -> list[str]:
        """What the class lacks of ``capability``; then the run-time condition: Docker needs an engine that answers.

        What the engine said is known from ``ensure_ready``'s probe. Before the
        host is made ready nothing is known (a group checks its members'
        classes before connecting): each member's check after its
        ``ensure_ready`` decides.
        """
        gaps = member_gaps(self, capability)
        problem = self._docker.problem
        if gaps or problem is None:
            return gaps
        if asks_for_docker(capability):
            return [problem]
        if includes_runtime(capability):
            return [f"applications run in containers here, but {problem}"]
        return []

    def postgresql(self) -> HostPostgreSQL:
        """PostgreSQL on the host, advertised at ``host`` unless a listen address names another (adr/0025)."""
        from topologies.postgres.host import HostPlacement, HostPostgreSQL

        placement = HostPlacement(reached_at=self.host, listen=self.postgres_listen, networks=self.postgres_networks)
        return HostPostgreSQL(self.command_runner(), placement)

    async def ensure_ready(self) -> TopologyReport:
        """Connect (verifying the host key) and report the OS and whether a Docker engine answers."""
        # Connects first (verifying the host key); the connection stays the runner's own.
        user = await self._runner.login_name()
        # Both facts in one command of the batch (adr/0108): no SFTP session is started just for them.
        async with self._runner.observing([self._docker.address.socket], read=["/etc/os-release"]):
            os_release = await self._runner.read_file("/etc/os-release")
            facts = parse_os_release(os_release.decode("utf-8", "replace")) if os_release else {"os": "unknown"}
            facts["user"] = "root" if self.sudo else user
            facts["host"] = self.host
            facts.update(await self._docker.probe())
        return TopologyReport(self.name, facts)

    async def ssh_connection(self) -> asyncssh.SSHClientConnection:
        """The host's connection, opened on first use; adapters tunnel through it."""
        return await self._runner.connection()

    @functools.cached_property
    def _applications(self) -> RemoteApplications:
        from topologies.app.ssh_host import RemoteApplications

        return RemoteApplications(self.app_address, self.app_host_paths, self.app_backend_ports, self.app_start_timeout_s)

    async def aclose(self) -> None:
        """Close the connection; the next use opens a new one."""
        self._docker.close()
        await self._runner.aclose()
