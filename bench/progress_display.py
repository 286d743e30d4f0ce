"""What the live progress display costs: the CPU of the human output with and without it (adr/0107).

    python bench/progress_display.py --hosts 50 --scores 10 --seconds 4 --rounds 3

Feeds the events of a fleet run (a plan then an apply: every host prepared, every
score started and finished) to the CLI's human renderer, spread over ``--seconds``
as a real run spreads them, once with a console that is a terminal (the live
display on, rich redrawing it on its timer) and once with one that is not (the
plain lines), alternating. Output goes to /dev/null. Reports the process CPU
(all threads: rich refreshes from its own) of each and the difference, per run
and per event. bench/fanout.py runs the CLI without a terminal, so it never
shows the display; this is where its cost is measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Iterator

from rich.console import Console

from harmony_py.cli.human_output import HumanRenderer
from harmony_py.events import (
    Event,
    GroupStarted,
    MemberFinished,
    RunFinished,
    ScoreFinished,
    ScoreStarted,
    TopologyPreparing,
    TopologyReady,
)
from harmony_py.report import Phase, RunReport, ScoreReport, ScoreState
from harmony_py.topology import TopologyReport


def fleet_events(hosts: int, scores: int) -> Iterator[list[Event]]:
    """The events of a plan and an apply, in steps (one step: every host moves by one score)."""
    names = [f"web{n}" for n in range(hosts)]
    for phase in (Phase.PLAN, Phase.APPLY):
        yield [GroupStarted(phase, "fleet", tuple(names), hosts)]
        if phase is Phase.PLAN:
            preparing: list[Event] = [TopologyPreparing(name) for name in names]
            yield preparing + [TopologyReady(TopologyReport(name, {"os": "Debian"})) for name in names]
        state = ScoreState.PENDING if phase is Phase.PLAN else ScoreState.CHANGED
        for index in range(scores):
            step: list[Event] = []
            for name in names:
                title = f"FileScore(/etc/app/file{index}.conf)"
                step.append(ScoreStarted(phase, index, scores, title, name))
                report = ScoreReport(title, "FileScore", state, "1 change(s) to make", (), 0.01, name, title)
                step.append(ScoreFinished(phase, index, scores, report))
            yield step
        host_reports = tuple(RunReport(phase, name) for name in names)
        finished: list[Event] = [MemberFinished(report) for report in host_reports]
        yield finished + [RunFinished(RunReport(phase, "fleet", hosts=host_reports))]


def one_run(terminal: bool, hosts: int, scores: int, seconds: float) -> tuple[float, int]:
    """Process CPU seconds of rendering one run's events over ``seconds``, and how many events."""
    with open(os.devnull, "w") as sink:
        console = Console(file=sink, force_terminal=terminal, width=120, highlight=False, soft_wrap=True)
        renderer = HumanRenderer(console)
        steps = list(fleet_events(hosts, scores))
        pause = seconds / len(steps)
        events = 0
        started = time.process_time()
        for step in steps:
            for event in step:
                renderer(event)
            events += len(step)
            time.sleep(pause)  # a real run waits on the hosts between events; rich's timer keeps drawing
        renderer.close()
        return time.process_time() - started, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--scores", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4.0, help="how long the run's events are spread over")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    live: list[float] = []
    plain: list[float] = []
    events = 0
    for _ in range(args.rounds):
        for terminal, figures in ((True, live), (False, plain)):
            cpu, events = one_run(terminal, args.hosts, args.scores, args.seconds)
            figures.append(cpu)
    extra = statistics.median(live) - statistics.median(plain)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"{args.hosts} hosts x {args.scores} scores, plan + apply: {events} events over {args.seconds:g} s, {args.rounds} rounds")
    print(f"CPU with the live display: {', '.join(f'{v:.3f}' for v in live)} s (median {statistics.median(live):.3f})")
    print(f"CPU with plain lines:      {', '.join(f'{v:.3f}' for v in plain)} s (median {statistics.median(plain):.3f})")
    print(f"display cost: {extra:+.3f} s CPU per run, {extra / args.seconds * 100:+.1f} % of one core, {extra / events * 1e6:+.1f} us per event")


if __name__ == "__main__":
    main()
