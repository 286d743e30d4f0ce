"""Sharded PostgreSQL: one cluster per shard, converged together, and the shard map over them.

Each shard is any ``PostgreSQL`` topology (a host, or a replicated pair), so
this is written over :class:`~capabilities.postgresql.PostgreSQLService` alone.
The shards are independent clusters with the same :class:`PgConfig`; what
ties them together is the :class:`~capabilities.sharding.ShardMap`, which is
positional (adr/0093): shard ``i`` is the ``i``-th member, and shards are
added at the end. So the plan observes which shards already hold their
cluster and says what adding one means: which share of the keys routes to it
from then on, and that no row is moved (moving data is out of scope). A shard
removed, or moved to other machines at its position, is refused from the
record of the last deploy (:mod:`.shard_record`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from capabilities.errors import PostgreSQLError
from capabilities.postgresql import PgConfig, PgEndpoint, PostgreSQLService, ReplicationRole
from capabilities.sharding import ShardMap
from harmony_py.errors import ScoreValueError
from harmony_py.values import Change, ChangeAction
from topologies.labelled_parts import on_each
from topologies.secret_store import SecretStore

from .shard_record import ShardMachines, check_same_shards, record, recorded



class ShardedPostgreSQL:
    """A sharded topology's :class:`~capabilities.sharding.PostgreSQLShardsService`, over its shards' services."""

    def __init__(
        self,
        labels: Sequence[str],
        shards: Sequence[PostgreSQLService],
        machines: Sequence[ShardMachines],
        store: SecretStore | None = None,
    ) -> None:
        self.labels = tuple(labels)
        self.shards = tuple(shards)
        self.machines = tuple(machines)
        self._store = store

    @property
    def store(self) -> SecretStore:
        """The project's store, found when first needed (building the service needs no project)."""
        if self._store is None:
            self._store = SecretStore()
        return self._store

    async def plan(self, config: PgConfig) -> list[Change]:
        held = await self._held(config)
        self._same_shards(config)
        plans = await on_each(self.labels, self.shards, lambda shard: shard.plan(config))
        return [*self._labelled(plans), *self._growth(config, held)]

    async def deploy(self, config: PgConfig) -> list[Change]:
        held = await self._held(config)
        self._same_shards(config)
        made = await on_each(self.labels, self.shards, lambda shard: shard.deploy(config))
        record(self.store, config.name, self.machines)
        changes = self._labelled(made)
        return [*changes, *self._growth(config, held)] if changes else changes

    async def endpoint(self, config: PgConfig, database: str) -> PgEndpoint:
        raise ScoreValueError(
            f"cluster {config.name} is sharded over {len(self.shards)} shards and has no single endpoint: "
            f"take the shard map instead (PostgreSQLShardMapScore(<its PostgreSQLScore>).output())"
        )

    async def new_shards(self, config: PgConfig) -> tuple[int, ...]:
        held = await on_each(self.labels, self.shards, lambda shard: holds_cluster(shard, config))
        return tuple(index for index, holds in enumerate(held) if not holds)

    async def shard_map(self, config: PgConfig, database: str) -> ShardMap:
        missing = await self.new_shards(config)
        if missing:
            names = ", ".join(self.labels[index] for index in missing)
            raise PostgreSQLError(
                f"{names} of cluster {config.name} hold(s) no cluster yet: apply its PostgreSQLScore "
                "on the sharded topology before the shard map"
            )
        endpoints = await on_each(self.labels, self.shards, lambda shard: shard.endpoint(config, database))
        return ShardMap(config.name, database, tuple(endpoints))

    def _same_shards(self, config: PgConfig) -> None:
        """Refused when a shard deployed before is gone or now runs on none of its machines."""
        before = recorded(self.store, config.name)
        if before is not None:
            check_same_shards(config.name, self.labels, self.machines, before)

    async def _held(self, config: PgConfig) -> tuple[bool, ...]:
        """Which shards hold their cluster; refused when a new shard stands before an existing one."""
        missing = set(await self.new_shards(config))
        held = tuple(index not in missing for index in range(len(self.shards)))
        existing = [index for index, holds in enumerate(held) if holds]
        inserted = [index for index in missing if existing and index < existing[-1]]
        if inserted:
            raise ScoreValueError(
                f"{self.labels[min(inserted)]} holds no cluster {config.name}, but {self.labels[existing[-1]]} "
                "after it does: a shard map is positional, so add new shards at the end (a shard inserted "
                "before others re-routes keys between existing shards and leaves their rows behind)"
            )
        return held

    def _labelled(self, per_shard: Sequence[list[Change]]) -> list[Change]:
        return [
            dataclasses.replace(change, summary=f"{label}: {change.summary}")
            for label, changes in zip(self.labels, per_shard)
            for change in changes
        ]

    def _growth(self, config: PgConfig, held: Sequence[bool]) -> list[Change]:
        """What adding shards to a map in use means, as a change of the map (none for a new map)."""
        before = sum(held)
        after = len(held)
        if before in (0, after):
            return []
        share = round(100 * (after - before) / after)
        added = _shards(before, after - 1)
        verb = "takes" if after - before == 1 else "take"
        return [
            Change(
                ChangeAction.UPDATE,
                f"shard map {config.name}",
                f"shard map {config.name}: {before} -> {after} shards; {added} {verb} about {share}% of the "
                f"keys from now on; no data is moved: rows already stored for those keys stay on "
                f"{_shards(0, before - 1)} (moving data is out of scope)",
                attribute="shards",
            )
        ]


def _shards(first: int, last: int) -> str:
    """``shard 2`` or ``shards 0-1``: shards by index, as the plan names them."""
    return f"shard {first}" if first == last else f"shards {first}-{last}"


async def holds_cluster(shard: PostgreSQLService, config: PgConfig) -> bool:
    """Whether the shard holds cluster ``config.name`` (initialised on some member), observed.

    A shard is a single server (its service answers ``replication``) or a
    replicated cluster (``status``); those are the PostgreSQL topologies there are.
    """
    replication: Any = getattr(shard, "replication", None)
    if replication is not None:
        return bool((await replication(config)).role is not ReplicationRole.ABSENT)
    status: Any = getattr(shard, "status", None)
    if status is not None:
        return any(member.state.role is not ReplicationRole.ABSENT for member in (await status(config)).members)
    raise PostgreSQLError(
        f"cannot tell whether it holds cluster {config.name}: its PostgreSQL service "
        f"({type(shard).__name__}) observes neither a server's replication() nor a cluster's status()"
    )
