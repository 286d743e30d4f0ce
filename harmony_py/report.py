"""What a plan or an apply run reports, score by score."""

from __future__ import annotations

import enum
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


@dataclass(frozen=True)
class RunReport:
    """A whole run on one topology (or, for host groups, several)."""

    phase: Phase
    topology: str
    scores: tuple[ScoreReport, ...] = ()
    error: str | None = None
    facts: dict[str, str] = field(default_factory=dict)

    def count(self, state: ScoreState) -> int:
        return sum(1 for report in self.scores if report.state is state)

    @property
    def ok(self) -> bool:
        return self.error is None and self.count(ScoreState.FAILED) == 0

    @property
    def has_changes(self) -> bool:
        return any(r.state in (ScoreState.PENDING, ScoreState.CHANGED) for r in self.scores)
