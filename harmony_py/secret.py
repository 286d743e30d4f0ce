"""A value that must never be printed, logged or put in a plan."""

from __future__ import annotations

import hmac
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
