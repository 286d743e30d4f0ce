"""Small scores and topologies for the truth-rule and error tests (score files import them too).

- ``CarelessFileScore``: a file whose apply writes the content but never sets the mode, and
  still reports success: the engine's verify must catch it.
- ``CrashingScore``: its apply (or plan) raises from a nested call, for tracebacks with ``--debug``.
- ``SlowToVerifyScore``: applies, then its verify never returns: the score timeout must cover it.
- ``Site``: a FailoverTopology with a name of its own, so several can be members of one group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio

from capabilities import CommandRunner
from harmony_py import Outcome
from harmony_py.values import Change, ChangeAction
from harmony_py.score import Interpret, Score
from harmony_py.scores import FileScore
from harmony_py.scores.files import FileInterpret
from harmony_py.topology import Topology
from topologies import FailoverTopology

T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class CarelessFileScore(FileScore):
    """A FileScore whose interpret forgets the mode, yet says it converged."""

    def interpret(self) -> FileInterpret:
        return CarelessFileInterpret(self)


class CarelessFileInterpret(FileInterpret):
    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        # The bug under test: the content is written with a fixed mode, whatever the score says.
        await topology.command_runner().write_file(self.score.path, self.score.desired_bytes(), mode=0o644)


@dataclass(frozen=True)
class CrashingScore(Score[CommandRunner]):
    """Fails by raising deep inside its apply, or its plan when ``in_plan``."""

    label: str = "crash"
    in_plan: bool = False

    @property
    def name(self) -> str:
        return f"CrashingScore({self.label})"

    def interpret(self) -> CrashingInterpret:
        return CrashingInterpret(self.in_plan)


class CrashingInterpret(Interpret[CommandRunner]):
    def __init__(self, in_plan: bool) -> None:
        self.in_plan = in_plan

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        if self.in_plan:
            deep_inside_the_plan()
        return [Change(ChangeAction.RUN, "disk", "crash")]

    async def apply(self, topology: CommandRunner) -> Outcome:
        deep_inside_the_apply()
        return Outcome.noop()


def deep_inside_the_plan() -> None:
    raise RuntimeError("the plan's disk is on fire")


def deep_inside_the_apply() -> None:
    raise RuntimeError("the disk is on fire")


@dataclass(frozen=True)
class SlowToVerifyScore(Score[CommandRunner]):
    """Applies at once (a change), then observing the result never finishes."""

    def interpret(self) -> SlowToVerifyInterpret:
        return SlowToVerifyInterpret()


class SlowToVerifyInterpret(Interpret[CommandRunner]):
    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        return [Change(ChangeAction.RUN, "x", "do x")]

    async def apply(self, topology: CommandRunner) -> Outcome:
        return Outcome.changed(await self.plan(topology))

    async def verify(self, topology: CommandRunner) -> Sequence[Change]:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


@dataclass(frozen=True)
class NoopScore(Score[Topology]):
    """Needs only a topology that is ready: plans nothing, changes nothing (and must never be verified)."""

    def interpret(self) -> NoopInterpret:
        return NoopInterpret()


class NoopInterpret(Interpret[Topology]):
    async def plan(self, topology: Topology) -> Sequence[Change]:
        return []

    async def apply(self, topology: Topology) -> Outcome:
        return Outcome.noop()

    async def verify(self, topology: Topology) -> Sequence[Change]:
        raise AssertionError("a NOOP is never verified")


@dataclass(frozen=True)
class Site(FailoverTopology[T_co], Generic[T_co]):
    """A primary and a replica under a name of their own (a group's members need distinct names)."""

    site: str = "site"

    @property
    def name(self) -> str:
        return self.site
