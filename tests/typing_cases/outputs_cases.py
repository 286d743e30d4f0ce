"""Type-level contract of typed outputs: a Ref carries its value's type, and mypy checks it.

Each expected error carries `# type: ignore[<code>]` (tests/test_typing_contracts.py runs
mypy --strict --warn-unused-ignores here); inferred types use `assert_type`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from typing_extensions import assert_type

from capabilities import CommandRunner, PgEndpoint, PgUser, PostgreSQL
from harmony_py import (
    Change,
    CompositeScore,
    Interpret,
    Maestro,
    Outcome,
    Produces,
    ProducingInterpret,
    Ref,
    Score,
    Secret,
    resolved,
)
from harmony_py.scores import PostgreSQLScore
from topologies import DockerTopology, LocalhostTopology


@dataclass(frozen=True)
class WebScore(Score[CommandRunner]):
    """A consumer: each input is a value, or a Ref to a value of the same type."""

    database: PgEndpoint | Ref[PgEndpoint]
    url: str | Ref[str] = ""
    env: Mapping[str, str | Secret | Ref[str] | Ref[Secret]] = field(default_factory=dict[str, str | Secret | Ref[str] | Ref[Secret]])

    def interpret(self) -> Interpret[CommandRunner]:
        # Inside an interpret, resolved() gives the value's own type back.
        assert_type(resolved(self.database), PgEndpoint)
        assert_type(resolved(self.url), str)
        raise NotImplementedError


db = PostgreSQLScore("shop", users=[PgUser("app", databases=("app",))], databases=["app"])

# The output type is inferred from the Produces[...] base; map() derives typed values.
assert_type(db.output(), Ref[PgEndpoint])
assert_type(db.output().map(lambda endpoint: endpoint.port), Ref[int])
assert_type(db.output().map(lambda endpoint: endpoint.password), Ref[Secret])

# Accepted: a Ref of the wanted type, a derived Ref, or the plain value.
WebScore(db.output())
WebScore(db.output(), url=db.output().map(lambda e: f"postgresql://{e.user}@{e.host}:{e.port}/{e.database}"))
WebScore(db.output(), env={"DATABASE_PASSWORD": db.output().map(lambda e: e.password), "MODE": "prod"})
WebScore(PgEndpoint("127.0.0.1", 5432, "app", "app", Secret("x")))

# Rejected: a Ref to a value of another type.
db_port = db.output().map(lambda e: e.port)
WebScore(db_port)  # type: ignore[arg-type]
WebScore(db.output(), url=db.output())  # type: ignore[arg-type]
WebScore(db.output(), env={"PORT": db.output().map(lambda e: e.port)})  # type: ignore[dict-item]

# A Ref to an int never stands in for the value itself.
port_ref = db.output().map(lambda e: e.port)
port: int = port_ref  # type: ignore[assignment]


@dataclass(frozen=True)
class CounterScore(Score[CommandRunner], Produces[int]):
    """A producer of an int: its interpret must produce an int too."""

    def interpret(self) -> CounterInterpret:
        return CounterInterpret()


class CounterInterpret(ProducingInterpret[CommandRunner, int]):
    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        return []

    async def apply(self, topology: CommandRunner) -> Outcome:
        return Outcome.noop()

    async def output(self, topology: CommandRunner) -> int | None:
        return 1


class WrongOutputInterpret(ProducingInterpret[CommandRunner, int]):
    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        return []

    async def apply(self, topology: CommandRunner) -> Outcome:
        return Outcome.noop()

    async def output(self, topology: CommandRunner) -> str | None:  # type: ignore[override]
        return "one"


assert_type(CounterScore().output(), Ref[int])
WebScore(db.output(), url=CounterScore().output())  # type: ignore[arg-type]

# Ref is covariant: a Ref[bool] serves where a Ref[int] is wanted, not the reverse.
flag: Ref[bool] = db.output().map(lambda endpoint: endpoint.port > 0)
wants_int: Ref[int] = flag
wants_bool: Ref[bool] = CounterScore().output()  # type: ignore[assignment]


@runtime_checkable
class CommandsAndPostgreSQL(CommandRunner, PostgreSQL, Protocol):
    """What the shop's parts need together."""


@dataclass(frozen=True)
class ShopScore(CompositeScore[CommandsAndPostgreSQL]):
    """A composite is a score: it is added like any other and type-checked the same way."""

    def parts(self) -> Sequence[Score[CommandsAndPostgreSQL]]:
        database = PostgreSQLScore("shop", users=[PgUser("app", databases=("app",))], databases=["app"])
        return (database.named("db"), WebScore(database.named("db").output()).named("web"))


assert_type(Maestro(LocalhostTopology()).add(ShopScore(), db), Maestro[LocalhostTopology])
Maestro(DockerTopology()).add(ShopScore())  # type: ignore[arg-type]
# named() keeps the score's type.
assert_type(db.named("db"), PostgreSQLScore)
