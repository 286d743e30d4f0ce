"""Reacting to another score's changes in the same run: restart a service when its configuration changed.

``changed(score)`` is a :class:`ChangeRef`, a Ref whose value is not an output
but whether ``score`` changed something: in an apply, whether it was applied
with changes (CHANGED); in a plan, whether it has changes to make. A score
holding one waits for that score like for any Ref (adr/0019), and the Maestro
replaces it by a :class:`Changed` before calling ``interpret()``. Any score
can be watched; it need not produce an output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .outputs import Ref, framework_origin, resolved
from .score import Score


@dataclass(frozen=True)
class Changed:
    """Whether the score ``source`` changed something in this run (in a plan: will change)."""

    source: str
    changed: bool


class ChangeRef(Ref[Changed]):
    """A Ref to whether a score changed in this run; resolved by the Maestro to a :class:`Changed`."""


def changed(score: Score[Any]) -> ChangeRef:
    """A reference to whether ``score`` changes something in this run."""
    return ChangeRef(framework_origin(score.identity, "changed()", Changed))


Watched = Score[Any] | Ref[Changed] | Changed
"""What a field such as ``ServiceScore.restart_on`` holds: a score, its ChangeRef, or (resolved) a Changed."""


def watch(value: object) -> Ref[Changed] | Changed:
    """The ChangeRef of a score (anything else of type :data:`Watched` as it is); ``TypeError`` otherwise."""
    if isinstance(value, Score):
        return changed(value)
    if isinstance(value, (ChangeRef, Changed)):
        return value
    raise TypeError(f"expected a score, got {type(value).__name__}: {value!r}")


def changes_seen(values: tuple[Ref[Changed] | Changed, ...]) -> list[str]:
    """Inside an interpret: the identities among ``values`` that changed (each must be resolved)."""
    return [seen.source for seen in map(resolved, values) if seen.changed]
