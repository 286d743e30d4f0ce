"""ChangeRef: a score sees whether the scores it watches changed in this run (what ServiceScore.restart_on uses)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from capabilities.command_runner import CommandRunner
from harmony_py import ChangeAction, Maestro, ScoreState, ScoreValueError
from harmony_py.values import Change
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.scores import FileScore
from harmony_py.triggers import Changed, Watched, changes_seen, watch
from harmony_py.outputs import Ref
from topologies import LocalhostTopology

from .helpers import apply, plan, states


@dataclass(frozen=True)
class Bell(Score[CommandRunner]):
    """Appends a line to ``log`` in every run where one of ``on`` changed something (a restart, in miniature)."""

    log: str
    on: Sequence[Watched]

    def __post_init__(self) -> None:
        object.__setattr__(self, "on", tuple(watch(value) for value in self.on))

    @property
    def name(self) -> str:
        return f"Bell({self.log})"

    def interpret(self) -> BellInterpret:
        return BellInterpret(self)


class BellInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: Bell) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        values: tuple[Ref[Changed] | Changed, ...] = tuple(watch(value) for value in self.score.on)
        seen = changes_seen(values)
        return [Change(ChangeAction.RUN, self.score.log, f"ring: {', '.join(seen)} changed")] if seen else []

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        before = await runner.read_file(self.score.log) or b""
        await runner.write_file(self.score.log, before + b"ring\n", mode=0o644)


def test_a_watcher_acts_in_the_run_where_the_watched_score_changed_and_not_again(tmp_path: Path) -> None:
    config = FileScore(str(tmp_path / "app.conf"), "port = 1\n")
    bell = Bell(str(tmp_path / "rings"), [config])
    planned = plan(config, bell)
    assert [c.summary for c in planned.scores[1].changes] == [f"ring: FileScore({tmp_path}/app.conf) changed"]
    assert states(apply(config, bell)) == [ScoreState.CHANGED, ScoreState.CHANGED]
    assert states(apply(config, bell)) == [ScoreState.UNCHANGED, ScoreState.UNCHANGED]
    assert not plan(config, bell).has_changes
    changed = FileScore(str(tmp_path / "app.conf"), "port = 2\n")
    assert states(apply(changed, Bell(str(tmp_path / "rings"), [changed]))) == [ScoreState.CHANGED] * 2
    assert (tmp_path / "rings").read_text() == "ring\nring\n"


def test_a_watcher_waits_for_what_it_watches_across_add_calls_and_a_reversed_order_is_a_cycle(tmp_path: Path) -> None:
    config = FileScore(str(tmp_path / "app.conf"), "x\n")
    bell = Bell(str(tmp_path / "rings"), [config])

    async def separate() -> list[ScoreState]:
        async with Maestro(LocalhostTopology()).add(bell).add(config) as maestro:
            report = await maestro.apply()
        return [s.state for s in report.scores]

    assert anyio.run(separate) == [ScoreState.CHANGED, ScoreState.CHANGED]
    with pytest.raises(ScoreValueError, match="dependency cycle"):
        Maestro(LocalhostTopology()).add(Bell(str(tmp_path / "r2"), [config]), config).graph()


def test_a_watcher_of_a_failed_score_is_skipped_naming_it(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    broken = FileScore(str(tmp_path / "dir"), "cannot replace a directory\n")
    report = apply(broken, Bell(str(tmp_path / "rings"), [broken]))
    assert states(report) == [ScoreState.FAILED, ScoreState.SKIPPED]
    assert not (tmp_path / "rings").exists()


def test_anything_but_a_score_is_refused() -> None:
    with pytest.raises(TypeError, match="expected a score"):
        watch("app.conf")
