"""What an interpret reports: the changes it would make or made, and how it ended."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .values import Change


class InterpretStatus(enum.Enum):
    SUCCESS = "success"
    """Changes were made and the desired state was reached."""
    NOOP = "noop"
    """The desired state already held; nothing was touched."""
    FAILURE = "failure"
    """The desired state was not reached."""
    SKIPPED = "skipped"
    """Not attempted, because something it comes after failed."""


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
