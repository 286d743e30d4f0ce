"""Human output: progress per score, plans with diffs, and a summary line.

On a terminal a live display (progress.py) shows the hosts done, the score
each is on and the elapsed time, below the lines printed here; without one
(a pipe, CI) only the lines are written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from harmony_py.events import (
    Event,
    GroupStarted,
    RunFinished,
    ScoreFinished,
    TopologyFailed,
    TopologyReady,
)
from harmony_py.outputs import KNOWN_AFTER_APPLY
from harmony_py.report import Phase, RunReport, ScoreReport, ScoreState
from harmony_py.values import Change, ChangeAction

if TYPE_CHECKING:
    from .progress import LiveProgress

_SYMBOL = {
    ChangeAction.CREATE: ("+", "green"),
    ChangeAction.UPDATE: ("~", "yellow"),
    ChangeAction.DELETE: ("-", "red"),
    ChangeAction.RUN: (">", "cyan"),
}
_STATE_STYLE = {
    ScoreState.UNCHANGED: "dim",
    ScoreState.PENDING: "yellow",
    ScoreState.CHANGED: "green",
    ScoreState.FAILED: "bold red",
    ScoreState.SKIPPED: "magenta",
}


class HumanRenderer:
    """Consumes maestro events and writes them for a person to read."""

    def __init__(self, console: Console) -> None:
        self.console = console
        # Asked once: rich reads the environment and the file's tty state on every ask.
        self._terminal = console.is_terminal
        # A pipe or a file, unwrapped, not recorded: what rich would write is the plain text.
        self._plain = not self._terminal and console.soft_wrap and not console.record
        self._progress: LiveProgress | None = None
        self._group = False

    def __call__(self, event: Event) -> None:
        if self._terminal:
            self._show_progress(event)
        if isinstance(event, GroupStarted):
            # Members' events interleave: every line then starts with its host.
            self._group = True
        elif isinstance(event, TopologyReady):
            os_name = event.report.facts.get("os")
            suffix = f" ({os_name})" if os_name else ""
            self._print(Text(f"Topology {event.report.name}{suffix} is ready", style="bold"))
        elif isinstance(event, TopologyFailed):
            self._print(Text(f"{event.topology}: failed: {_lines(event.error)}", style="bold red"))
        elif isinstance(event, ScoreFinished):
            self._score(event.phase, event.index, event.total, event.report)
        elif isinstance(event, RunFinished):
            self.close()
            if event.report.hosts:
                for host in event.report.hosts:
                    self.console.print(host_line(host))
            self.console.print(summary_line(event.report))

    def close(self) -> None:
        """Take the live display off the terminal (the run finished, or was interrupted)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _show_progress(self, event: Event) -> None:
        if self._progress is None:
            if isinstance(event, RunFinished):
                return
            from .progress import LiveProgress  # rich's live display is imported only where it is shown

            self._progress = LiveProgress(self.console)
        self._progress.update(event)

    def _print(self, line: Text) -> None:
        # With the live display on, lines wait for its next tick: rich redraws the display with every print.
        if self._progress is not None:
            self._progress.print(line)
        elif self._plain:
            # Written directly: the same text, without rich's measuring of every line (about a second of
            # CPU for a 50-host plan).
            out = self.console.file
            out.write(line.plain + "\n")
            out.flush()  # as rich does: a CI log or `| tee` shows each score when it finishes
        else:
            self.console.print(line)

    def _score(self, phase: Phase, index: int, total: int, report: ScoreReport) -> None:
        line = Text(f"{report.topology}  ", style="bold blue") if self._group else Text()
        line.append(f"[{index + 1}/{total}] ", style="dim")
        line.append(_title(report), style="bold")
        line.append(f"  {report.state.value}", style=_STATE_STYLE[report.state])
        if report.state in (ScoreState.FAILED, ScoreState.SKIPPED):
            line.append(f": {_lines(report.message)}")
        elif phase is Phase.APPLY:
            line.append(f" ({report.duration_s:.2f} s)", style="dim")
        block = [line]
        # What a score reports besides changes (a status per member, say): shown as the --json message is.
        block += [Text(f"    {key}: {value}") for key, value in report.details.items()]
        if phase is Phase.PLAN:
            for change in report.changes:
                block += _change_lines(change)
            # Only the path is shown: the value does not exist yet, and may be a secret once it does.
            block += [Text(f"    ~ {path} = {KNOWN_AFTER_APPLY}", style="yellow") for path in report.unknown_inputs]
        # One print per score: rich's cost is per call (measuring, wrapping), and a fleet's plan has
        # thousands of diff lines.
        self._print(Text("\n").join(block))


def _change_lines(change: Change) -> list[Text]:
    symbol, style = _SYMBOL[change.action]
    lines = [Text(f"    {symbol} {change.summary}", style=style)]
    if change.diff:
        lines += [Text(f"      {diff_line}", style=_diff_style(diff_line)) for diff_line in change.diff.splitlines()]
    return lines


def _title(report: ScoreReport) -> str:
    """The score's name, with its identity in front when the user gave it one."""
    if report.identity and report.identity != report.name:
        return f"{report.identity} ({report.name})"
    return report.name


def _lines(message: str) -> str:
    """A message of several lines (one per member or host that failed), its later lines indented under the first."""
    return message.replace("\n", "\n      ")


def _diff_style(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "bold"
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    if line.startswith("@@"):
        return "cyan"
    return ""


def summary_line(report: RunReport) -> Text:
    failed = report.count(ScoreState.FAILED)
    unchanged = report.count(ScoreState.UNCHANGED)
    skipped = report.count(ScoreState.SKIPPED)
    if report.phase is Phase.PLAN:
        text = f"Plan: {report.count(ScoreState.PENDING)} to change, {unchanged} unchanged, {failed} failed"
        if skipped:
            text += f", {skipped} not planned"
    else:
        text = f"Apply: {report.count(ScoreState.CHANGED)} changed, {unchanged} unchanged, {failed} failed, {skipped} skipped"
    failed_hosts = len(report.failed_hosts)
    if report.hosts:
        text += f" on {len(report.hosts)} hosts, {failed_hosts} of them failed"
    return Text(f"{text}.", style="bold red" if failed or failed_hosts else "bold")


def host_line(host: RunReport) -> Text:
    """One member of a group in the final summary."""
    line = Text(f"  {host.topology}: ", style="bold")
    if host.error is not None:
        line.append(f"failed: {_lines(host.error)}", style="bold red")
        return line
    counts = [
        f"{host.count(state)} {state.value}"
        for state in (ScoreState.PENDING, ScoreState.CHANGED, ScoreState.UNCHANGED, ScoreState.FAILED, ScoreState.SKIPPED)
        if host.count(state)
    ]
    line.append(", ".join(counts) or "no scores", style="red" if host.count(ScoreState.FAILED) else "")
    return line
