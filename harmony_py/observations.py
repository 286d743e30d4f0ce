"""Batched plan observations: the paths a host's scores will look at, observed in one round trip.

A score that observes files names them (``observed_paths``); before a
topology's scores plan, the run hands all those paths to a runner that can
batch them (:class:`~capabilities.command_runner.BatchedObservations`, the
SSH runner) and plans inside its snapshot. Runners that cannot batch (the
local machine, where an observation costs no round trip) are left alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Protocol, runtime_checkable

from capabilities.command_runner import BatchedObservations, CommandRunner, CommandRunnerService


@runtime_checkable
class ObservesPaths(Protocol):
    """A score whose plan observes these absolute paths (stat, content digest, the directories above)."""

    def observed_paths(self) -> Sequence[str]: ...


@contextlib.asynccontextmanager
async def batched_observations(topology: object, scores: Iterable[object]) -> AsyncIterator[None]:
    """Plan inside one snapshot of every path ``scores`` observe on ``topology``, when its runner can take one."""
    runner = topology.command_runner() if isinstance(topology, CommandRunner) else None
    paths = [path for score in scores if isinstance(score, ObservesPaths) for path in score.observed_paths()]
    if not isinstance(runner, BatchedObservations) or not paths:
        yield
        return
    async with runner.observing(paths):
        yield


def observed_digest(runner: CommandRunnerService, path: str) -> str | None:
    """The SHA-256 of ``path`` the current plan's snapshot holds, or ``None``; never a round trip."""
    return runner.observed_digest(path) if isinstance(runner, BatchedObservations) else None
