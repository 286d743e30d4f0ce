"""Finding the Refs a score holds, and replacing them by values.

Refs may sit anywhere in a score's dataclass fields: directly, or inside
tuples, lists, sets, dicts and other mappings, and nested dataclasses. Each is
reported with a readable path (``env[DATABASE_URL]``) for plans and errors.
Replacement rebuilds only the containers that hold a Ref, with their own type,
and dataclasses through ``dataclasses.replace`` so their validation runs again
on the concrete values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from .errors import ScoreValueError
from .outputs import Ref
from .score import keep_identity
from .values import Secret

_ATOMS = (str, bytes, int, float, complex, bool, type(None), Secret)


def find_refs(value: object, path: str = "") -> Iterator[tuple[str, Ref[object]]]:
    """Every Ref inside ``value``, with the path to it, in field order."""
    yield from _find(value, path, set())


def _find(value: object, path: str, seen: set[int]) -> Iterator[tuple[str, Ref[object]]]:
    if isinstance(value, Ref):
        yield path or "(value)", value
        return
    if _holds_no_ref(value):
        return
    if id(value) in seen:
        return
    seen.add(id(value))
    if dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            yield from _find(getattr(value, field.name, None), _join(path, field.name), seen)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _find(item, f"{path}[{key}]", seen)
    elif isinstance(value, (tuple, list, set, frozenset)):
        for index, item in enumerate(value):
            yield from _find(item, f"{path}[{index}]", seen)


def _holds_no_ref(value: object) -> bool:
    # A class is skipped because is_dataclass() is true for a dataclass type too; a callable
    # (a function, a bound method) has no fields a Ref could sit in.
    return isinstance(value, _ATOMS) or isinstance(value, type) or callable(value)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def substitute(value: Any, lookup: Callable[[Ref[object]], object]) -> Any:
    """``value`` with every Ref replaced by ``lookup(ref)``; unchanged parts are kept as they are."""
    if isinstance(value, Ref):
        return lookup(value)
    if _holds_no_ref(value):
        return value
    if dataclasses.is_dataclass(value):
        return _substitute_fields(value, lookup)
    if isinstance(value, Mapping):
        items = {key: substitute(item, lookup) for key, item in value.items()}
        if all(items[key] is item for key, item in value.items()):
            return value
        return _rebuild_mapping(value, items)
    if isinstance(value, (tuple, list, set, frozenset)):
        items_list = [substitute(item, lookup) for item in value]
        if all(new is old for new, old in zip(items_list, value)):
            return value
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            return type(value)(*items_list)  # a namedtuple
        return type(value)(items_list)
    return value


def _substitute_fields(value: Any, lookup: Callable[[Ref[object]], object]) -> Any:
    changed: dict[str, object] = {}
    for field in dataclasses.fields(value):
        old = getattr(value, field.name, None)
        new = substitute(old, lookup)
        if new is not old:
            if not field.init:
                raise ScoreValueError(
                    f"{type(value).__name__}.{field.name} holds a Ref but is not an __init__ field, so it cannot be resolved"
                )
            changed[field.name] = new
    if not changed:
        return value
    replaced = dataclasses.replace(value, **changed)
    keep_identity(value, replaced)
    return replaced


def _rebuild_mapping(original: Mapping[Any, Any], items: dict[Any, Any]) -> Mapping[Any, Any]:
    if isinstance(original, MappingProxyType):
        return MappingProxyType(items)
    if isinstance(original, dict):
        rebuilt = type(original)()
        rebuilt.update(items)
        return rebuilt
    try:
        return type(original)(items)  # type: ignore[call-arg]
    except TypeError:
        return items
