"""ApplicationTopology: an application runtime paired with the topology that holds its database.

``ApplicationTopology(runtime=LocalhostTopology(...), database=FailoverTopology(a, b))``
runs the application where ``runtime`` runs applications and its PostgreSQL
on ``database``, here a primary and a streaming replica. It provides
``ApplicationPlatform`` by delegation, so an ``ApplicationScore`` applies to
it unchanged. The fields are typed by capability: mypy rejects a ``database``
that is not PostgreSQL (``FailoverTopology[DockerTopology]``) and a
``runtime`` that runs no applications, where the pair is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing_extensions import get_protocol_members

from capabilities.application import ApplicationPlatform, ApplicationRuntime, ApplicationRuntimeService, AppSpec
from capabilities.postgresql import PgConfig, PgEndpoint, PostgreSQL, PostgreSQLService
from harmony_py.capability_check import capability_gaps, capability_name, member_gaps
from harmony_py.topology import TopologyReport, close_topology
from harmony_py.values import Change


@dataclass(frozen=True)
class ApplicationTopology:
    """Applications on ``runtime``, their PostgreSQL databases on ``database``."""

    runtime: ApplicationRuntime
    database: PostgreSQL

    @property
    def name(self) -> str:
        return f"ApplicationTopology[{_name(self.runtime)}, {_name(self.database)}]"

    async def ensure_ready(self) -> TopologyReport:
        facts: dict[str, str] = {}
        for label, part in (("runtime", self.runtime), ("database", self.database)):
            ready = getattr(part, "ensure_ready", None)
            if ready is not None:
                report: TopologyReport = await ready()
                facts.update({f"{label}.{key}": value for key, value in report.facts.items()})
        return TopologyReport(self.name, facts)

    async def aclose(self) -> None:
        await close_topology(self.runtime)
        await close_topology(self.database)

    def capability_gaps(self, capability: type) -> list[str]:
        """Each half answers for the members of the capability it provides."""
        try:
            members = get_protocol_members(capability)
        except TypeError:
            return [f"{capability!r} is not a Protocol"]
        gaps: list[str] = []
        halves: tuple[tuple[str, object, type], ...] = (
            ("runtime", self.runtime, ApplicationRuntime),
            ("database", self.database, PostgreSQL),
        )
        for label, part, provided in halves:
            if not members & get_protocol_members(provided):
                continue
            if provided is PostgreSQL:
                # A refinement (PostgreSQLServer, a user's extension) is asked as itself: of this
                # topology's own accessor first (it returns a PostgreSQLService), then of the database.
                asked = _postgresql_part(capability)
                own = member_gaps(self, asked)
                if own:
                    gaps += own
                    continue
                provided = asked
            gaps += [f"{label}: {gap}" for gap in capability_gaps(part, provided)]
        beyond = sorted(members - get_protocol_members(ApplicationPlatform))
        if beyond:
            gaps.append(
                f"{capability_name(capability)} (missing {', '.join(beyond)}: an ApplicationTopology provides "
                "only ApplicationRuntime, from its runtime, and PostgreSQL, from its database)"
            )
        return gaps

    # -- ApplicationRuntime: the runtime's ------------------------------------

    def application_runtime(self) -> ApplicationRuntimeService:
        return self.runtime.application_runtime()

    # -- PostgreSQL: the database topology's ----------------------------------

    def postgresql(self) -> PostgreSQLService:
        return self.database.postgresql()


def _postgresql_part(capability: type) -> type:
    """The most derived PostgreSQL capability ``capability`` is made of (``PostgreSQL`` within ``ApplicationPlatform``)."""
    for part in capability.__mro__:
        if getattr(part, "_is_protocol", False) and issubclass(part, PostgreSQL) and not issubclass(part, ApplicationRuntime):
            return part
    return PostgreSQL


def _name(part: object) -> str:
    name = getattr(part, "name", None)
    return name if isinstance(name, str) else type(part).__name__
