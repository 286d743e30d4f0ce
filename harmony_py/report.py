"""What a plan or an apply run reports, score by score."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from .outcome import Change


class Phase(enum.Enum):
    PLAN = "plan"
    APPLY = "apply"


class ScoreState(enum.Enum):
    UNCHANGED = "unchanged"
    """Already in the desired state."""
    PENDING = "pending"
    """A plan found changes to make."""
    CHANGED = "changed"
    """An apply made changes."""
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ScoreReport:
    name: str
    kind: str
    state: ScoreState
    message: str
    changes: tuple[Change, ...] = ()
    duration_s: float = 0.0
    topology: str = ""
    identity: str = ""
    """The score's stable identity (``shop.db``); its name unless the user gave one."""
    depends_on: tuple[str, ...] = ()
    """Identities of the scores it waits for (the order it was written in, and its Refs)."""
    unknown_inputs: tuple[str, ...] = ()
    """In a plan: the fields whose values are known only after apply (their producers change)."""
    details: Mapping[str, str] = field(default_factory=dict)
    """What the score reported besides its changes (``Outcome.details``), e.g. a status per member."""


@dataclass(frozen=True)
class RunReport:
    """A whole run on one topology (or, for host groups, several).

    For a group, ``scores`` holds every member's score reports (each names its
    topology) and ``hosts`` one report per member; a member that could not be
    prepared (e.g. unreachable) has its reason in ``error`` and no scores.
    """

    phase: Phase
    topology: str
    scores: tuple[ScoreReport, ...] = ()
    error: str | None = None
    facts: dict[str, str] = field(default_factory=dict)
    hosts: tuple[RunReport, ...] = ()

    def count(self, state: ScoreState) -> int:
        return sum(1 for report in self.scores if report.state is state)

    @property
    def ok(self) -> bool:
        return self.error is None and self.count(ScoreState.FAILED) == 0 and all(host.ok for host in self.hosts)

    @property
    def failed_hosts(self) -> tuple[RunReport, ...]:
        return tuple(host for host in self.hosts if not host.ok)

    @property
    def has_changes(self) -> bool:
        return any(r.state in (ScoreState.PENDING, ScoreState.CHANGED) for r in self.scores)
