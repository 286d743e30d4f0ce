"""Type-level promises of ShardedTopology[T] (run with mypy --strict --warn-unused-ignores, and pyright).

A sharded topology is PostgreSQL, and produces a shard map, only when every
shard is PostgreSQL (a host, or a replicated pair); on shards without it, and
for the shard map on anything but a sharded topology, the call is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing_extensions import assert_type

from capabilities import PgConfig, PgUser, PostgreSQL, PostgreSQLCluster, PostgreSQLShards, ShardMap
from capabilities.postgresql import PgEndpoint
from harmony_py import Maestro, Score
from harmony_py.outputs import Ref
from harmony_py.score import Interpret
from harmony_py.scores import PostgreSQLScore, PostgreSQLShardMapScore, PostgreSQLSwitchoverScore
from harmony_py.topology import TopologyReport
from topologies import FailoverTopology, LinuxHostTopology, LocalhostTopology, ShardedTopology
from topologies.postgres.shards import ShardedPostgreSQL


class NoPostgreSQL:
    """A topology without PostgreSQL (as DockerTopology is)."""

    name = "nopg"

    async def ensure_ready(self) -> TopologyReport:
        return TopologyReport(self.name)


@dataclass(frozen=True)
class OrdersApp(Score[PostgreSQL]):
    """An application score that takes the shard map by reference."""

    shards: ShardMap | Ref[ShardMap]

    def interpret(self) -> Interpret[PostgreSQL]:
        raise NotImplementedError


pg = PostgreSQLScore("orders", databases=["orders"], users=[PgUser("app", databases=("orders",))])
shard_map = PostgreSQLShardMapScore(pg)
config = PgConfig("orders")
hosts = ShardedTopology(shards=[LocalhostTopology("a"), LocalhostTopology("b")])
pairs = ShardedTopology(
    shards=[
        FailoverTopology(LocalhostTopology("a1"), LocalhostTopology("a2")),
        FailoverTopology(LocalhostTopology("b1"), LocalhostTopology("b2")),
    ]
)
without = ShardedTopology(shards=[NoPostgreSQL(), NoPostgreSQL()])

# Shards of hosts and shards of replicated pairs: a cluster per shard, and their map.
assert_type(hosts, ShardedTopology[LocalhostTopology])
assert_type(pairs, ShardedTopology[FailoverTopology[LocalhostTopology]])
Maestro(hosts).add(pg, shard_map, OrdersApp(shard_map.output()))
Maestro(pairs).add(pg, shard_map, OrdersApp(shard_map.output()))
as_shards: PostgreSQLShards = hosts
as_postgresql: PostgreSQL = pairs
assert_type(hosts.postgresql(), ShardedPostgreSQL)
assert_type(shard_map.output(), Ref[ShardMap])
# Mixed kinds: the parameter says what each shard is, and PostgreSQL is all a shard must be.
mixed = ShardedTopology[PostgreSQL](shards=[LocalhostTopology("a"), FailoverTopology(LocalhostTopology("b"), LocalhostTopology("c"))])
Maestro(mixed).add(pg, shard_map)
# SSH hosts are PostgreSQL servers too; a localhost with an SSH host joins to HostTopology, which is one.
ssh = ShardedTopology(shards=[LinuxHostTopology("db1"), LinuxHostTopology("db2")])
Maestro(ssh).add(pg, shard_map, OrdersApp(shard_map.output()))
local_and_ssh = ShardedTopology(shards=[LocalhostTopology("a"), LinuxHostTopology("db2")])
Maestro(local_and_ssh).add(pg, shard_map)


async def operations() -> None:
    assert_type(await hosts.postgresql().shard_map(config, "orders"), ShardMap)
    assert_type(await pairs.postgresql().new_shards(config), tuple[int, ...])
    found = await hosts.postgresql().shard_map(config, "orders")
    assert_type(found.endpoint_for("customer-42"), PgEndpoint)
    assert_type(found.shard_for(42), int)
    found.shard_for(1.5)  # type: ignore[arg-type]
    # Without PostgreSQL on the shards, every operation is refused.
    await without.postgresql().deploy(config)  # type: ignore[call-arg]


# Shards that are not PostgreSQL: the cluster and its map are refused.
Maestro(without).add(pg)  # type: ignore[arg-type]
Maestro(without).add(shard_map)  # type: ignore[arg-type]
without.postgresql()  # type: ignore[call-arg]
not_shards: PostgreSQLShards = without  # type: ignore[assignment]
# Pairs of members without PostgreSQL are no PostgreSQL shards either.
pairs_without = ShardedTopology(shards=[FailoverTopology(NoPostgreSQL(), NoPostgreSQL())])
Maestro(pairs_without).add(pg)  # type: ignore[arg-type]
# A shard map needs shards: a single host and a replicated pair have none.
Maestro(LocalhostTopology()).add(shard_map)  # type: ignore[arg-type]
Maestro(FailoverTopology(LocalhostTopology("a"), LocalhostTopology("b"))).add(shard_map)  # type: ignore[arg-type]
# A sharded topology is not one replicated cluster: no switchover across shards.
Maestro(pairs).add(PostgreSQLSwitchoverScore(pg, to="replica"))  # type: ignore[arg-type]
not_cluster: PostgreSQLCluster = pairs  # type: ignore[assignment]
# An application that takes the shard map is refused one endpoint in its place.
OrdersApp(pg.output())  # type: ignore[arg-type]
