"""What a plan or an apply run reports, score by score.

These types are public API (exported from :mod:`harmony_py`) for ops tooling
that reads reports: fields are only ever added, with defaults, never removed,
renamed or given another meaning (see the README, "Stability").
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from .values import Change


class Phase(enum.Enum):
    """Which run made a report."""

    PLAN = "plan"
    """Observed only: what apply would change; nothing was touched."""
    APPLY = "apply"
    """Converged: what was changed."""


class ScoreState(enum.Enum):
    """How one score ended in a run."""

    UNCHANGED = "unchanged"
    """Already in the desired state."""
    PENDING = "pending"
    """A plan found changes to make."""
    CHANGED = "changed"
    """An apply made changes."""
    FAILED = "failed"
    """The score could not be planned or applied; ``message`` says why."""
    SKIPPED = "skipped"
    """Not attempted, because a score it depends on failed; ``message`` names that score."""


@dataclass(frozen=True)
class ScoreReport:
    """One score's result in a run: its state and the changes it would make or made."""

    name: str
    """The score's human name, as shown in plans (``FileScore(/etc/motd)``)."""
    kind: str
    """The score's class name (``FileScore``)."""
    state: ScoreState
    """How it ended."""
    message: str
    """One line for a person: what changed, or why it failed or was skipped. Never a secret."""
    changes: tuple[Change, ...] = ()
    """In a plan, the changes apply would make; in an apply, the changes made. Empty when unchanged."""
    duration_s: float = 0.0
    """Seconds the score took (planning it, or applying it)."""
    topology: str = ""
    """The name of the topology it ran on (for a group, the member: ``web1``)."""
    identity: str = ""
    """The score's stable identity (``shop.db``); its name unless the user gave one."""
    depends_on: tuple[str, ...] = ()
    """Identities of the scores it waits for (the order it was written in, and its Refs)."""
    unknown_inputs: tuple[str, ...] = ()
    """In a plan: the fields whose values are known only after apply (their producers change)."""
    details: Mapping[str, str] = field(default_factory=dict)
    """What the score reported besides its changes (``Outcome.details``), e.g. a status per member."""


@dataclass(frozen=True)
class PhaseTimings:
    """Seconds one topology (a host of a group) spent in each phase of a run, from a monotonic clock.

    A phase the run did not go through is 0.0: an apply after its plan reuses
    the connection the plan opened, so its ``connect_s`` is 0.0.
    """

    connect_s: float = 0.0
    """Preparing the topology (``ensure_ready``): for a host over SSH, connecting and reading its facts."""
    observe_s: float = 0.0
    """Planning its scores: observing the state and comparing it with the desired one."""
    change_s: float = 0.0
    """Applying its scores, with the observation that verifies each change."""


@dataclass(frozen=True)
class RunReport:
    """A whole run on one topology (or, for host groups, several).

    For a group, ``scores`` holds every member's score reports (each names its
    topology) and ``hosts`` one report per member; a member that could not be
    prepared (e.g. unreachable) has its reason in ``error`` and no scores.
    """

    phase: Phase
    """A plan or an apply."""
    topology: str
    """The topology's name (for a group, the group's)."""
    scores: tuple[ScoreReport, ...] = ()
    """One report per score, in the order the scores were written."""
    error: str | None = None
    """Why the run could not start on the topology (e.g. unreachable); None when it could."""
    facts: dict[str, str] = field(default_factory=dict)
    """What the topology reported when it was prepared (``os``, ``user``, ...)."""
    hosts: tuple[RunReport, ...] = ()
    """For a group: one report per member, in the group's order; empty otherwise."""
    timings: PhaseTimings = field(default_factory=PhaseTimings)
    """Seconds per phase on this topology; for a group, on each member (``hosts``), the group's own are 0.0."""

    def count(self, state: ScoreState) -> int:
        """How many scores ended in ``state``."""
        return sum(1 for report in self.scores if report.state is state)

    @property
    def ok(self) -> bool:
        """No score failed, and the run (and, for a group, every member's) could start."""
        return self.error is None and self.count(ScoreState.FAILED) == 0 and all(host.ok for host in self.hosts)

    @property
    def failed_hosts(self) -> tuple[RunReport, ...]:
        """For a group: the members whose run was not ok."""
        return tuple(host for host in self.hosts if not host.ok)

    @property
    def has_changes(self) -> bool:
        """A score is pending (in a plan) or changed (in an apply)."""
        return any(r.state in (ScoreState.PENDING, ScoreState.CHANGED) for r in self.scores)

    @property
    def failures(self) -> tuple[ScoreReport, ...]:
        """The scores that failed, in order; each ``message`` says why.

        A run that could not start has none: see ``error`` (and, for a group,
        ``failed_hosts``), or ``ok`` for both.
        """
        return self._in_state(ScoreState.FAILED)

    @property
    def pending(self) -> tuple[ScoreReport, ...]:
        """In a plan: the scores with changes to make, in order."""
        return self._in_state(ScoreState.PENDING)

    @property
    def changed(self) -> tuple[ScoreReport, ...]:
        """In an apply: the scores that made changes, in order."""
        return self._in_state(ScoreState.CHANGED)

    @property
    def changes(self) -> tuple[Change, ...]:
        """Every change of the run, score after score: to make (a plan) or made (an apply)."""
        return tuple(change for report in self.scores for change in report.changes)

    def _in_state(self, state: ScoreState) -> tuple[ScoreReport, ...]:
        return tuple(report for report in self.scores if report.state is state)
