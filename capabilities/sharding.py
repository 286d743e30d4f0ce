"""Sharded PostgreSQL: one cluster per shard, and the map that routes a key to its shard.

- :class:`ShardMap` is what a sharded deployment produces for applications:
  the shards' endpoints, in shard order, and :meth:`ShardMap.shard_for`, a
  stable key-to-shard function (the same answer in every process, on every
  machine, in every Python version: never the salted built-in ``hash()``).
- :class:`PostgreSQLShards` is the capability of a topology whose shards each
  run one cluster; its service adds to :class:`~capabilities.postgresql.PostgreSQLService`
  what the shard map needs (which shards hold their cluster, the map itself).

The key-to-shard function is jump consistent hash (Lamping and Veach, 2014)
over the first 8 bytes of a BLAKE2b digest of the key (adr/0093): when a shard
is added at the end, only the keys that now route to the new shard change
shard, about ``1/n`` of them; no key moves between the shards that were there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .postgresql import PgConfig, PgEndpoint, PostgreSQL, PostgreSQLService

ShardKey = str | bytes | int
"""A key a shard map routes: text (as UTF-8), bytes, or an integer (as its decimal text)."""

KEY_TO_SHARD = "jump-consistent-hash(blake2b-64)"
"""The name of the key-to-shard function, for applications written in another language."""

_LCG_MULTIPLIER = 2862933555777941757  # the linear congruential step of the published algorithm
_UINT64 = (1 << 64) - 1


def key_hash(key: ShardKey) -> int:
    """The 64-bit hash a key routes by: the first 8 bytes (big-endian) of its BLAKE2b-64 digest.

    An ``int`` is hashed as its decimal text, so ``42`` and ``"42"`` route alike
    (a key read from a URL finds the row a number key wrote). ``bool`` is
    refused: ``True`` would silently route as ``1``.
    """
    if isinstance(key, bool) or not isinstance(key, (str, bytes, int)):
        raise TypeError(f"a shard key is str, bytes or int, got {type(key).__name__}")
    data = key if isinstance(key, bytes) else str(key).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def jump_hash(hashed: int, shards: int) -> int:
    """Jump consistent hash: the bucket in ``range(shards)`` of a 64-bit value.

    With ``shards + 1`` buckets a value either keeps its bucket or moves to the
    new last one, never elsewhere.
    """
    if shards < 1:
        raise ValueError(f"a shard map needs at least one shard, got {shards}")
    state = hashed & _UINT64
    bucket, candidate = -1, 0
    while candidate < shards:
        bucket = candidate
        state = (state * _LCG_MULTIPLIER + 1) & _UINT64
        candidate = int((bucket + 1) * (float(1 << 31) / float((state >> 33) + 1)))
    return bucket


def shard_of(key: ShardKey, shards: int) -> int:
    """The shard (``0 .. shards-1``) that ``key`` routes to among ``shards`` shards."""
    return jump_hash(key_hash(key), shards)


@dataclass(frozen=True)
class ShardMap:
    """The shards of one sharded cluster, and which one a key belongs to.

    ``endpoints[i]`` is where the owner of the database connects on shard
    ``i`` (its password a :class:`~harmony_py.Secret`). The map is positional:
    shards are added at the end, and a key's shard is :meth:`shard_for`.

    Example::

        shard = shard_map.endpoint_for(customer_id)   # a PgEndpoint
        connect(host=shard.host, port=shard.port, ...)
    """

    cluster: str
    database: str
    endpoints: tuple[PgEndpoint, ...]

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise ValueError(f"the shard map of {self.cluster} has no shards")

    def __len__(self) -> int:
        return len(self.endpoints)

    def shard_for(self, key: ShardKey) -> int:
        """The index of the shard ``key`` belongs to (see :data:`KEY_TO_SHARD`)."""
        return shard_of(key, len(self.endpoints))

    def endpoint_for(self, key: ShardKey) -> PgEndpoint:
        """Where the row of ``key`` lives."""
        return self.endpoints[self.shard_for(key)]

    def summary(self) -> str:
        """One line: ``orders: 2 shards (0: 127.0.0.1:25432, 1: 127.0.0.1:25433), database orders``."""
        where = ", ".join(f"{index}: {e.host}:{e.port}" for index, e in enumerate(self.endpoints))
        return f"{self.cluster}: {len(self)} shard(s) ({where}), database {self.database}"


class PostgreSQLShardsService(PostgreSQLService, Protocol):
    """One PostgreSQL cluster per shard, converged together, and the map between them.

    :meth:`plan` and :meth:`deploy` converge each shard's cluster; their
    changes are labelled ``shard N``, and a plan that adds shards says how
    much of the key space moves to them and that no row is moved.
    """

    async def new_shards(self, config: PgConfig) -> tuple[int, ...]:
        """The shards (by index) that hold no cluster ``config.name`` yet: a deploy creates them."""
        ...

    async def shard_map(self, config: PgConfig, database: str) -> ShardMap:
        """The shards' endpoints for ``database``, in shard order; refused while a shard holds no cluster."""
        ...


@runtime_checkable
class PostgreSQLShards(PostgreSQL, Protocol):
    """A topology of shards, each running one PostgreSQL cluster: a sharded topology of PostgreSQL members."""

    def postgresql(self) -> PostgreSQLShardsService:
        """The sharded service (``topology.postgresql().shard_map(config, "orders")``)."""
        ...
