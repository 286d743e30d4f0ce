"""PostgreSQLScore's PgEndpoint output, consumed by another score, against a real PostgreSQL 15."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import psycopg
import pytest

from capabilities import CommandRunner, PgEndpoint, PgUser
from harmony_py import Change, ChangeAction, ConvergingInterpret, Maestro, Ref, Score, ScoreState, resolved
from harmony_py.scores import PostgreSQLScore
from topologies import LocalInstance
from topologies.postgres.server import HostPostgreSQLServer
from topologies.secret_store import ENV_VAR

from .postgres.conftest import PG_BIN, free_port_pair, stop_everything_under


@dataclass(frozen=True)
class PostgreSQLTableScore(Score[CommandRunner]):
    """A table in the database ``database`` points at, created by connecting as its owner."""

    database: PgEndpoint | Ref[PgEndpoint]
    table: str

    @property
    def name(self) -> str:
        return f"PostgreSQLTableScore({self.table})"

    def interpret(self) -> PostgreSQLTableInterpret:
        return PostgreSQLTableInterpret(resolved(self.database), self.table)


class PostgreSQLTableInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, endpoint: PgEndpoint, table: str) -> None:
        self.endpoint, self.table = endpoint, table

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        e = self.endpoint
        return await psycopg.AsyncConnection.connect(
            host=e.host, port=e.port, dbname=e.database, user=e.user, password=e.password.reveal(), connect_timeout=10
        )

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        async with await self._connect() as connection:
            found = await (await connection.execute("SELECT to_regclass(%s)", (self.table,))).fetchone()
        return [] if found and found[0] else [Change(ChangeAction.CREATE, self.table, f"create table {self.table}")]

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        async with await self._connect() as connection:
            await connection.execute(f"CREATE TABLE {self.table} (id serial PRIMARY KEY)")


@pytest.fixture(scope="module")
def instance() -> Iterator[LocalInstance]:
    if not (PG_BIN / "pg_ctl").exists():
        pytest.fail("PostgreSQL 15 is not installed (Debian package postgresql-15)")
    root = Path(tempfile.mkdtemp(prefix="harmony-outputs-pg-"))
    root.chmod(0o755)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENV_VAR, str(root / "secrets"))
        try:
            yield LocalInstance("outputs", root=str(root / "pg"))
        finally:
            stop_everything_under(root)
            shutil.rmtree(root, ignore_errors=True)


def test_the_endpoint_flows_to_its_consumer_and_the_password_stays_secret(instance: LocalInstance) -> None:
    db = PostgreSQLScore(
        "outputs_pg", port=free_port_pair(), users=[PgUser("shop", databases=("shop",))], databases=["shop"]
    ).named("db")
    orders = PostgreSQLTableScore(db.output(), "orders").named("orders")
    maestro = Maestro(instance).add(orders).add(db)  # written first, applied after: the Ref orders them

    plan = anyio.run(maestro.plan)
    assert [(s.identity, s.state, s.unknown_inputs) for s in plan.scores] == [
        ("orders", ScoreState.PENDING, ("database",)),
        ("db", ScoreState.PENDING, ()),
    ]
    first = anyio.run(maestro.apply)
    assert [s.state for s in first.scores] == [ScoreState.CHANGED, ScoreState.CHANGED], first
    second = anyio.run(maestro.apply)
    assert [s.state for s in second.scores] == [ScoreState.UNCHANGED, ScoreState.UNCHANGED], second
    assert not anyio.run(maestro.plan).has_changes

    server: HostPostgreSQLServer = instance.postgresql().server(db.config)
    password = server.password_of("shop").reveal()
    assert len(password) >= 16 and password not in repr((plan, first, second))
    assert os.environ[ENV_VAR] in str(server.store.path_of("postgresql/outputs_pg/shop"))
