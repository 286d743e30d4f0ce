"""The steps of one host PostgreSQL server's walk, in order (run by :mod:`.steps`).

Binaries, cluster, configuration files (reloaded when the server runs), start,
roles and databases. Each plans from what it observes and from
:class:`ServerForecast`, what the steps before it will have done, so the plan of
a fresh host lists its files, its start and its roles as a deploy makes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from capabilities.postgresql import ReplicationRole, ReplicationState
from harmony_py.hostops.files import PlannedFile, converge_files
from harmony_py.values import Change, ChangeAction
from topologies.errors import HostPostgreSQLError

from .steps import Step

if TYPE_CHECKING:
    from .server import HostPostgreSQLServer


@dataclass
class ServerForecast:
    """What the earlier steps of one walk observed, or will have done by the time a later step converges."""

    target: str
    current: ReplicationState | None = None
    """The state of a server that answered on the cluster's socket when the walk began."""
    facts: dict[str, Any] | None = None
    """Its roles and databases, read with that state (a reload or restart changes neither)."""
    fresh: bool = False
    """The cluster will be initialised by this walk."""
    was_running: bool = False
    """The server ran before this walk (its files are then reloaded, not started)."""
    started: bool = False
    """This walk will start the server."""


def server_steps(server: HostPostgreSQLServer) -> list[Step[ServerForecast]]:
    return [
        BinariesStep(server),
        ClusterStep(server),
        FilesStep(server),
        StartStep(server),
        RolesStep(server),
    ]


@dataclass
class BinariesStep:
    server: HostPostgreSQLServer

    async def plan(self, predicted: ServerForecast) -> list[Change]:
        if await self.server.binaries_present():
            return []
        return [Change(ChangeAction.CREATE, predicted.target, f"install PostgreSQL {self.server.config.version} with apt")]

    async def converge(self, changes: Sequence[Change]) -> None:
        await self.server.install_binaries()


@dataclass
class ClusterStep:
    server: HostPostgreSQLServer

    async def plan(self, predicted: ServerForecast) -> list[Change]:
        answering = await self.server.answering_state()
        if answering is not None:
            predicted.current, predicted.facts = answering
            return []
        # A server answering on the cluster's own socket runs on its data
        # directory, which is then postgres's: no need to look (a program).
        await self.server.check_data_dir()
        predicted.fresh = not await self.server.has_data()
        if not predicted.fresh:
            return []
        return [Change(ChangeAction.CREATE, predicted.target, f"initialise cluster in {self.server.layout.data_dir}")]

    async def converge(self, changes: Sequence[Change]) -> None:
        await self.server.initdb()


@dataclass
class FilesStep:
    """The configuration files, converged as ``FileScore`` converges one; a running server reloads them."""

    server: HostPostgreSQLServer
    planned: list[PlannedFile] = field(default_factory=list)
    running: bool = False

    async def plan(self, predicted: ServerForecast) -> list[Change]:
        configuration = await self.server.plan_configuration(fresh=predicted.fresh)
        self.planned = configuration.files
        self.running = predicted.current is not None or (not predicted.fresh and await self.server.running())
        predicted.was_running = self.running
        return configuration.changes

    async def converge(self, changes: Sequence[Change]) -> None:
        await converge_files(self.server.runner, self.planned)
        if self.running:
            await self.server.reload_or_restart()


@dataclass
class StartStep:
    server: HostPostgreSQLServer

    async def plan(self, predicted: ServerForecast) -> list[Change]:
        if predicted.was_running:
            return []
        if not predicted.fresh and await self.server.fenced():
            raise HostPostgreSQLError(
                f"{predicted.target} is fenced after a failover and must not start as a primary: it rejoins as a "
                "replica when its replicated cluster is deployed again"
            )
        predicted.started = True
        return [Change(ChangeAction.RUN, predicted.target, f"start PostgreSQL on port {self.server.layout.port}")]

    async def converge(self, changes: Sequence[Change]) -> None:
        await self.server.start()


@dataclass
class RolesStep:
    """A primary's roles, databases and grants (a replica gets them by replication)."""

    server: HostPostgreSQLServer
    statements: list[str] = field(default_factory=list)

    async def plan(self, predicted: ServerForecast) -> list[Change]:
        self.statements = []
        if await self._in_recovery(predicted):
            return []
        facts = predicted.facts
        if not predicted.was_running and not await self.server.running():
            # Started by this walk only in a deploy: a plan has no server to ask.
            return self.server.roles_to_create(predicted.target)
        if facts is None:
            facts = await self.server.role_facts()
        changes, self.statements = self.server.role_plan(facts, predicted.target)
        return changes

    async def _in_recovery(self, predicted: ServerForecast) -> bool:
        if predicted.fresh or not predicted.was_running:
            return await self.server.runner.stat(f"{self.server.layout.data_dir}/standby.signal") is not None
        if predicted.current is not None:
            return predicted.current.role is ReplicationRole.REPLICA
        return (await self.server.state()).role is ReplicationRole.REPLICA

    async def converge(self, changes: Sequence[Change]) -> None:
        await self.server.create_roles(self.statements)
