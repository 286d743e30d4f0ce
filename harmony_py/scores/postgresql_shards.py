"""The shard map of a sharded PostgreSQL cluster, as a typed output applications take by reference.

``PostgreSQLScore`` on a ``ShardedTopology`` deploys one cluster per shard;
its own output (one ``PgEndpoint``) has no meaning there. The map of the shards
is produced by :class:`PostgreSQLShardMapScore`, which needs
:class:`~capabilities.sharding.PostgreSQLShards`: mypy refuses it on a single
host or on a topology whose shards are not PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from capabilities.postgresql import PgConfig
from capabilities.sharding import PostgreSQLShards, ShardMap
from harmony_py.errors import ScoreValueError
from harmony_py.outcome import Outcome
from harmony_py.outputs import Produces, ProducingInterpret
from harmony_py.score import Score
from harmony_py.validation import InstanceOf, validate
from harmony_py.values import Change

from .postgresql import PostgreSQLScore


@dataclass(frozen=True)
class PostgreSQLShardMapScore(Score[PostgreSQLShards], Produces[ShardMap]):
    """The shard map of ``cluster`` on a sharded topology: its shards' endpoints and key-to-shard function.

    It changes nothing: it observes the clusters ``cluster`` deployed, so add
    it after that score. Its output (``score.output()``, a ``Ref[ShardMap]``)
    is where the owner of the cluster's first owned database connects on each
    shard; in a plan it is "known after apply" while a shard holds no cluster
    yet (a shard being added).

    Example::

        orders = PostgreSQLScore("orders", databases=["orders"], users=[PgUser("app", databases=("orders",))])
        shard_map = PostgreSQLShardMapScore(orders)  # add both to Maestro(ShardedTopology(shards=[...]))
        shard_map.output()  # a Ref[ShardMap], for the application's score
    """

    cluster: Annotated[PostgreSQLScore, InstanceOf(PostgreSQLScore)]

    def __post_init__(self) -> None:
        validate(self)
        if self.cluster.endpoint_database is None:
            raise ScoreValueError(
                f"{self.name} has no database to map: {self.cluster.name} needs a database owned by a user "
                "(PgUser(name, databases=(database,))); the superuser's password is never handed out"
            )

    @property
    def name(self) -> str:
        return f"PostgreSQLShardMapScore({self.cluster.cluster_name})"

    def interpret(self) -> ShardMapInterpret:
        database = self.cluster.endpoint_database
        assert database is not None  # refused in __post_init__
        return ShardMapInterpret(self.cluster.config, database)


class ShardMapInterpret(ProducingInterpret[PostgreSQLShards, ShardMap]):
    def __init__(self, config: PgConfig, database: str) -> None:
        self.config, self.database = config, database

    async def plan(self, topology: PostgreSQLShards) -> Sequence[Change]:
        return []  # it observes; the cluster's own score plans the shards (and says what adding one means)

    async def apply(self, topology: PostgreSQLShards) -> Outcome:
        shard_map = await topology.postgresql().shard_map(self.config, self.database)
        return Outcome.noop(shard_map.summary())

    async def output(self, topology: PostgreSQLShards) -> ShardMap | None:
        service = topology.postgresql()
        if await service.new_shards(self.config):
            return None  # in a plan: known once the cluster's score has deployed the new shards
        return await service.shard_map(self.config, self.database)
