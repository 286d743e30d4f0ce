"""FailoverTopology[T]: a primary and a replica, each a T."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic

from .replicated import ReplicatedTopology, T_co


@dataclass(frozen=True)
class FailoverTopology(ReplicatedTopology[T_co], Generic[T_co]):
    """A primary and a replica of the same kind.

    It provides a capability only when ``T`` does: ``FailoverTopology[LocalhostTopology]``
    gets PostgreSQL once localhost has it; ``FailoverTopology[SomethingWithout]`` is
    rejected by mypy wherever PostgreSQL is needed. Mixed kinds need an explicit
    parameter, e.g. ``FailoverTopology[PostgreSQL](a, b)``.
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
