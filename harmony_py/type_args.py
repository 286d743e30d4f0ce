"""Reading, at run time, the type argument a class gives one of its generic bases.

``class PostgreSQLScore(Score[PostgreSQL], Produces[PgEndpoint])`` gives
``Produces`` the argument ``PgEndpoint``. A generic subclass passes its own
parameter on (``class Setting(Score[CommandRunner], Produces[V])``, then
``class IntSetting(Setting[int])``): the search follows the bases and
substitutes ``V`` by ``int`` on the way, so the answer is ``int``, not ``V``.
"""

from __future__ import annotations

import types
from typing import Any, TypeVar, Union, get_args, get_origin

from typing_extensions import get_original_bases


def type_argument(cls: type, generic: type, index: int = 0) -> object | None:
    """The ``index``-th argument ``cls`` gives ``generic`` among its bases, or None if it gives none.

    The answer is a TypeVar when ``cls`` itself is still generic in it.
    """
    return _search(cls, generic, index, {})


def _search(cls: type, generic: type, index: int, bindings: dict[object, object]) -> object | None:
    for base in get_original_bases(cls):
        origin: Any = get_origin(base) or base
        args = tuple(_bound(arg, bindings) for arg in get_args(base))
        if origin is generic:
            return args[index] if len(args) > index else None
        if isinstance(origin, type) and origin is not cls and issubclass(origin, generic):
            parameters = getattr(origin, "__parameters__", ())
            found = _search(origin, generic, index, dict(zip(parameters, args)))
            if found is not None:
                return found
    return None


def _bound(arg: object, bindings: dict[object, object]) -> object:
    if isinstance(arg, TypeVar):
        return bindings.get(arg, arg)
    return arg


def runtime_classes(annotation: object) -> tuple[type, ...] | None:
    """The classes a value of ``annotation`` is an instance of, for ``isinstance``; None when it cannot be said.

    ``PgEndpoint`` -> ``(PgEndpoint,)``, ``list[int]`` -> ``(list,)``,
    ``str | Secret`` -> ``(str, Secret)``; ``object``, ``Any``, a TypeVar, a
    string or a Protocol that is not ``runtime_checkable`` -> None (no check).
    """
    if annotation is object or annotation is Any or isinstance(annotation, (TypeVar, str)):
        return None
    origin = get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        parts = [runtime_classes(arg) for arg in get_args(annotation)]
        if any(part is None for part in parts):
            return None
        return tuple(cls for part in parts if part is not None for cls in part)
    if annotation is None or annotation is type(None):
        return (type(None),)
    target = origin if isinstance(origin, type) else annotation
    if not isinstance(target, type):
        return None
    if getattr(target, "_is_protocol", False) and not getattr(target, "_is_runtime_protocol", False):
        return None
    return (target,)


def agrees(produced: object, wanted: object) -> bool:
    """Whether a value declared ``produced`` is a ``wanted`` (classes by subclassing; unions member by member).

    What cannot be decided at run time (a TypeVar, a string, a Protocol) agrees:
    the check refuses only a mismatch it can prove.
    """
    if produced == wanted or _undecidable(produced) or _undecidable(wanted) or wanted is object:
        return True
    if is_union(produced):
        return all(agrees(part, wanted) for part in get_args(produced))
    if is_union(wanted):
        return any(agrees(produced, part) for part in get_args(wanted))
    produced_origin, wanted_origin = get_origin(produced) or produced, get_origin(wanted) or wanted
    if not (isinstance(produced_origin, type) and isinstance(wanted_origin, type)):
        return True
    if getattr(wanted_origin, "_is_protocol", False):
        return True
    if not issubclass(produced_origin, wanted_origin):
        return False
    produced_args, wanted_args = get_args(produced), get_args(wanted)
    if not produced_args or not wanted_args or len(produced_args) != len(wanted_args):
        return True
    return all(agrees(p, w) for p, w in zip(produced_args, wanted_args))


def _undecidable(annotation: object) -> bool:
    return annotation is Any or isinstance(annotation, (TypeVar, str))


def is_union(annotation: object) -> bool:
    """Whether ``annotation`` is ``A | B`` (or ``Union[A, B]``)."""
    origin = get_origin(annotation)
    return origin is Union or origin is types.UnionType
