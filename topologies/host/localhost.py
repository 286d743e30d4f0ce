"""The local machine: the embedded default topology."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from harmony_py.topology import TopologyReport
from topologies.app.localhost import LocalhostApplications
from topologies.balancer.nginx import NginxLoadBalancer
from topologies.docker.engine import DockerOnHost
from topologies.postgres.host import HostPlacement, HostPostgreSQL

from .base import HostTopology
from .local_runner import LocalCommandRunner
from .os_facts import current_user, os_facts


@dataclass(frozen=True)
class LocalhostTopology(HostTopology, LocalhostApplications, DockerOnHost, NginxLoadBalancer):
    """This machine, as the user running harmony_py.

    Provides ``CommandRunner`` (a :class:`LocalCommandRunner`), ``LoadBalancer``
    and ``PostgreSQLServer`` (a :class:`HostPostgreSQL` over the runner), and
    ``Docker`` when an engine answers.
    """

    name: str = "localhost"

    def command_runner(self) -> LocalCommandRunner:
        return self._runner

    def postgresql(self) -> HostPostgreSQL:
        return HostPostgreSQL(self.command_runner(), self.postgresql_placement())

    def postgresql_placement(self) -> HostPlacement:
        """Where this machine's PostgreSQL clusters live (the default: ``/var/lib/postgresql``)."""
        return HostPlacement()

    async def ensure_ready(self) -> TopologyReport:
        facts = dict(os_facts())
        facts["user"] = current_user()
        return TopologyReport(self.name, facts)

    @functools.cached_property
    def _runner(self) -> LocalCommandRunner:
        # Made on first use and kept: a frozen dataclass without slots has a __dict__ to keep it in.
        return LocalCommandRunner(self.name)


