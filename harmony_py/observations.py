"""Batched observations: the paths and guards a host's scores will look at, observed in one round trip.

A score that observes files names them (``observed_paths``; ``read_paths``
for the small files whose content it reads), one that runs a check command
names it (``observed_guards``); before a topology's scores plan,
and again before they apply, the run hands all of them to a runner that can
batch them (:class:`~capabilities.command_runner.BatchedObservations`, the SSH
runner) and runs the scores inside its snapshot. Runners that cannot batch
(the local machine, where an observation costs no round trip) are left alone.

A plan's snapshot holds for the whole plan (a plan changes nothing). An
apply's is a fresh round trip of its own, and holds only until something may
have changed on the host (adr/0108): the runner drops it at the first write or
command, and the run at the first score that did not report "nothing to do",
before that score is verified. So a no-change apply is answered by one round
trip per host, and every "changed" is still reported only after a live look.

A plan asks its questions ahead (:func:`asked_ahead`): the snapshot the
topology takes to prepare (a host's facts) answers the plan's questions too, so
a plan on a host it has just connected to costs one round trip, not two.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast, runtime_checkable

from capabilities.command_runner import BatchedObservations, CommandRunner, CommandRunnerService, GuardCheck


@runtime_checkable
class ObservesPaths(Protocol):
    """A score whose plan observes these absolute paths (stat, content digest, the directories above)."""

    def observed_paths(self) -> Sequence[str]: ...


@runtime_checkable
class ObservesGuards(Protocol):
    """A score whose plan runs these check commands and reads only their exit status."""

    def observed_guards(self) -> Sequence[GuardCheck]: ...


@runtime_checkable
class ReadsFiles(Protocol):
    """A score whose plan reads the content of these absolute paths (small text files it edits)."""

    def read_paths(self) -> Sequence[str]: ...


_ASKS: dict[type, tuple[bool, bool, bool]] = {}


def _asks(score: object) -> tuple[bool, bool, bool]:
    """Which of the three protocols above ``score`` has, checked once per class.

    A Protocol ``isinstance`` looks up every method each time, and every plan
    and apply asks it of every score on every host (most of the 0.09 s such
    checks took of a no-change apply's 0.9 s of CPU at 50 hosts, adr/0113);
    the protocols hold methods only, so the class decides.
    """
    kind = type(score)
    known = _ASKS.get(kind)
    if known is None:
        known = _ASKS[kind] = (
            isinstance(score, ObservesPaths),
            isinstance(score, ObservesGuards),
            isinstance(score, ReadsFiles),
        )
    return known


Forget = Callable[[], None]
"""Ends an apply's snapshot (a no-op where there is none)."""


def _nothing() -> None:
    return None


@contextlib.asynccontextmanager
async def batched_observations(
    topology: object, scores: Iterable[object], *, until_changed: bool = False
) -> AsyncIterator[Forget]:
    """Run ``scores`` inside one snapshot of what they observe on ``topology``, when its runner can take one.

    Yields the function that ends the snapshot (for an apply: call it once a
    score may have changed something, before its result is verified).
    """
    runner = _batching_runner(topology)
    questions = Questions.of(scores)
    if runner is None or questions.empty:
        yield _nothing
        return
    async with runner.observing(questions.paths, questions.guards, read=questions.read, until_changed=until_changed):
        yield runner.forget_observations


@dataclass(frozen=True)
class Questions:
    """What scores will observe on their topology's runner: paths, guards, small files to read."""

    paths: tuple[str, ...] = ()
    guards: tuple[GuardCheck, ...] = ()
    read: tuple[str, ...] = ()

    @classmethod
    def of(cls, scores: Iterable[object]) -> Questions:
        paths: list[str] = []
        guards: list[GuardCheck] = []
        read: list[str] = []
        for score in scores:
            observes_paths, observes_guards, reads_files = _asks(score)
            if observes_paths:
                paths += cast(ObservesPaths, score).observed_paths()
            if observes_guards:
                guards += cast(ObservesGuards, score).observed_guards()
            if reads_files:
                read += cast(ReadsFiles, score).read_paths()
        return cls(tuple(paths), tuple(guards), tuple(read))

    @property
    def empty(self) -> bool:
        return not self.paths and not self.guards and not self.read

    def covers(self, paths: Iterable[str], guards: Iterable[GuardCheck], read: Iterable[str]) -> bool:
        return (
            set(paths) <= set(self.paths)
            and {guard.key() for guard in guards} <= {guard.key() for guard in self.guards}
            and set(read) <= set(self.read)
        )


@dataclass
class AskedAhead:
    """A plan's questions for one runner, asked ahead of the plan (:func:`asked_ahead`).

    The runner adds them to the first snapshot it takes in this context (the one
    taken to prepare the topology) and keeps that snapshot here, for the plan's
    own :func:`batched_observations` to use instead of a round trip of its own.
    """

    runner: object
    questions: Questions
    snapshot: object | None = None
    """The runner's snapshot that answered them: the runner's own type, opaque here."""


_ASKED_AHEAD: contextvars.ContextVar[AskedAhead | None] = contextvars.ContextVar("harmony_asked_ahead", default=None)


@contextlib.contextmanager
def asked_ahead(topology: object, scores: Iterable[object]) -> Iterator[None]:
    """Inside, the snapshot ``topology``'s runner takes first also answers what ``scores`` will observe.

    For a plan only: a plan's snapshot holds for the whole plan, so one taken
    a moment earlier, while the topology prepared, is as true. An apply always
    takes a fresh one (adr/0108).
    """
    runner = _batching_runner(topology)
    questions = Questions.of(scores)
    if runner is None or questions.empty:
        yield
        return
    token = _ASKED_AHEAD.set(AskedAhead(runner, questions))
    try:
        yield
    finally:
        _ASKED_AHEAD.reset(token)


@dataclass
class RecentObservations:
    """What runners observed live during one score's plan, for its converge right after (:func:`recent_observations`)."""

    kept: dict[object, object] = field(default_factory=dict)
    """Keys and values are each runner's own."""
    recording: bool = True
    """True while the plan runs; the converge only reads: what it observes itself (a wait for a service) is always live."""


_RECENT: contextvars.ContextVar[RecentObservations | None] = contextvars.ContextVar("harmony_recent", default=None)


@contextlib.contextmanager
def recent_observations() -> Iterator[RecentObservations]:
    """Inside (one score's apply), what its plan observed live may answer its converge's first look at the same
    thing, while nothing has changed through that runner since.

    A converge looks again at what its plan looked at a round trip earlier
    (where the file's directory is, whether something is at the path): a
    runner answers that from here unless a write, a command or anything else
    that may change the host ran, or is running, in between. Each answer is
    given once: a converge that looks again (waiting for something on the host)
    looks live. Set ``recording`` to false once the plan is done. Verification
    runs outside, so it always looks live (adr/0108).
    """
    recent = RecentObservations()
    token = _RECENT.set(recent)
    try:
        yield recent
    finally:
        _RECENT.reset(token)


def recent_memo() -> RecentObservations | None:
    """The current score apply's observations kept for runners, or ``None`` outside one."""
    return _RECENT.get()


def ahead_for(runner: object) -> AskedAhead | None:
    """The questions asked ahead for ``runner`` in this context, if any (for runners that batch)."""
    asked = _ASKED_AHEAD.get()
    return asked if asked is not None and asked.runner is runner else None


def _batching_runner(topology: object) -> BatchedObservations | None:
    runner = topology.command_runner() if isinstance(topology, CommandRunner) else None
    return runner if isinstance(runner, BatchedObservations) else None


def observed_digest(runner: CommandRunnerService, path: str) -> str | None:
    """The SHA-256 of ``path`` the current snapshot holds, or ``None``; never a round trip."""
    return runner.observed_digest(path) if isinstance(runner, BatchedObservations) else None


def observed_link(runner: CommandRunnerService, path: str) -> str | None:
    """The target of the link at ``path`` the current snapshot holds, or ``None``; never a round trip."""
    return runner.observed_link(path) if isinstance(runner, BatchedObservations) else None


def observed_exit(runner: CommandRunnerService, argv: Sequence[str], env: Mapping[str, str] | None) -> int | None:
    """The exit status the check ``argv`` (with ``env``) had in the current snapshot, or ``None``; never a round trip."""
    if not isinstance(runner, BatchedObservations):
        return None
    return runner.observed_exit(GuardCheck(tuple(argv), env))
