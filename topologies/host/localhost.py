"""The local machine: the embedded default topology."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harmony_py.capability_check import member_gaps
from harmony_py.topology import TopologyReport
from topologies.app.localhost import AppRuntimeKind, LocalApplications
from topologies.balancer import DEFAULT_ROOT
from topologies.gap_hooks import asks_for_docker, includes_runtime

from .base import HostTopology
from .local_runner import LocalCommandRunner
from .os_facts import current_user, os_facts

# The services' modules are imported by the accessors that build them: a plan of files and
# commands loads none of PostgreSQL, nginx, Docker or applications (adr/0110). The capability
# check resolves these names when it reads an accessor's return type.
if TYPE_CHECKING:
    from topologies.app.runtime import HostApplicationRuntime
    from topologies.balancer.nginx import NginxBalancer
    from topologies.docker.engine import DockerEngine, SocketAddress
    from topologies.postgres.host import HostPlacement, HostPostgreSQL


@dataclass(frozen=True)
class LocalhostTopology(HostTopology):
    """This machine, as the user running harmony_py.

    Provides ``CommandRunner`` (a :class:`LocalCommandRunner`), ``LoadBalancer``
    (an :class:`NginxBalancer` under ``balancer_root``), ``PostgreSQLServer``
    (a :class:`HostPostgreSQL` over the runner), ``ApplicationRuntime`` (a
    :class:`HostApplicationRuntime`: supervised processes, or with
    ``app_runtime="docker"`` containers behind the balancer, see
    topologies/app/localhost.py), and ``Docker`` (a :class:`DockerEngine` at
    ``docker_host``: ``None`` for ``DOCKER_HOST`` or the default socket) when
    an engine answers there. Missing images are pulled only with
    ``docker_pull_missing``.
    """

    name: str = "localhost"
    docker_host: str | None = field(default=None, kw_only=True)
    docker_pull_missing: bool = field(default=False, kw_only=True)
    balancer_root: str = field(default=DEFAULT_ROOT, kw_only=True)
    app_runtime: AppRuntimeKind = field(default="process", kw_only=True)
    app_address: str = field(default="127.0.0.1", kw_only=True)
    apps_root: str = field(default="/var/lib/harmony/apps", kw_only=True)
    app_host_paths: tuple[str, ...] = field(default=(), kw_only=True)
    app_backend_ports: range = field(default=range(20000, 21000), kw_only=True)
    app_start_timeout_s: float = field(default=30.0, kw_only=True)

    def __post_init__(self) -> None:
        self._applications  # the app_* settings are checked when the topology is made

    def command_runner(self) -> LocalCommandRunner:
        return self._runner

    def docker(self) -> DockerEngine:
        return self._docker

    def load_balancer(self) -> NginxBalancer:
        from topologies.balancer.nginx import NginxBalancer

        return NginxBalancer(self.command_runner(), self.balancer_root)

    def application_runtime(self) -> HostApplicationRuntime:
        return self._applications.runtime(self.name, self._runner, self)

    def postgresql(self) -> HostPostgreSQL:
        from topologies.postgres.host import HostPostgreSQL

        return HostPostgreSQL(self.command_runner(), self.postgresql_placement())

    def postgresql_placement(self) -> HostPlacement:
        """Where this machine's PostgreSQL clusters live (the default: ``/var/lib/postgresql``)."""
        from topologies.postgres.host import HostPlacement

        return HostPlacement()

    async def ensure_ready(self) -> TopologyReport:
        facts = dict(os_facts())
        facts["user"] = current_user()
        return TopologyReport(self.name, facts)

    def capability_gaps(self, capability: type) -> list[str]:
        """What the class lacks of ``capability``; then the run-time condition: Docker needs an engine that answers.

        The engine is asked here (blocking, seconds at most), when a capability
        needs it: ``Docker`` itself, or applications run in containers.
        """
        gaps = member_gaps(self, capability)
        needs_engine = asks_for_docker(capability)
        apps_in_containers = self.app_runtime == "docker" and includes_runtime(capability)
        if gaps or not (needs_engine or apps_in_containers):
            return gaps
        problem = self._docker_address.problem()
        if problem is None:
            return []
        if needs_engine:
            return [f"no Docker engine answers at {problem}"]
        return [f"applications run in containers here, but no Docker engine answers at {problem}"]

    # Made on first use and kept: a frozen dataclass without slots has a __dict__ to keep them in.

    @functools.cached_property
    def _runner(self) -> LocalCommandRunner:
        return LocalCommandRunner(self.name)

    @functools.cached_property
    def _docker_address(self) -> SocketAddress:
        from topologies.docker.engine import SocketAddress, engine_url

        return SocketAddress(engine_url(self.docker_host))

    @functools.cached_property
    def _docker(self) -> DockerEngine:
        from topologies.docker.engine import DockerEngine

        return DockerEngine(self._docker_address, pull_missing=self.docker_pull_missing)

    @functools.cached_property
    def _applications(self) -> LocalApplications:
        return LocalApplications(
            self.app_runtime, self.app_address, self.apps_root, self.app_host_paths,
            self.app_backend_ports, self.app_start_timeout_s,
        )  # fmt: skip
