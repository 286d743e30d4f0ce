"""FailoverTopology[T]: a primary and a replica, each a T."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic

from .base import ReplicatedTopology, T_co


@dataclass(frozen=True)
class FailoverTopology(ReplicatedTopology[T_co], Generic[T_co]):
    """A primary and a replica of the same kind.

    It provides a capability only when ``T`` does: ``FailoverTopology[LocalhostTopology]``
    is a PostgreSQL cluster since localhost is a PostgreSQL server;
    ``FailoverTopology[SomethingWithout]`` is rejected by mypy wherever PostgreSQL is
    needed. Mixed kinds need an explicit parameter naming what each member is, e.g.
    ``FailoverTopology[PostgreSQLServer](a, b)``. The two must be distinct servers: two
    on one machine are :class:`~topologies.host.local_instance.LocalInstance` members.

    ``witness``: a third ``T`` in its own failure domain that runs only the HA engine's
    witness (an etcd member). With it, PostgreSQL runs under Patroni and fails over by
    itself; without it, failover stays an operator's score (adr/0081).
    """

    primary: T_co
    replica: T_co
    witness: T_co | None = field(default=None, kw_only=True)

    @property
    def leader(self) -> T_co:
        return self.primary

    @property
    def followers(self) -> tuple[T_co, ...]:
        return (self.replica,)

    def member_labels(self) -> tuple[str, ...]:
        return ("primary", "replica")

    @property
    def witnesses(self) -> tuple[T_co, ...]:
        return () if self.witness is None else (self.witness,)
