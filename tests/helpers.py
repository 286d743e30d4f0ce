"""Small helpers shared by the core tests."""

from __future__ import annotations

from typing import Any

import anyio

from harmony_py import Maestro, RunReport, Score, ScoreState
from topologies import LocalhostTopology


def plan(*scores: Score[LocalhostTopology]) -> RunReport:
    return anyio.run(Maestro(LocalhostTopology()).add(*scores).plan)


def apply(*scores: Score[LocalhostTopology]) -> RunReport:
    return anyio.run(Maestro(LocalhostTopology()).add(*scores).apply)


def states(report: RunReport) -> list[ScoreState]:
    return [score.state for score in report.scores]


def all_in(report: RunReport, state: ScoreState) -> bool:
    return all(score.state is state for score in report.scores)


def everything_said(*reports: Any) -> str:
    """All text a report could show a person or a JSON consumer."""
    return "\n".join(repr(report) for report in reports)
