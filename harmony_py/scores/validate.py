"""Checks scores run on the values they are built with, so bad input fails early and clearly.

The rules live in :mod:`harmony_py.validation` as field validators; these
functions apply one to a value for scores that check in code (``FileScore``,
``CommandScore``), with the same messages.
"""

from __future__ import annotations

from typing import Any

from harmony_py.validation import (
    MAX_MODE,
    AbsolutePath,
    Invalid,
    Mode,
    Validator,
    decimal_look_alike,
    field_error,
    is_ordinary_mode,
)

__all__ = ["MAX_MODE", "absolute_path", "decimal_look_alike", "is_ordinary_mode", "octal", "permission_mode"]


def absolute_path(score: str, field: str, value: object) -> str:
    """``value`` as a normalised absolute path other than ``/`` (see :class:`~harmony_py.validation.AbsolutePath`)."""
    path: str = _checked(score, field, AbsolutePath(), value)
    return path


def permission_mode(score: str, field: str, value: object) -> int:
    """A permission mode, refusing decimal look-alikes such as ``644`` (see :class:`~harmony_py.validation.Mode`)."""
    mode: int = _checked(score, field, Mode(), value)
    return mode


def _checked(score: str, field: str, validator: Validator, value: object) -> Any:
    try:
        return validator(value)
    except Invalid as invalid:
        raise field_error(f"{score}.{field}", invalid) from None


def octal(mode: int) -> str:
    return f"{mode:04o}"
