"""Events a maestro emits while it runs; renderers turn them into output."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
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
class ScoreProgress:
    """A running score's own word on how far it is (``replica 2 of 3 updated``), from :func:`report_progress`."""

    topology: str
    identity: str
    message: str


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


@dataclass(frozen=True)
class MemberFinished:
    """A member of a group is done with the phase: ``report`` says how (its scores, or why it failed)."""

    report: RunReport


Event = (
    TopologyPreparing
    | TopologyReady
    | ScoreStarted
    | ScoreProgress
    | ScoreFinished
    | RunFinished
    | GroupStarted
    | TopologyFailed
    | MemberFinished
)
EventHandler = Callable[[Event], None]


def ignore_event(event: Event) -> None:
    """The handler used when the caller wants no events."""


_progress_target: ContextVar[tuple[EventHandler, str, str] | None] = ContextVar("harmony_progress_target", default=None)
"""Where :func:`report_progress` sends: the run's handler, topology and score, set in the task running the score."""


def report_progress(message: str) -> None:
    """Say how far the running score is, for the live display (``waiting for replica2 to catch up``).

    For a long score (a cluster bootstrap, a rolling update) to call between
    its steps; it shows next to the score on a terminal and nowhere else.
    Outside a run it does nothing. Never pass a secret: it is shown as given.
    """
    target = _progress_target.get()
    if target is not None:
        on_event, topology, identity = target
        on_event(ScoreProgress(topology, identity, message))


def progress_to(on_event: EventHandler, topology: str, identity: str) -> None:
    """Send this task's :func:`report_progress` calls to ``on_event`` as the score ``identity`` on ``topology``."""
    _progress_target.set((on_event, topology, identity))
