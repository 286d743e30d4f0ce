"""The live progress display on a terminal: hosts done / total, the score each host is on, elapsed time.

Events only update a few fields (:class:`ProgressState`, no rendering, no
I/O); rich's ``Live`` draws the state on its own timer (``REFRESH_PER_SECOND``),
so a run of many hosts and many events costs one small render per tick, not
one per event (adr/0107). The lines the human output prints (a score's
result, a plan's diff) go above the display, as before: they are queued and
printed together at the next tick, since rich redraws the display with every
print.

Only the human renderer imports this module, and only on a terminal: without
one (a pipe, CI, ``--json``) nothing here runs.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from harmony_py.events import (
    Event,
    GroupStarted,
    MemberFinished,
    RunFinished,
    ScoreProgress,
    ScoreStarted,
    TopologyFailed,
    TopologyPreparing,
    TopologyReady,
)
from harmony_py.report import Phase

REFRESH_PER_SECOND = 8
"""How often the display is redrawn: often enough to look live, rarely enough to cost nothing."""
HOSTS_SHOWN = 8
"""Hosts in flight listed by name; the rest are counted."""

Clock = Callable[[], float]


@dataclass
class _Activity:
    """What one topology is doing now."""

    doing: str
    since: float
    note: str = ""
    """The running score's own last progress message, if it sends any."""


class ProgressState:
    """What the display shows, kept up to date by events; :meth:`render` draws it."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self.started = clock()
        self.phase: Phase | None = None
        self.hosts_total = 0
        """Members of the group; 0 for a single topology."""
        self.hosts_done = 0
        self.hosts_failed = 0
        self.activities: dict[str, _Activity] = {}
        """Topology name -> what it is doing, in the order they started."""

    def update(self, event: Event) -> None:
        now = self._clock()
        if isinstance(event, GroupStarted):
            self.phase, self.started = event.phase, now
            self.hosts_total, self.hosts_done, self.hosts_failed = len(event.members), 0, 0
            self.activities.clear()
        elif isinstance(event, TopologyPreparing):
            self.activities[event.topology] = _Activity("connecting", now)
        elif isinstance(event, TopologyReady):
            self.activities.pop(event.report.name, None)
        elif isinstance(event, TopologyFailed):
            self.activities.pop(event.topology, None)
        elif isinstance(event, MemberFinished):
            self.activities.pop(event.report.topology, None)
            self.hosts_done += 1
            self.hosts_failed += 0 if event.report.ok else 1
        elif isinstance(event, ScoreStarted):
            if self.phase is None or not self.hosts_total:
                self.phase = event.phase
            verb = "planning" if event.phase is Phase.PLAN else "applying"
            self.activities[event.topology] = _Activity(f"[{event.index + 1}/{event.total}] {verb} {event.name}", now)
        elif isinstance(event, ScoreProgress):
            activity = self.activities.get(event.topology)
            if activity is not None:
                activity.note = event.message
        elif isinstance(event, RunFinished):
            self.activities.clear()

    def render(self) -> RenderableType:
        now = self._clock()
        lines: list[RenderableType] = [self._headline(now)]
        # rich draws from its refresh thread while events update from the loop's: one C-level copy
        # under the GIL, never an iteration over the live dict.
        shown = list(self.activities.items())
        for name, activity in shown[:HOSTS_SHOWN]:
            line = Text("  ")
            if self.hosts_total:
                line.append(f"{name}  ", style="bold blue")
            line.append(activity.doing)
            line.append(f"  {_elapsed(now - activity.since)}", style="dim")
            if activity.note:
                line.append(f"  {activity.note}", style="cyan")
            lines.append(line)
        if len(shown) > HOSTS_SHOWN:
            lines.append(Text(f"  ... and {len(shown) - HOSTS_SHOWN} more in flight", style="dim"))
        return Group(*lines)

    def _headline(self, now: float) -> Text:
        phase = self.phase.value if self.phase is not None else "preparing"
        line = Text(f"{phase}: ", style="bold")
        if self.hosts_total:
            line.append(f"{self.hosts_done}/{self.hosts_total} hosts done")
            if self.hosts_failed:
                line.append(f", {self.hosts_failed} failed", style="bold red")
            line.append(", ")
        line.append(_elapsed(now - self.started), style="dim")
        return line

    def __rich__(self) -> RenderableType:
        return self.render()


class _BatchedLive(Live):
    """rich's Live, printing the lines queued since the last tick in one go (one redraw of the display, not one per line)."""

    def __init__(self, queued: deque[RenderableType], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued = queued

    def refresh(self) -> None:
        with self._lock:
            if self._queued and self.is_started:
                self.flush()
            else:
                super().refresh()

    def flush(self) -> None:
        """Print the queued lines above the display (rich redraws it below them)."""
        with self._lock:
            lines: list[RenderableType] = []
            while self._queued:
                lines.append(self._queued.popleft())
            if lines:
                self.console.print(Group(*lines))


class LiveProgress:
    """The display on a terminal: started on the first event, stopped when the run finishes."""

    def __init__(self, console: Console, state: ProgressState | None = None) -> None:
        self.state = state or ProgressState()
        self._console = console
        self._queued: deque[RenderableType] = deque()
        """Lines to print above the display: appended by the event loop, taken by rich's refresh thread."""
        self._live: _BatchedLive | None = None

    def update(self, event: Event) -> None:
        self.state.update(event)
        if self._live is None and not isinstance(event, RunFinished):
            # transient: the display is replaced by the summary lines printed after it.
            self._live = _BatchedLive(
                self._queued, self.state, console=self._console, refresh_per_second=REFRESH_PER_SECOND,
                transient=True, redirect_stdout=False, redirect_stderr=False,
            )  # fmt: skip
            self._live.start()

    def print(self, line: RenderableType) -> None:
        """Print ``line`` above the display at its next refresh (at once when there is no display)."""
        if self._live is None:
            self._console.print(line)
        else:
            self._queued.append(line)

    def stop(self) -> None:
        """Print what is queued, then take the display off."""
        if self._live is not None:
            self._live.flush()
            self._live.stop()
            self._live = None
        while self._queued:
            self._console.print(self._queued.popleft())


def _elapsed(seconds: float) -> str:
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes):02d}:{rest:04.1f}"
