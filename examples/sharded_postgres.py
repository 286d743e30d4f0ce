"""PostgreSQL shards on this machine, the shard map over them, and an application table on each.

Each shard is a PostgreSQL server of its own (here ``LocalInstance``s: one
directory and port each; on real machines, ``LinuxHostTopology`` hosts or
``FailoverTopology`` pairs: the scores do not change).

    python -m harmony_py plan  examples/sharded_postgres.py
    python -m harmony_py apply examples/sharded_postgres.py
    python examples/sharded_postgres.py             # place a few orders, each on the shard the map names

``HARMONY_SHARDS=3`` adds a shard at the end: the plan shows its new cluster,
and what changes in the shard map (the share of keys that route to the new
shard from then on) and that no row is moved: rows already stored for those
keys stay where they are (moving data is out of scope).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
import psycopg

from capabilities import PgEndpoint, PgUser, PostgreSQLShards, ShardMap
from harmony_py import Change, ChangeAction, ConvergingInterpret, Maestro, Ref, Score, resolved
from harmony_py.scores import PostgreSQLScore, PostgreSQLShardMapScore
from topologies import LocalInstance, ShardedTopology

ROOT = os.environ.get("HARMONY_PG_ROOT", "/var/lib/postgresql/harmony-sharded")
PORT = int(os.environ.get("HARMONY_PG_PORT", "25532"))
SHARDS = int(os.environ.get("HARMONY_SHARDS", "2"))

TABLE = "CREATE TABLE IF NOT EXISTS orders (customer text PRIMARY KEY, item text NOT NULL)"


async def connect(endpoint: PgEndpoint) -> psycopg.AsyncConnection[tuple[object, ...]]:
    return await psycopg.AsyncConnection.connect(
        host=endpoint.host, port=endpoint.port, dbname=endpoint.database, user=endpoint.user,
        password=endpoint.password.reveal(), connect_timeout=10, autocommit=True,
    )  # fmt: skip


@dataclass(frozen=True)
class OrdersTableScore(Score[PostgreSQLShards]):
    """The application's ``orders`` table on every shard of the map it takes by reference."""

    shards: ShardMap | Ref[ShardMap]

    def interpret(self) -> OrdersTableInterpret:
        return OrdersTableInterpret(resolved(self.shards))


class OrdersTableInterpret(ConvergingInterpret[PostgreSQLShards]):
    def __init__(self, shards: ShardMap) -> None:
        self.shards = shards

    async def plan(self, topology: PostgreSQLShards) -> Sequence[Change]:
        changes = []
        for index, endpoint in enumerate(self.shards.endpoints):
            async with await connect(endpoint) as connection:
                found = await (await connection.execute("SELECT to_regclass('orders')")).fetchone()
            if not (found and found[0]):
                where = f"shard {index} ({endpoint.host}:{endpoint.port})"
                changes.append(Change(ChangeAction.CREATE, where, f"shard {index}: create table orders"))
        return changes

    async def converge(self, topology: PostgreSQLShards, changes: Sequence[Change]) -> None:
        for endpoint in self.shards.endpoints:
            async with await connect(endpoint) as connection:
                await connection.execute(TABLE)


async def place_order(shard_map: ShardMap, customer: str, item: str) -> int:
    """The application's write: the row goes to the shard the map names for its key. Returns that shard."""
    index = shard_map.shard_for(customer)
    async with await connect(shard_map.endpoints[index]) as connection:
        await connection.execute(
            "INSERT INTO orders (customer, item) VALUES (%s, %s) ON CONFLICT (customer) DO UPDATE SET item = EXCLUDED.item",
            (customer, item),
        )
    return index


shards = ShardedTopology(
    shards=[LocalInstance(f"shard-{index}", root=f"{ROOT}/{index}", port_shift=index) for index in range(SHARDS)]
)
orders = PostgreSQLScore("orders", port=PORT, databases=["orders"], users=[PgUser("app", databases=("orders",))])
shard_map = PostgreSQLShardMapScore(orders)

maestro = Maestro(shards).add(orders, shard_map, OrdersTableScore(shard_map.output()))


async def main() -> None:
    found = await shards.postgresql().shard_map(orders.config, "orders")
    for customer in ("alice", "bob", "carol", "dave", "erin"):
        index = await place_order(found, customer, "book")
        print(f"{customer}: shard {index} ({found.endpoints[index].host}:{found.endpoints[index].port})")


if __name__ == "__main__":
    anyio.run(main)
