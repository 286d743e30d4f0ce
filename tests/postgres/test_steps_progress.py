"""A PostgreSQL deploy says which step it is on, for the live display (issue 14, adr/0107)."""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from harmony_py.events import Event, ScoreProgress, progress_to
from harmony_py.values import Change, ChangeAction
from topologies.postgres.steps import deploy_steps, plan_steps


class Planned:
    """A step that plans the given changes and records that it converged them."""

    def __init__(self, *summaries: str) -> None:
        self.changes = [Change(ChangeAction.CREATE, "cluster c", summary) for summary in summaries]
        self.converged = False

    async def plan(self, predicted: None) -> list[Change]:
        return list(self.changes)

    async def converge(self, changes: Sequence[Change]) -> None:
        self.converged = True


def test_each_converged_step_reports_its_first_change_and_a_plan_reports_nothing() -> None:
    seen: list[Event] = []
    steps = [Planned("initialise cluster c"), Planned(), Planned("create role app", "create database app")]

    async def walk() -> None:
        progress_to(seen.append, "local", "PostgreSQLScore(c)")
        await plan_steps(steps, None)
        assert seen == []
        await deploy_steps(steps, None)

    anyio.run(walk)
    assert [event.message for event in seen if isinstance(event, ScoreProgress)] == [
        "initialise cluster c", "create role app (and 1 more)"
    ]  # fmt: skip
    assert [step.converged for step in steps] == [True, False, True]
