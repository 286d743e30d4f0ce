"""The walk of a PostgreSQL server on a host: ordered steps, planned then converged.

The rule is :class:`~harmony_py.score.ConvergingInterpret`'s, applied to each
step in turn: a step's ``plan`` observes only and names the changes, its
``converge`` makes them. One runner serves both uses:

- :func:`plan_steps`: every step's changes, in order; nothing is converged;
- :func:`deploy_steps`: each step is planned, converged when it found anything,
  and only then is the next step planned, so it observes the real result.

A step cannot observe, in a plan, what an earlier step has not done yet (a
cluster not yet initialised, a server not yet started): the earlier step
records it in ``predicted``, which every later step reads. In a deploy the same
record holds, and is then true.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from harmony_py.events import report_progress
from harmony_py.values import Change

P = TypeVar("P", contravariant=True)
Q = TypeVar("Q")


class Step(Protocol[P]):
    """One part of a walk: plans from observed state and ``predicted``, converges what it planned."""

    async def plan(self, predicted: P) -> list[Change]:
        """The changes this step would make (observing only; may add to ``predicted``)."""
        ...

    async def converge(self, changes: Sequence[Change]) -> None:
        """Make the changes its last :meth:`plan` returned."""
        ...


async def plan_steps(steps: Sequence[Step[Q]], predicted: Q) -> list[Change]:
    """What the walk would do: every step's changes, in order (nothing converged)."""
    return await _walk(steps, predicted, _leave)


async def deploy_steps(steps: Sequence[Step[Q]], predicted: Q) -> list[Change]:
    """Converge each step in order (planned on the real result of the ones before); the changes made."""
    return await _walk(steps, predicted, _converge)


async def _walk(
    steps: Sequence[Step[Q]], predicted: Q, act: Callable[[Step[Q], list[Change]], Awaitable[None]]
) -> list[Change]:
    changes: list[Change] = []
    for step in steps:
        planned = await step.plan(predicted)
        if planned:
            await act(step, planned)
        changes += planned
    return changes


async def _leave(step: Step[Q], changes: list[Change]) -> None:
    """A plan converges nothing."""


async def _converge(step: Step[Q], changes: list[Change]) -> None:
    # A bootstrap or a clone takes a while: the live display shows which step (a plan's own words,
    # which never hold a secret; adr/0107).
    more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
    report_progress(f"{changes[0].summary}{more}")
    await step.converge(changes)
