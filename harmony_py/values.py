"""The plain values every layer exchanges: a :class:`Secret`, and a :class:`Change` a plan proposes.

A leaf module: it imports nothing else of the project, so ``capabilities``
and ``topologies`` take these values from here without importing the engine
(tests/test_layout.py holds it to that).
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass
from typing import final

MASK = "********"


@final
class Secret:
    """Wraps a sensitive string; every textual form of it is masked.

    Only :meth:`reveal` gives the value back, so a secret reaches a file or a
    server only where code asks for it by name.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Secret wraps a str, got {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, format_spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would write the value in clear wherever the pickle goes.
        raise TypeError("a Secret cannot be pickled")


class ChangeAction(enum.Enum):
    """What a change does to its target."""

    CREATE = "create"
    """The target does not exist yet."""
    UPDATE = "update"
    """The target exists and part of it (``Change.attribute``) differs."""
    DELETE = "delete"
    """The target exists and should not."""
    RUN = "run"
    """A command or action runs; no single target state describes it."""


@dataclass(frozen=True)
class Change:
    """One change a plan proposes, or an apply made.

    ``attribute`` names the part of the target that changes ("content",
    "mode", ...), empty when the whole target does. ``diff`` is a unified diff
    for content changes; interprets leave it empty where the content is secret.
    """

    action: ChangeAction
    """What it does to the target."""
    target: str
    """What it changes: a path, a resource (``Deployment shop/web``), a role."""
    summary: str
    """One line for a person (``create file /etc/motd (12 bytes, mode 0644)``). Never a secret."""
    diff: str | None = None
    """A unified diff of content, or None (not content, or secret)."""
    attribute: str = ""
    """The part of the target that changes (``content``, ``mode``); empty when the whole target does."""
