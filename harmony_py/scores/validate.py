"""Checks scores run on the values they are built with, so bad input fails early and clearly."""

from __future__ import annotations

import posixpath

from harmony_py.errors import ScoreValueError

MAX_MODE = 0o7777
_OCTAL_DIGITS = frozenset("01234567")
_WRITE_WITHOUT_READ = frozenset({0o2, 0o3})


def absolute_path(score: str, field: str, value: object) -> str:
    if not isinstance(value, str):
        raise ScoreValueError(f"{score}.{field} must be a string path, got {type(value).__name__}: {value!r}")
    if not value.startswith("/"):
        raise ScoreValueError(f"{score}.{field} must be an absolute path, got {value!r}")
    if "\0" in value:
        raise ScoreValueError(f"{score}.{field} must not contain a NUL byte: {value!r}")
    normal = posixpath.normpath(value)
    if normal.startswith("//"):
        # POSIX keeps a leading "//" (implementation-defined); Linux treats it as "/",
        # and so does every resolved path compared with this one.
        normal = "/" + normal.lstrip("/")
    if normal == "/":
        raise ScoreValueError(f"{score}.{field} must not be the root directory")
    return normal


def permission_mode(score: str, field: str, value: object) -> int:
    """A permission mode (0 to 0o7777), refusing decimal numbers that were meant as octal.

    Python reads ``mode=644`` as the decimal number 644, which is ``0o1204``
    (sticky, owner write-only, others read): almost certainly not what was
    meant. A mode is refused as such a *decimal look-alike* when

    - its decimal digits are all 0-7, so they spell an octal mode (644 spells 0o644);
    - the mode they spell is *ordinary*; and
    - the value itself is not an ordinary mode.

    A mode is ordinary when no class (owner, group, others) may write without
    reading and each class has no permission the class before it lacks
    (owner ⊇ group ⊇ others); setuid, setgid and sticky bits are allowed. So
    644, 755, 600, 640, 700, 444, 400, 775, 1777 and 2755 are refused with the
    octal they spell, while 0o644 (420), 0o640 (416), 0o777 (511), 0o400 (256),
    0o1777 (1023) and 0o2755 (1517) pass: their digits spell no ordinary mode,
    or they are ordinary themselves. The few values whose both readings are
    ordinary (500 is 0o764, 510 is 0o776, 511 is 0o777) are taken as written.
    The price: the unusual modes 0o620, 0o670, 0o674 and the like (write
    without read, or a group with more rights than the owner, whose decimal
    value spells an ordinary mode) cannot be set through a score.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScoreValueError(f"{score}.{field} must be an int such as 0o644, got {type(value).__name__}: {value!r}")
    meant = decimal_look_alike(value)
    if meant is not None:
        raise ScoreValueError(f"{score}.{field}={value} looks like a decimal number: did you mean 0o{meant:o}?")
    if not 0 <= value <= MAX_MODE:
        raise ScoreValueError(f"{score}.{field} must be between 0o0 and 0o7777, got {value!r}")
    return value


def decimal_look_alike(value: int) -> int | None:
    """The octal mode ``value``'s decimal digits spell, when ``value`` is one (see :func:`permission_mode`)."""
    spelled = str(value)
    if value < 0 or not set(spelled) <= _OCTAL_DIGITS:
        return None
    meant = int(spelled, 8)
    if meant == value or meant > MAX_MODE or not is_ordinary_mode(meant):
        return None
    if value <= MAX_MODE and is_ordinary_mode(value):
        return None
    return meant


def is_ordinary_mode(mode: int) -> bool:
    """No class writes without reading, and owner ⊇ group ⊇ others (special bits ignored)."""
    owner, group, others = (mode >> 6) & 0o7, (mode >> 3) & 0o7, mode & 0o7
    if {owner, group, others} & _WRITE_WITHOUT_READ:
        return False
    return not (group & ~owner) and not (others & ~group)


def octal(mode: int) -> str:
    return f"{mode:04o}"
