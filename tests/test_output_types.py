"""A value keeps its declared type from producer to consumer (ADR 0052).

Before issue 12 a hand-written ``Ref("count")`` typed as a ``Ref[PgEndpoint]``
delivered whatever "count" produced (``7``), and a score declaring
``Produces[int]`` whose interpret gave a ``str`` handed ``'seven'`` to a consumer
declared ``int``. Now a Ref comes only from a producer, the graph checks the type
it was made from against the producer its name resolves to, and the Maestro
checks each output against the declared type when it reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import pytest

from capabilities import CommandRunner
from harmony_py import (
    Change,
    Interpret,
    Maestro,
    Outcome,
    OutputTypeError,
    Produces,
    ProducingInterpret,
    Ref,
    Score,
    ScoreState,
    ScoreValueError,
    Secret,
    resolved,
)
from harmony_py.outputs import check_output, produced_type
from topologies import LocalhostTopology

from .outputs_scores import Endpoint, ServerScore


class GivesInterpret(ProducingInterpret[CommandRunner, Any]):
    """Changes nothing; its output is whatever it was given (the type is the test's subject)."""

    def __init__(self, value: object) -> None:
        self.value = value

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        return []

    async def apply(self, topology: CommandRunner) -> Outcome:
        return Outcome.noop()

    async def output(self, topology: CommandRunner) -> Any:
        return self.value


@dataclass(frozen=True)
class CountScore(Score[CommandRunner], Produces[int]):
    value: object = 7

    def interpret(self) -> ProducingInterpret[CommandRunner, int]:
        return GivesInterpret(self.value)


@dataclass(frozen=True)
class SecretScore(Score[CommandRunner], Produces[Secret]):
    value: object = field(default_factory=lambda: Secret("s3cret-never-shown"))

    def interpret(self) -> ProducingInterpret[CommandRunner, Secret]:
        return GivesInterpret(self.value)


@dataclass(eq=False)
class Seen:
    values: list[object] = field(default_factory=list)


@dataclass(frozen=True)
class TakesCount(Score[CommandRunner]):
    count: int | Ref[int]
    seen: Seen

    def interpret(self) -> Interpret[CommandRunner]:
        self.seen.values.append(resolved(self.count))
        return GivesInterpret(None)


@dataclass(frozen=True)
class TakesEndpoint(Score[CommandRunner]):
    server: Endpoint | Ref[Endpoint]

    def interpret(self) -> Interpret[CommandRunner]:
        raise AssertionError("never interpreted: the graph is refused first")


@dataclass(frozen=True)
class TakesAnything(Score[CommandRunner]):
    value: object

    def interpret(self) -> Interpret[CommandRunner]:
        return GivesInterpret(None)


def test_a_hand_written_ref_is_refused_at_run_time_too() -> None:
    with pytest.raises(TypeError, match=r"a Ref comes from a producing score: use score\.output\(\)"):
        Ref("count")  # type: ignore[arg-type]


def test_a_ref_naming_a_producer_of_another_type_is_refused_when_the_graph_is_built() -> None:
    # Made from a ServerScore named "count"; in this maestro "count" is a CountScore.
    made_elsewhere = ServerScore("/nowhere/s.json", 1, Secret("p")).named("count").output()
    maestro = Maestro(LocalhostTopology()).add(CountScore().named("count"), TakesEndpoint(made_elsewhere).named("web"))
    with pytest.raises(ScoreValueError) as caught:
        maestro.graph()
    assert str(caught.value) == (
        "web.server takes a Ref to an Endpoint (made from a ServerScore), but count is a CountScore producing int; "
        "make the Ref from the score it names (score.output())"
    )


def test_a_ref_to_a_producer_of_the_declared_type_or_a_subclass_is_accepted() -> None:
    seen = Seen()
    maestro = Maestro(LocalhostTopology()).add(CountScore(True).named("count"), TakesCount(CountScore().named("count").output(), seen))
    report = anyio.run(maestro.apply)
    assert report.ok and seen.values == [True]


def test_an_output_of_another_type_than_declared_fails_the_producer_naming_types_not_the_value() -> None:
    seen = Seen()
    lying = CountScore("seven").named("count")
    report = anyio.run(Maestro(LocalhostTopology()).add(lying, TakesCount(lying.output(), seen)).apply)
    producer, consumer = report.scores
    assert producer.state is ScoreState.FAILED
    assert producer.message == "count (CountScore) declares Produces[int], but its interpret's output is a str"
    assert consumer.state is ScoreState.SKIPPED and seen.values == []  # before: the consumer got 'seven'


def test_a_plan_checks_the_output_it_reads_too() -> None:
    lying = CountScore("seven").named("count")
    report = anyio.run(Maestro(LocalhostTopology()).add(lying, TakesCount(lying.output(), Seen())).plan)
    assert report.scores[0].state is ScoreState.FAILED
    assert "declares Produces[int], but its interpret's output is a str" in report.scores[0].message


def test_the_error_never_shows_the_value_which_may_be_a_secret() -> None:
    leaking = SecretScore("s3cret-never-shown").named("token")
    report = anyio.run(Maestro(LocalhostTopology()).add(leaking, TakesAnything(leaking.output())).apply)
    assert report.scores[0].message == "token (SecretScore) declares Produces[Secret], but its interpret's output is a str"
    assert "s3cret" not in repr(report)
    with pytest.raises(OutputTypeError, match="^token"):
        check_output("token", SecretScore, "s3cret-never-shown")


V = TypeVar("V")


class Setting(Produces[V], Score[CommandRunner]):
    """A generic producer: its subclasses say what V is.

    It defines no ``interpret()``, so ``Produces`` comes first: mypy then finds
    Produces' ``interpret`` (a ProducingInterpret) compatible with Score's.
    """


@dataclass(frozen=True)
class IntSetting(Setting[int]):
    value: object = 3

    def interpret(self) -> ProducingInterpret[CommandRunner, int]:
        return GivesInterpret(self.value)


def test_the_declared_type_is_read_through_generic_subclasses() -> None:
    assert produced_type(CountScore) is int
    assert produced_type(ServerScore) is Endpoint
    assert produced_type(IntSetting) is int
    assert produced_type(Setting) is object  # still generic: nothing to check against
    report = anyio.run(Maestro(LocalhostTopology()).add(IntSetting("3").named("s"), TakesAnything(IntSetting().named("s").output())).apply)
    assert report.scores[0].message == "s (IntSetting) declares Produces[int], but its interpret's output is a str"
