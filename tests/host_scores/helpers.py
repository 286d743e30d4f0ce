"""Running host scores the way every test here checks them: plan, apply, apply again, plan again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harmony_py import Maestro, RunReport, Score, ScoreState


@dataclass(frozen=True)
class Rounds:
    """Reports of one plan, two applies and the plan after them."""

    planned: RunReport
    first: RunReport
    second: RunReport
    after: RunReport

    def assert_converged(self) -> None:
        """The property every score keeps: the first apply changes, the second is NOOP, the plan after it is empty."""
        assert self.first.ok, [s.message for s in self.first.scores]
        assert all(s.state is ScoreState.UNCHANGED for s in self.second.scores), [(s.name, s.state, s.message) for s in self.second.scores]
        assert not self.after.has_changes, [(s.name, s.changes) for s in self.after.scores if s.changes]


async def rounds(topology: Any, *scores: Score[Any]) -> Rounds:
    async with Maestro(topology).add(*scores) as maestro:
        planned = await maestro.plan()
        first = await maestro.apply()
        second = await maestro.apply()
        after = await maestro.plan()
    return Rounds(planned, first, second, after)


async def plan_of(topology: Any, *scores: Score[Any]) -> RunReport:
    async with Maestro(topology).add(*scores) as maestro:
        return await maestro.plan()


async def apply_of(topology: Any, *scores: Score[Any]) -> RunReport:
    async with Maestro(topology).add(*scores) as maestro:
        return await maestro.apply()


def summaries(report: RunReport) -> list[str]:
    return [change.summary for score in report.scores for change in score.changes]
