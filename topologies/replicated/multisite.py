"""MultisiteTopology[T]: one primary site and one or more replica sites."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic

from harmony_py.errors import ScoreValueError

from .base import ReplicatedTopology, T_co


@dataclass(frozen=True)
class MultisiteTopology(ReplicatedTopology[T_co], Generic[T_co]):
    """A primary site and replica sites, all of the same kind.

    ``witness``: as :class:`~topologies.replicated.failover.FailoverTopology`'s, a ``T`` running
    only the HA engine's witness; the engine's etcd then has a member per site plus the witness,
    but the last site when that count would be even (adr/0097).
    """

    primary: T_co
    sites: tuple[T_co, ...]
    witness: T_co | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if not self.sites:
            raise ScoreValueError("MultisiteTopology needs at least one replica site")

    @property
    def leader(self) -> T_co:
        return self.primary

    @property
    def followers(self) -> tuple[T_co, ...]:
        return self.sites

    def member_labels(self) -> tuple[str, ...]:
        return ("primary", *(f"site[{index}]" for index in range(len(self.sites))))

    @property
    def witnesses(self) -> tuple[T_co, ...]:
        return () if self.witness is None else (self.witness,)
