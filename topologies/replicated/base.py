"""The base of higher-order topologies: one leader and its followers.

A capability accessor here exists for every ``ReplicatedTopology[T]``, but
each is two overloads: one whose ``self`` is ``ReplicatedTopology[<Capability>]``,
and a fallback taking a marker no caller has. mypy therefore accepts the call,
and the structural match against the capability Protocol, only when ``T``
provides the capability (see adr/0002). ``T_co`` must stay covariant and the
subclasses frozen for that to hold.

The run-time check mirrors it: :meth:`capability_gaps` asks each sub-topology.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Generic, TypeVar, overload

from capabilities.command_runner import CommandRunner
from capabilities.postgresql import PostgreSQL, PostgreSQLCluster, PostgreSQLClusterService, PostgreSQLServer
from harmony_py.capability_check import capability_gaps, delegated_gaps
from harmony_py.topology import TopologyReport, close_topology
from topologies.labelled_parts import on_each
from topologies.postgres.cluster import ReplicatedPostgreSQL
from topologies.postgres.patroni.cluster import PatroniCluster

from ._markers import _NotPostgreSQL

T_co = TypeVar("T_co", covariant=True)

# What each member must provide for the topology to provide a capability
# (when it is not the capability itself).
_MEMBERS_NEED: dict[type, type] = {PostgreSQL: PostgreSQLServer, PostgreSQLCluster: PostgreSQLServer}


class ReplicatedTopology(Generic[T_co]):
    """A leader topology and follower topologies that mirror it."""

    @property
    @abstractmethod
    def leader(self) -> T_co:
        """The member that holds the writable copy."""

    @property
    @abstractmethod
    def followers(self) -> tuple[T_co, ...]:
        """The members that follow the leader."""

    @abstractmethod
    def member_labels(self) -> tuple[str, ...]:
        """A label per member, leader first, used in reports and errors."""

    @property
    def witnesses(self) -> tuple[T_co, ...]:
        """The topology that runs only the HA engine's witness, when one is given (else empty)."""
        return ()

    @property
    def members(self) -> tuple[T_co, ...]:
        return (self.leader, *self.followers)

    @property
    def name(self) -> str:
        kinds = ", ".join(type(member).__name__ for member in self.members)
        return f"{type(self).__name__}[{kinds}]"

    def _parts(self) -> tuple[tuple[str, ...], tuple[T_co, ...]]:
        """The labels and topologies of the members, then of the witness."""
        witnesses = self.witnesses
        return (*self.member_labels(), *("witness" for _ in witnesses)), (*self.members, *witnesses)

    async def ensure_ready(self) -> TopologyReport:
        labels, parts = self._parts()
        reports = await on_each(labels, parts, _ensure_ready)
        facts = {
            f"{label}.{key}": value
            for label, report in zip(labels, reports)
            for key, value in report.facts.items()
        }
        return TopologyReport(self.name, facts)

    async def aclose(self) -> None:
        """Close what the members and the witness keep open (SSH connections); the Maestro calls it at the end."""
        for part in self._parts()[1]:
            await close_topology(part)

    def capability_gaps(self, capability: type) -> list[str]:
        gaps = delegated_gaps(self, capability, zip(self.member_labels(), self.members), _MEMBERS_NEED)
        if capability in _MEMBERS_NEED:
            # The witness runs only the engine's etcd member, through its commands.
            gaps += [f"witness: {gap}" for witness in self.witnesses for gap in capability_gaps(witness, CommandRunner)]
        return list(dict.fromkeys(gaps))

    # -- PostgreSQL: one primary, streaming replicas --
    # With a witness, under the HA engine (topologies/postgres/patroni/); without, the
    # leader/followers orchestration an operator drives (topologies/postgres/cluster.py, adr/0081).

    @overload
    def postgresql(self: ReplicatedTopology[PostgreSQLServer]) -> PostgreSQLClusterService: ...
    @overload
    def postgresql(self: ReplicatedTopology[object], members_not_postgresql_servers: _NotPostgreSQL) -> PostgreSQLClusterService: ...
    def postgresql(self: ReplicatedTopology[Any], members_not_postgresql_servers: Any = None) -> PostgreSQLClusterService:
        """The cluster of the members' PostgreSQL servers (``PostgreSQLCluster``), when they are servers."""
        servers = [member.postgresql() for member in self.members]
        if self.witnesses:
            return PatroniCluster(self.member_labels(), servers, self.witnesses[0])
        return ReplicatedPostgreSQL(self.member_labels(), servers)



async def _ensure_ready(member: Any) -> TopologyReport:
    report: TopologyReport = await member.ensure_ready()
    return report
