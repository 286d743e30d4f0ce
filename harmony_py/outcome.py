"""What an interpret reports: the changes it would make or made, and how it ended."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


class InterpretStatus(enum.Enum):
    SUCCESS = "success"
    """Changes were made and the desired state was reached."""
    NOOP = "noop"
    """The desired state already held; nothing was touched."""
    FAILURE = "failure"
    """The desired state was not reached."""
    SKIPPED = "skipped"
    """Not attempted, because something it comes after failed."""


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


@dataclass(frozen=True)
class Outcome:
    """The result of applying one score. It never holds a secret."""

    status: InterpretStatus
    message: str
    changes: tuple[Change, ...] = ()
    details: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def noop(cls, message: str = "already in the desired state") -> Outcome:
        return cls(InterpretStatus.NOOP, message)

    @classmethod
    def changed(cls, changes: Sequence[Change], message: str | None = None) -> Outcome:
        text = message or "; ".join(change.summary for change in changes)
        return cls(InterpretStatus.SUCCESS, text, tuple(changes))

    @classmethod
    def failed(cls, message: str, changes: Sequence[Change] = ()) -> Outcome:
        return cls(InterpretStatus.FAILURE, message, tuple(changes))
