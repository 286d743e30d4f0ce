"""Checks scores run on the values they are built with, so bad input fails early and clearly."""

from __future__ import annotations

import posixpath

from harmony_py.errors import ScoreValueError


def absolute_path(score: str, field: str, value: object) -> str:
    if not isinstance(value, str):
        raise ScoreValueError(f"{score}.{field} must be a string path, got {type(value).__name__}: {value!r}")
    if not value.startswith("/"):
        raise ScoreValueError(f"{score}.{field} must be an absolute path, got {value!r}")
    if "\0" in value:
        raise ScoreValueError(f"{score}.{field} must not contain a NUL byte: {value!r}")
    normal = posixpath.normpath(value)
    if normal == "/":
        raise ScoreValueError(f"{score}.{field} must not be the root directory")
    return normal


def permission_mode(score: str, field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScoreValueError(f"{score}.{field} must be an int such as 0o644, got {type(value).__name__}: {value!r}")
    if not 0 <= value <= 0o7777:
        raise ScoreValueError(f"{score}.{field} must be between 0o0 and 0o7777, got {value!r}")
    return value


def octal(mode: int) -> str:
    return f"{mode:04o}"
