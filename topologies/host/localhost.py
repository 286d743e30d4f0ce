"""The local machine: the embedded default topology."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from harmony_py.topology import TopologyReport
from topologies.app.localhost import AppRuntimeKind, LocalApplications
from topologies.app.runtime import HostApplicationRuntime, includes_runtime
from topologies.balancer.nginx import NginxLoadBalancer
from topologies.docker.engine import DockerOnHost
from topologies.postgres.host import HostPostgreSQLMixin

from .base import HostTopology
from .local_runner import LocalCommandRunner
from .os_facts import current_user, os_facts


@dataclass(frozen=True)
class LocalhostTopology(HostTopology, DockerOnHost, NginxLoadBalancer, HostPostgreSQLMixin):
    """This machine, as the user running harmony_py.

    Provides ``CommandRunner`` (a :class:`LocalCommandRunner`), ``LoadBalancer``,
    ``PostgreSQLServer`` and ``ApplicationRuntime`` (a
    :class:`HostApplicationRuntime`: supervised processes, or with
    ``app_runtime="docker"`` containers behind the balancer, see
    topologies/app/localhost.py), and ``Docker`` when an engine answers.
    """

    name: str = "localhost"
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

    def application_runtime(self) -> HostApplicationRuntime:
        return self._applications.runtime(self.name, self._runner, self)

    async def ensure_ready(self) -> TopologyReport:
        facts = dict(os_facts())
        facts["user"] = current_user()
        return TopologyReport(self.name, facts)

    def capability_gaps(self, capability: type) -> list[str]:
        """The members' check, plus the run-time conditions: the engine the Docker parts need answers."""
        gaps = super().capability_gaps(capability)
        if not gaps and includes_runtime(capability):
            problem = self._applications.gap(self.docker_host)
            if problem is not None:
                gaps.append(problem)
        return gaps

    @functools.cached_property
    def _runner(self) -> LocalCommandRunner:
        # Made on first use and kept: a frozen dataclass without slots has a __dict__ to keep it in.
        return LocalCommandRunner(self.name)

    @functools.cached_property
    def _applications(self) -> LocalApplications:
        return LocalApplications(
            self.app_runtime, self.app_address, self.apps_root, self.app_host_paths,
            self.app_backend_ports, self.app_start_timeout_s,
        )  # fmt: skip
