"""FailoverTopology[T]: a primary and a replica, each a T."""

from __future__ import annotations

from dataclasses import dataclass
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
    """

    primary: T_co
    replica: T_co

    @property
    def leader(self) -> T_co:
        return self.primary

    @property
    def followers(self) -> tuple[T_co, ...]:
        return (self.replica,)

    def member_labels(self) -> tuple[str, ...]:
        return ("primary", "replica")
