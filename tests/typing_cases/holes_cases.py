"""Type holes an independent audit found, each closed (issue 12): these lines type-checked before.

Each expected error carries `# type: ignore[<code>]`; tests/test_typing_contracts.py
runs mypy --strict --warn-unused-ignores and pyright --strict here, so a rejection
that disappears fails as an unused ignore in either checker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from typing_extensions import assert_type

from capabilities import CommandRunner, PgEndpoint
from harmony_py import Change, Interpret, Outcome, Produces, ProducingInterpret, Ref, Score
from harmony_py.scores import PostgreSQLScore


@dataclass(frozen=True)
class CounterScore(Score[CommandRunner], Produces[int]):
    """Produces an int, and its interpret says so."""

    def interpret(self) -> CounterInterpret:
        return CounterInterpret()


class CounterInterpret(ProducingInterpret[CommandRunner, int]):
    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        return []

    async def apply(self, topology: CommandRunner) -> Outcome:
        return Outcome.noop()

    async def output(self, topology: CommandRunner) -> int | None:
        return 7


@dataclass(frozen=True)
class WebScore(Score[CommandRunner]):
    database: PgEndpoint | Ref[PgEndpoint]

    def interpret(self) -> Interpret[CommandRunner]:
        raise NotImplementedError


# -- A Ref comes only from a producer ------------------------------------------------
# Before: Ref("count") was any Ref[...] the context wanted, so a PgEndpoint field took it
# and received CounterScore's 7 at run time.
WebScore(Ref("count"))  # type: ignore[arg-type]
hand_written: Ref[PgEndpoint] = Ref[PgEndpoint]("db")  # type: ignore[arg-type]
WebScore(PostgreSQLScore("db", databases=["db"], users=["db"]).output())
counted: Ref[int] = CounterScore().output()
doubled: Ref[int] = counted.map(lambda count: count * 2)


# -- Produces[V] is tied to the interpret's output -----------------------------------


class NamingInterpret(ProducingInterpret[CommandRunner, str]):
    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        return []

    async def apply(self, topology: CommandRunner) -> Outcome:
        return Outcome.noop()

    async def output(self, topology: CommandRunner) -> str | None:
        return "seven"


@dataclass(frozen=True)
class LyingScore(Score[CommandRunner], Produces[int]):
    """Declares an int but its interpret gives a str: before, consumers of an int got 'seven'."""

    def interpret(self) -> NamingInterpret:  # type: ignore[override]
        return NamingInterpret()


class PlainInterpret(Interpret[CommandRunner]):
    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        return []

    async def apply(self, topology: CommandRunner) -> Outcome:
        return Outcome.noop()


@dataclass(frozen=True)
class SilentScore(Score[CommandRunner], Produces[int]):
    """Declares an output but its interpret cannot give one."""

    def interpret(self) -> PlainInterpret:  # type: ignore[override]
        return PlainInterpret()


# A generic producing base that leaves interpret() to its subclasses lists Produces first:
# written after Score, Score's interpret (no output) clashes with Produces'.
V = TypeVar("V")


class Setting(Produces[V], Score[CommandRunner]):
    """Accepted: its subclasses give V and an interpret producing a V."""


@dataclass(frozen=True)
class CountSetting(Setting[int]):
    def interpret(self) -> CounterInterpret:
        return CounterInterpret()


class ClashingSetting(Score[CommandRunner], Produces[V]):  # type: ignore[misc]
    """Rejected: Score's interpret() gives no output, so it is no Produces' interpret()."""


assert_type(CountSetting().output(), Ref[int])
