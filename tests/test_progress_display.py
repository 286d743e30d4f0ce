"""The live progress display on a terminal (adr/0107): what it shows, fed by events, drawn by rich.

The display's state is driven by events and a fake clock, and drawn on a
``Console(force_terminal=True)`` that records: no sleeping, no timing.
Without a terminal the human output is the plain lines of before (the CLI
tests run without one).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
from rich.console import Console

from capabilities import CommandRunner
from harmony_py import Maestro, Outcome, TopologyGroup
from harmony_py.cli.human_output import HumanRenderer
from harmony_py.cli.progress import HOSTS_SHOWN, ProgressState
from harmony_py.events import (
    Event,
    GroupStarted,
    MemberFinished,
    RunFinished,
    ScoreProgress,
    ScoreStarted,
    TopologyPreparing,
    TopologyReady,
    report_progress,
)
from harmony_py.report import Phase, RunReport
from harmony_py.score import Interpret, Score
from harmony_py.topology import TopologyReport
from harmony_py.values import Change, ChangeAction
from topologies import LocalhostTopology


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def drawn(state: ProgressState) -> str:
    console = Console(force_terminal=True, record=True, width=120, file=io.StringIO())
    console.print(state)
    return console.export_text()


def test_fleet_display_shows_hosts_done_of_total_the_score_each_host_is_on_and_the_elapsed_time() -> None:
    clock = FakeClock()
    state = ProgressState(clock)
    state.update(GroupStarted(Phase.PLAN, "fleet", ("web1", "web2", "web3"), 3))
    state.update(ScoreStarted(Phase.PLAN, 0, 2, "FileScore(/etc/motd)", "web1"))
    state.update(TopologyPreparing("web2"))
    clock.now += 1.5
    state.update(ScoreStarted(Phase.PLAN, 1, 2, "DirectoryScore(/srv)", "web3"))
    state.update(MemberFinished(RunReport(Phase.PLAN, "web3")))
    clock.now += 0.5
    text = drawn(state)
    assert "plan: 1/3 hosts done, 00:02.0" in text
    assert "web1  [1/2] planning FileScore(/etc/motd)  00:02.0" in text
    assert "web2  connecting  00:02.0" in text
    assert "web3" not in text  # done: no longer listed


def test_fleet_display_counts_failed_hosts_and_folds_hosts_beyond_what_it_lists() -> None:
    state = ProgressState(FakeClock())
    names = tuple(f"h{n}" for n in range(HOSTS_SHOWN + 5))
    state.update(GroupStarted(Phase.APPLY, "fleet", names, len(names)))
    for name in names:
        state.update(TopologyPreparing(name))
    state.update(MemberFinished(RunReport(Phase.APPLY, names[0], error="unreachable")))
    text = drawn(state)
    assert f"apply: 1/{len(names)} hosts done, 1 failed, 00:00.0" in text
    assert "... and 4 more in flight" in text


def test_single_long_score_shows_its_own_progress_message_else_its_name_and_elapsed_time() -> None:
    clock = FakeClock()
    state = ProgressState(clock)
    state.update(TopologyPreparing("db1"))
    state.update(TopologyReady(TopologyReport("db1")))
    state.update(ScoreStarted(Phase.APPLY, 0, 1, "PostgreSQLScore(main)", "db1", "main"))
    clock.now += 42
    assert "[1/1] applying PostgreSQLScore(main)  00:42.0" in drawn(state)
    state.update(ScoreProgress("db1", "main", "waiting for the replica to catch up"))
    assert "applying PostgreSQLScore(main)  00:42.0  waiting for the replica to catch up" in drawn(state)
    state.update(RunFinished(RunReport(Phase.APPLY, "db1")))
    assert drawn(state).strip() == "apply: 00:42.0"


@dataclass(frozen=True)
class StepsScore(Score[CommandRunner]):
    """A long score in three steps that says how far it is after each."""

    label: str = "steps"

    @property
    def name(self) -> str:
        return f"StepsScore({self.label})"

    def interpret(self) -> StepsInterpret:
        return StepsInterpret()


class StepsInterpret(Interpret[CommandRunner]):
    def __init__(self) -> None:
        self.done = False

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        return [] if self.done else [Change(ChangeAction.RUN, "steps", "run three steps")]

    async def apply(self, topology: CommandRunner) -> Outcome:
        for step in range(1, 4):
            report_progress(f"step {step} of 3")
            await anyio.sleep(0)
        self.done = True
        return Outcome.changed([Change(ChangeAction.RUN, "steps", "ran three steps")])


def test_a_score_reports_its_own_progress_as_events_naming_its_topology_and_identity() -> None:
    events: list[Event] = []
    maestro = Maestro(LocalhostTopology("here")).add(StepsScore().named("setup"))
    report = anyio.run(maestro.apply, events.append)
    assert report.ok, report.failures
    progress = [event for event in events if isinstance(event, ScoreProgress)]
    assert progress == [ScoreProgress("here", "setup", f"step {n} of 3") for n in (1, 2, 3)]
    report_progress("outside a run: ignored")  # no handler, no error


def test_human_output_on_a_terminal_runs_the_live_display_and_takes_it_off_when_the_run_ends(tmp_path: object) -> None:
    console = Console(force_terminal=True, record=True, width=120, file=io.StringIO())
    renderer = HumanRenderer(console)
    seen: list[bool] = []

    def watch(event: Event) -> None:
        renderer(event)
        seen.append(renderer._progress is not None)

    group = TopologyGroup([LocalhostTopology("one"), LocalhostTopology("two")])
    report = anyio.run(Maestro(group).add(StepsScore()).plan, watch)
    assert report.ok
    assert all(seen[:-1]) and seen[-1] is False  # live throughout, off after the run's summary
    text = console.export_text()
    assert "one  [1/1] StepsScore(steps)  pending" in text
    assert "Plan: 2 to change, 0 unchanged, 0 failed on 2 hosts, 0 of them failed." in text


def test_human_output_without_a_terminal_never_starts_the_live_display() -> None:
    console = Console(force_terminal=False, record=True, width=120, file=io.StringIO())
    renderer = HumanRenderer(console)
    seen: list[bool] = []

    def watch(event: Event) -> None:
        renderer(event)
        seen.append(renderer._progress is not None)

    anyio.run(Maestro(LocalhostTopology()).add(StepsScore()).plan, watch)
    assert seen and not any(seen)
    assert console.export_text().splitlines()[-1] == "Plan: 1 to change, 0 unchanged, 0 failed."


def test_without_a_terminal_the_plain_lines_are_what_rich_writes_one_write_per_score() -> None:
    """The CLI's consoles (no terminal, soft_wrap): written directly, the same text rich would write."""

    def planned(console: Console) -> str:
        maestro = Maestro(LocalhostTopology("here")).add(StepsScore(), StepsScore().named("again"))
        anyio.run(maestro.plan, HumanRenderer(console))
        file = console.file
        assert isinstance(file, io.StringIO)
        return file.getvalue()

    direct = Console(force_terminal=False, soft_wrap=True, width=20, file=io.StringIO())
    through_rich = Console(force_terminal=False, soft_wrap=True, width=20, file=io.StringIO(), record=True)
    text = planned(direct)
    assert text == planned(through_rich)
    assert "[1/2] StepsScore(steps)  pending" in text and "\x1b" not in text  # no style, no wrapping at 20
