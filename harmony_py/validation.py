"""Declared field validation: reusable validators attached to dataclass fields with ``Annotated``.

A score or value class says what each field must be where the field is
declared, and checks them all with one call::

    @dataclass(frozen=True)
    class WebScore(Score[CommandRunner]):
        root: Annotated[str, AbsolutePath()]
        port: Annotated[int, Port()] = 8080
        mode: Annotated[int, Mode()] = 0o755

        def __post_init__(self) -> None:
            validate(self)

:func:`validate` runs the validators of each field in field order, stores the
normalised value (a frozen dataclass too), and raises one
:class:`~harmony_py.ScoreValueError` naming the class and the field:
``WebScore.port must be a port number between 1 and 65535, got 0``. A field
whose type admits ``None`` skips its validators when it is ``None``, and a
value known only later (a :class:`Deferred`, such as a Ref) is checked when it
is resolved, since resolving rebuilds the dataclass. Rules between fields stay
code in ``__post_init__``, after the call.

This module is a leaf: it imports nothing of the project but its errors, so
value classes in ``capabilities`` may use it (ADR 0053).
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from typing import Any, Union, get_args, get_origin

from .errors import ScoreValueError

__all__ = [
    "AbsolutePath",
    "Between",
    "Count",
    "Deferred",
    "DnsLabel",
    "Duration",
    "Each",
    "Identifier",
    "ImageReference",
    "InstanceOf",
    "Invalid",
    "IpAddress",
    "IpNetwork",
    "Keys",
    "Matches",
    "Mode",
    "NonEmpty",
    "NotIn",
    "OneOf",
    "Port",
    "PortRange",
    "Positive",
    "StartsWith",
    "Strings",
    "Validator",
    "MAX_MODE",
    "is_ordinary_mode",
    "Values",
    "decimal_look_alike",
    "field_error",
    "validate",
]

MAX_MODE = 0o7777
_OCTAL_DIGITS = frozenset("01234567")
_WRITE_WITHOUT_READ = frozenset({0o2, 0o3})


class Invalid(Exception):
    """Raised by a validator; ``reason`` follows the field's name (``must be ..., got ...``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Deferred:
    """Base of values known only later (a Ref): validators skip them; the resolved value is checked."""

    __slots__ = ()


class Validator(ABC):
    """Checks one field's value and returns it, normalised where the validator says so."""

    @abstractmethod
    def __call__(self, value: Any) -> Any:
        """The value (normalised), or :class:`Invalid` saying what it must be."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def validate(obj: object, *, prefix: str | None = None) -> None:
    """Run the validators declared on ``obj``'s dataclass fields, in field order; store normalised values.

    The error names ``Class.field``, or ``<prefix> field`` when a prefix is
    given (``"application shop:"`` gives ``application shop: port must be ...``).
    """
    cls = type(obj)
    declared = _DECLARED.get(cls)
    if declared is None:
        declared = _DECLARED[cls] = _declared(cls)
    for name, validators, optional in declared:
        value = getattr(obj, name)
        if (value is None and optional) or isinstance(value, Deferred):
            continue
        checked = value
        try:
            for validator in validators:
                checked = validator(checked)
        except Invalid as invalid:
            where = f"{prefix} {name}" if prefix is not None else f"{type(obj).__name__}.{name}"
            raise field_error(where, invalid) from None
        if checked is not value:
            object.__setattr__(obj, name, checked)


def field_error(where: str, invalid: Invalid) -> ScoreValueError:
    """The error for ``where`` (``Class.field``) failing a validator, for checks written in code."""
    return ScoreValueError(_joined(where, invalid.reason))


def _joined(where: str, reason: str) -> str:
    # "[0] must ..." and "=644 looks like ..." read as part of the field's name.
    return f"{where}{reason}" if reason[:1] in ("[", "=") else f"{where} {reason}"


_Declared = tuple[tuple[str, tuple[Validator, ...], bool], ...]
_DECLARED: dict[type, _Declared] = {}


def _declared(cls: type) -> _Declared:
    """Each field of ``cls`` that has validators: its name, its validators, whether None is allowed."""
    if not is_dataclass(cls):
        raise TypeError(f"validate() checks dataclasses; {cls.__name__} is not one")
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except NameError as exc:
        raise TypeError(
            f"validate() cannot read the annotations of {cls.__name__}: {exc} (import that name at run time)"
        ) from None
    declared = []
    for field in fields(cls):
        hint = hints.get(field.name)
        if get_origin(hint) is not typing.Annotated:
            continue
        base, *metadata = get_args(hint)
        validators = tuple(item for item in metadata if isinstance(item, Validator))
        if validators:
            declared.append((field.name, validators, _admits_none(base)))
    return tuple(declared)


def _admits_none(annotation: object) -> bool:
    if annotation is None or annotation is type(None):
        return True
    origin = get_origin(annotation)
    return (origin is Union or origin is types.UnionType) and type(None) in get_args(annotation)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _article(name: str) -> str:
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


# -- numbers ------------------------------------------------------------------------


class Port(Validator):
    """A TCP or UDP port number, 1 to 65535."""

    def __call__(self, value: Any) -> Any:
        if not _integer(value) or not 1 <= value <= 65535:
            raise Invalid(f"must be a port number between 1 and 65535, got {value!r}")
        return int(value)


class PortRange(Validator):
    """A non-empty ``range`` of port numbers (``range(20000, 21000)``)."""

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, range) or len(value) < 1 or not (1 <= value[0] <= 65535 and 1 <= value[-1] <= 65535):
            raise Invalid(f"must be a non-empty range of port numbers (1-65535), got {value!r}")
        return value


class Count(Validator):
    """An int of at least ``minimum`` (1: a positive int; 0: a non-negative int)."""

    def __init__(self, minimum: int = 1) -> None:
        self.minimum = minimum

    def __call__(self, value: Any) -> Any:
        if not _integer(value) or value < self.minimum:
            wanted = {1: "a positive int", 0: "a non-negative int"}.get(self.minimum, f"an int of at least {self.minimum}")
            raise Invalid(f"must be {wanted}, got {value!r}")
        return int(value)


class Positive(Validator):
    """A number (int or float) greater than zero."""

    def __call__(self, value: Any) -> Any:
        if not _number(value) or not value > 0:
            raise Invalid(f"must be positive, got {value!r}")
        return value


class Duration(Validator):
    """A time in seconds: positive, or at least ``minimum_s`` (0: not negative)."""

    def __init__(self, minimum_s: float | None = None) -> None:
        self.minimum_s = minimum_s

    def __call__(self, value: Any) -> Any:
        if self.minimum_s is None:
            if not _number(value) or not value > 0:
                raise Invalid(f"must be positive, got {value!r}")
        elif not _number(value) or value < self.minimum_s:
            wanted = "must not be negative" if self.minimum_s == 0 else f"must be at least {self.minimum_s:g} s"
            raise Invalid(f"{wanted}, got {value!r}")
        return value


class Between(Validator):
    """A number from ``low`` to ``high``, both included."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def __call__(self, value: Any) -> Any:
        if not _number(value) or not self.low <= value <= self.high:
            raise Invalid(f"must be between {self.low:g} and {self.high:g}, got {value!r}")
        return value


class Mode(Validator):
    """A permission mode (0 to 0o7777), refusing decimal numbers meant as octal (``mode=644``).

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

    def __call__(self, value: Any) -> Any:
        if not _integer(value):
            raise Invalid(f"must be an int such as 0o644, got {type(value).__name__}: {value!r}")
        meant = decimal_look_alike(value)
        if meant is not None:
            raise Invalid(f"={value} looks like a decimal number: did you mean 0o{meant:o}?")
        if not 0 <= value <= MAX_MODE:
            raise Invalid(f"must be between 0o0 and 0o7777, got {value!r}")
        return int(value)


def decimal_look_alike(value: int) -> int | None:
    """The octal mode ``value``'s decimal digits spell, when ``value`` is one (see :class:`Mode`)."""
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


# -- strings ------------------------------------------------------------------------


class NonEmpty(Validator):
    """A string with more than white space, or a collection with at least one item."""

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                raise Invalid(f"must be a non-empty string, got {value!r}")
        elif not isinstance(value, (Iterable, Mapping)) or not value:
            raise Invalid(f"must not be empty, got {value!r}")
        return value


class Matches(Validator):
    """A string matching ``pattern`` (whole), described to the user as ``what``."""

    def __init__(self, pattern: str, what: str) -> None:
        self.pattern = re.compile(pattern)
        self.what = what

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or not self.pattern.fullmatch(value):
            raise Invalid(f"must be {self.what}, got {value!r}")
        return value


class Identifier(Matches):
    """A name safe unquoted in SQL and file names: lower-case letters, digits and '_', not starting with a digit."""

    def __init__(self, max_length: int = 63) -> None:
        super().__init__(
            rf"[a-z_][a-z0-9_]{{0,{max_length - 1}}}",
            f"lower-case letters, digits and '_', starting with a letter or '_', at most {max_length} characters",
        )


class DnsLabel(Matches):
    """A DNS label (RFC 1123): what Kubernetes names namespaces, services and apps with."""

    def __init__(self, max_length: int = 63) -> None:
        super().__init__(
            rf"(?=.{{1,{max_length}}}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?",
            f"a DNS label (lowercase letters, digits and '-', at most {max_length})",
        )


class ImageReference(Validator):
    """A container image reference such as ``web:1.2``: not empty, no white space."""

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value):
            raise Invalid(f"must be an image reference such as 'web:1.2', got {value!r}")
        return value


class StartsWith(Validator):
    """A string starting with ``prefix`` (an HTTP path starts with ``/``)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or not value.startswith(self.prefix):
            raise Invalid(f"must start with {self.prefix!r}, got {value!r}")
        return value


class NotIn(Validator):
    """Any value but those in ``taken``; ``why`` says why those are not allowed."""

    def __init__(self, taken: Iterable[object], why: str) -> None:
        self.taken = frozenset(taken)
        self.why = why

    def __call__(self, value: Any) -> Any:
        if value in self.taken:
            raise Invalid(f"must not be {value!r}: {self.why}")
        return value


class OneOf(Validator):
    """One of the given values."""

    def __init__(self, *choices: object) -> None:
        self.choices = choices

    def __call__(self, value: Any) -> Any:
        if value not in self.choices:
            listed = [repr(choice) for choice in self.choices]
            spelled = listed[0] if len(listed) == 1 else f"{', '.join(listed[:-1])} or {listed[-1]}"
            raise Invalid(f"must be {spelled}, got {value!r}")
        return value


class AbsolutePath(Validator):
    """An absolute path without NUL, normalised (``/srv//app/`` -> ``/srv/app``) and not ``/`` unless allowed."""

    def __init__(self, *, normalise: bool = True, allow_root: bool = False) -> None:
        self.normalise = normalise
        self.allow_root = allow_root

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise Invalid(f"must be a string path, got {type(value).__name__}: {value!r}")
        if not value.startswith("/"):
            raise Invalid(f"must be an absolute path, got {value!r}")
        if "\0" in value:
            raise Invalid(f"must not contain a NUL byte: {value!r}")
        normal = posixpath.normpath(value)
        if normal.startswith("//"):
            # POSIX keeps a leading "//" (implementation-defined); Linux treats it as "/",
            # and so does every resolved path compared with this one.
            normal = "/" + normal.lstrip("/")
        if normal == "/" and not self.allow_root:
            raise Invalid("must not be the root directory")
        return normal if self.normalise else value


class IpAddress(Validator):
    """An IPv4 or IPv6 address, as a string."""

    def __call__(self, value: Any) -> Any:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise Invalid(f"must be an IP address, got {value!r}") from None
        if not isinstance(value, str):
            raise Invalid(f"must be an IP address string, got {value!r}")
        return value


class IpNetwork(Validator):
    """An IP network in CIDR notation (``10.0.0.0/8``), as a string."""

    def __call__(self, value: Any) -> Any:
        try:
            ipaddress.ip_network(value)
        except (ValueError, TypeError):
            raise Invalid(f"must be an IP network such as '10.0.0.0/8', got {value!r}") from None
        return str(value)


# -- types and collections ------------------------------------------------------------


class InstanceOf(Validator):
    """An instance of one of ``classes``; the error shows the value's type only (it may be a secret)."""

    def __init__(self, *classes: type) -> None:
        self.classes = classes

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, self.classes) or (isinstance(value, bool) and bool not in self.classes):
            names = [cls.__name__ for cls in self.classes]
            spelled = _article(names[0]) if len(names) == 1 else f"{_article(names[0])} or {' or '.join(names[1:])}"
            raise Invalid(f"must be {spelled}, got {type(value).__name__}")
        return value


class Strings(Validator):
    """A sequence of strings (not one string), kept as a tuple; ``non_empty``: no empty item."""

    def __init__(self, *, non_empty: bool = False) -> None:
        self.non_empty = non_empty

    def __call__(self, value: Any) -> Any:
        if (
            isinstance(value, (str, bytes, Mapping))
            or not isinstance(value, Iterable)
            or not all(isinstance(item, str) and (item or not self.non_empty) for item in value)
        ):
            raise Invalid(f"must be a tuple of strings, got {value!r}")
        return value if isinstance(value, tuple) else tuple(value)


class Each(Validator):
    """A sequence (not a string) whose items each pass ``validators``; kept as a tuple.

    ``of`` says what the items are in the error (``must be a list of names``).
    """

    def __init__(self, *validators: Validator, of: str = "") -> None:
        self.validators = validators
        self.of = of

    def __call__(self, value: Any) -> Any:
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            raise Invalid(f"must be a list{f' of {self.of}' if self.of else ''}, got {value!r}")
        items = tuple(value)
        checked = tuple(_each(self.validators, item, f"[{index}]") for index, item in enumerate(items))
        same = isinstance(value, tuple) and all(new is old for new, old in zip(checked, items))
        return value if same else checked


class Keys(Validator):
    """A mapping whose keys each pass ``validators`` (kept as given)."""

    def __init__(self, *validators: Validator) -> None:
        self.validators = validators

    def __call__(self, value: Any) -> Any:
        for key in _mapping(value):
            _each(self.validators, key, "key")
        return value


class Values(Validator):
    """A mapping whose values each pass ``validators`` (kept as given)."""

    def __init__(self, *validators: Validator) -> None:
        self.validators = validators

    def __call__(self, value: Any) -> Any:
        for key, item in _mapping(value).items():
            _each(self.validators, item, f"[{key!r}]")
        return value


def _mapping(value: object) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise Invalid(f"must be a mapping, got {value!r}")
    return value


def _each(validators: tuple[Validator, ...], item: object, where: str) -> object:
    if isinstance(item, Deferred):
        return item
    try:
        for validator in validators:
            item = validator(item)
    except Invalid as invalid:
        raise Invalid(_joined(where, invalid.reason)) from None
    return item
