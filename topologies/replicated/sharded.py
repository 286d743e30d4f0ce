"""ShardedTopology[T]: shards, each a T, each holding its own part of the data.

Like ``FailoverTopology`` it provides a capability only when ``T`` does, by the
same mechanism (adr/0002): the accessor is two overloads, one whose ``self`` is
``ShardedTopology[<what each shard must be>]`` and a fallback taking a private
marker no caller has. ``T_co`` is covariant and the class frozen for that to
hold. The run-time check asks each shard and names the one that lacks it
(``shard 2: PostgreSQL (missing postgresql)``).

A shard needs only to be ``PostgreSQL``, not a server: a shard may itself be a
replicated pair (``ShardedTopology[FailoverTopology[LocalInstance]]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from capabilities.postgresql import PostgreSQL
from capabilities.sharding import PostgreSQLShards
from harmony_py.capability_check import delegated_gaps
from harmony_py.errors import ScoreValueError
from harmony_py.topology import TopologyReport, close_topology
from topologies.labelled_parts import on_each
from topologies.postgres.shards import ShardedPostgreSQL

from ._markers import _NotPostgreSQL

T_co = TypeVar("T_co", covariant=True)

# What each shard must provide for the topology to provide a capability (when not the capability itself).
_SHARDS_NEED: dict[type, type] = {PostgreSQLShards: PostgreSQL}


@dataclass(frozen=True)
class ShardedTopology(Generic[T_co]):
    """Shards of the same kind, each holding one part of the data (which part: the shard map).

    ``ShardedTopology(shards=[a, b, c])``: shard ``i`` is ``shards[i]``. The
    order is part of the shard map, so new shards go at the end. Mixed kinds
    need an explicit parameter naming what each shard is, e.g.
    ``ShardedTopology[PostgreSQL](shards=[host, pair])``.
    """

    shards: Sequence[T_co]

    def __post_init__(self) -> None:
        shards = tuple(self.shards)
        if not shards:
            raise ScoreValueError("ShardedTopology needs at least one shard")
        for index, shard in enumerate(shards):
            first = shards.index(shard)
            if first != index:
                raise ScoreValueError(
                    f"shard {first} and shard {index} are the same topology ({shard!r}): each shard needs its own"
                )
        object.__setattr__(self, "shards", shards)

    def shard_labels(self) -> tuple[str, ...]:
        """A label per shard, in shard order, used in plans, reports and errors."""
        return tuple(f"shard {index}" for index in range(len(self.shards)))

    @property
    def name(self) -> str:
        kinds = ", ".join(type(shard).__name__ for shard in self.shards)
        return f"{type(self).__name__}[{kinds}]"

    async def ensure_ready(self) -> TopologyReport:
        reports = await on_each(self.shard_labels(), self.shards, _ensure_ready)
        facts = {
            f"{label}.{key}": value
            for label, report in zip(self.shard_labels(), reports)
            for key, value in report.facts.items()
        }
        return TopologyReport(self.name, facts)

    async def aclose(self) -> None:
        """Close what the shards keep open (SSH connections); the Maestro calls it at the end."""
        for shard in self.shards:
            await close_topology(shard)

    def capability_gaps(self, capability: type) -> list[str]:
        return delegated_gaps(self, capability, zip(self.shard_labels(), self.shards), _SHARDS_NEED)

    # -- PostgreSQL: one cluster per shard (orchestration in topologies/postgres/shards.py) --

    @overload
    def postgresql(self: ShardedTopology[PostgreSQL]) -> ShardedPostgreSQL: ...
    @overload
    def postgresql(self: ShardedTopology[object], shards_not_postgresql: _NotPostgreSQL) -> ShardedPostgreSQL: ...
    def postgresql(self: ShardedTopology[Any], shards_not_postgresql: Any = None) -> ShardedPostgreSQL:
        """A cluster per shard and their shard map (``PostgreSQLShards``), when the shards are PostgreSQL."""
        return ShardedPostgreSQL(
            self.shard_labels(), [shard.postgresql() for shard in self.shards], [_machines(shard) for shard in self.shards]
        )


def _machines(shard: Any) -> tuple[str, ...]:
    """The names of the machines a shard runs on: each member's for a replicated shard (not its witness)."""
    members = getattr(shard, "members", None)
    if isinstance(members, tuple):
        return tuple(str(member.name) for member in members)
    return (str(shard.name),)


async def _ensure_ready(shard: Any) -> TopologyReport:
    report: TopologyReport = await shard.ensure_ready()
    return report
