"""Stating a host score's plan and apply against a FakeHost: what it plans from a given state, what apply does."""

from __future__ import annotations

from typing import Any

import anyio

from harmony_py import Change, Score
from harmony_py.testing import FakeHost


def plan(host: FakeHost, score: Score[Any]) -> list[Change]:
    """The score's plan on ``host``; the plan must only observe (no call that changes the host)."""
    host.forget_calls()
    changes = list(anyio.run(score.interpret().plan, host))
    assert host.changes() == [], f"the plan of {score.name} changed the host: {host.changes()}"
    return changes


def planned(host: FakeHost, score: Score[Any]) -> list[str]:
    """The summaries of the score's plan on ``host`` (see :func:`plan`)."""
    return [change.summary for change in plan(host, score)]


def applied(host: FakeHost, score: Score[Any]) -> list[str]:
    """What one apply of the score on ``host`` changed there: file operations and commands, in order."""
    host.forget_calls()
    anyio.run(score.interpret().apply, host)
    return host.changes()
