"""Events a maestro emits while it runs; renderers turn them into output."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .report import Phase, RunReport, ScoreReport
from .topology import TopologyReport


@dataclass(frozen=True)
class TopologyPreparing:
    topology: str


@dataclass(frozen=True)
class TopologyReady:
    report: TopologyReport


@dataclass(frozen=True)
class ScoreStarted:
    phase: Phase
    index: int
    total: int
    name: str
    topology: str
    identity: str = ""


@dataclass(frozen=True)
class ScoreFinished:
    """A score's plan or apply ended; ``report`` says how.

    ``exception`` is what made it fail, when something was raised (for a
    traceback: the CLI prints it with ``--debug``). It is kept out of the
    report, which is plain data and never holds a traceback.
    """

    phase: Phase
    index: int
    total: int
    report: ScoreReport
    exception: BaseException | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RunFinished:
    report: RunReport


@dataclass(frozen=True)
class GroupStarted:
    """A run over a group begins: events of every member follow, interleaved."""

    phase: Phase
    group: str
    members: tuple[str, ...]
    parallel: int


@dataclass(frozen=True)
class TopologyFailed:
    """A member of a group could not be prepared (e.g. unreachable); the others go on."""

    topology: str
    error: str
    exception: BaseException | None = field(default=None, compare=False, repr=False)
    """What was raised, for a traceback with ``--debug``."""


Event = TopologyPreparing | TopologyReady | ScoreStarted | ScoreFinished | RunFinished | GroupStarted | TopologyFailed
EventHandler = Callable[[Event], None]


def ignore_event(event: Event) -> None:
    """The handler used when the caller wants no events."""
