"""Kubernetes manifests as plain data: parsed from YAML, checked, compared and shown in plans.

Everything here is pure: checks run when a score is built, before anything is
sent, and every bad object is reported at once with its position and name.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

from harmony_py.errors import ManifestError
from harmony_py.validation import Matches

ManifestSource = str | Mapping[str, Any] | Sequence[str | Mapping[str, Any]]
"""What scores accept: YAML text (many documents), one manifest, or a list of either."""

SERVER_METADATA = frozenset(
    {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink", "deletionGracePeriodSeconds"}
)
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HIDDEN = "(hidden)"
_HIDDEN_CHANGED = "(hidden, changed)"


def parse_manifests(source: ManifestSource) -> tuple[dict[str, Any], ...]:
    """Every object in ``source``, as plain dicts, or :class:`ManifestError` naming each bad one."""
    problems: list[str] = []
    objects: list[dict[str, Any]] = []
    items: Sequence[str | Mapping[str, Any]] = [source] if isinstance(source, (str, Mapping)) else source
    if not isinstance(items, Sequence):
        raise ManifestError([f"manifests must be YAML text, a mapping or a list of them, got {type(source).__name__}"])
    for item in items:
        if isinstance(item, str):
            objects.extend(_load_yaml(item, len(objects), problems))
        elif isinstance(item, Mapping):
            objects.extend(_expand_list(_plain(item)))
        else:
            problems.append(f"manifest {len(objects) + 1}: expected a mapping or YAML text, got {type(item).__name__}")
    seen: dict[tuple[str, str, str | None, str], int] = {}
    for index, obj in enumerate(objects, start=1):
        found = check_manifest(obj)
        label = f"manifest {index} ({identify(obj)})"
        problems.extend(f"{label}: {problem}" for problem in found)
        if not found:
            key = (obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
            if key in seen:
                problems.append(f"{label}: the same object as manifest {seen[key]}")
            seen.setdefault(key, index)
    if problems:
        raise ManifestError(problems)
    if not objects:
        raise ManifestError(["no manifests given"])
    return tuple(objects)


def check_manifest(obj: Mapping[str, Any]) -> list[str]:
    """What makes ``obj`` unusable as a Kubernetes object; empty when it is fine."""
    problems: list[str] = []
    for key in ("apiVersion", "kind"):
        value = obj.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"missing {key}" if value is None else f"{key} must be a non-empty string, got {value!r}")
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        problems.append("missing metadata" if metadata is None else "metadata must be a mapping")
        return problems
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        problems.append("missing metadata.name" if name is None else f"metadata.name must be a non-empty string, got {name!r}")
    namespace = metadata.get("namespace")
    if namespace is not None and (not isinstance(namespace, str) or not _DNS_LABEL.match(namespace)):
        problems.append(f"metadata.namespace must be a DNS label (lowercase letters, digits, '-'), got {namespace!r}")
    for field in ("labels", "annotations"):
        value = metadata.get(field)
        if value is not None and not (
            isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            problems.append(f"metadata.{field} must map strings to strings")
    return problems


def identify(obj: Mapping[str, Any]) -> str:
    """``Deployment shop/web``: an object as plans name it."""
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    assert isinstance(metadata, Mapping)
    name = metadata.get("name") or "?"
    namespace = metadata.get("namespace")
    return f"{obj.get('kind') or '?'} {namespace}/{name}" if namespace else f"{obj.get('kind') or '?'} {name}"


LABEL_VALUE = Matches(
    r"(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?",
    "a label value (letters, digits, '-', '_', '.', at most 63, starting and ending with a letter or digit)",
)
"""The value of a Kubernetes label, as a field validator."""


def comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an object a user's apply decides: no status, no server bookkeeping."""
    result = {key: copy.deepcopy(value) for key, value in obj.items() if key != "status"}
    metadata = {key: value for key, value in dict(obj.get("metadata") or {}).items() if key not in SERVER_METADATA}
    result["metadata"] = metadata
    return result


def owned_fields(live: Mapping[str, Any], field_manager: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ``fieldsV1`` tree ``field_manager`` owns by apply in ``live``, and every other manager's tree.

    What we applied before is what we own: a field in our tree that the new
    manifest no longer sets is one that server-side apply will remove (unless
    another manager owns it too).
    """
    ours: dict[str, Any] = {}
    others: list[dict[str, Any]] = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        fields = entry.get("fieldsV1")
        if not isinstance(fields, Mapping):
            continue
        if entry.get("manager") == field_manager and entry.get("operation") == "Apply":
            ours = dict(fields)
        else:
            others.append(dict(fields))
    return ours, others


def applied_as_declared(live: Mapping[str, Any], manifest: Mapping[str, Any], field_manager: str) -> bool:
    """Whether a server-side apply of ``manifest`` by ``field_manager`` would leave ``live`` as it is.

    True only when that is certain from the object alone: every field the
    manifest sets is in ``live`` with the same value (same JSON type too), and
    every field ``field_manager`` owns by apply (its ``managedFields`` entry) is
    still in the manifest, so the apply would remove nothing either. Whatever
    this cannot tell (a value the server may have normalized, such as
    ``cpu: 0.5`` read back as ``500m``; a ``null``; a list whose items it cannot
    match to what the manager owns; an object served without ``managedFields``)
    is False: the caller then asks the server with a dry run. Fields only
    another manager owns do not matter: an apply that sets them to the value
    they already have changes nothing in the object.
    """
    if "status" in manifest:
        return False  # the main resource ignores it; let the server say what applies
    entries = (live.get("metadata") or {}).get("managedFields")
    if not isinstance(entries, list):
        return False
    ours = [
        entry
        for entry in entries
        if _is_map(entry)
        and entry.get("manager") == field_manager
        and entry.get("operation") == "Apply"
        and not entry.get("subresource")
    ]
    if len(ours) > 1:
        return False  # a server that splits one manager's fields: let it merge them
    owned = ours[0].get("fieldsV1") if ours else {}
    if not _is_map(owned):
        return False
    return _holds(live, manifest, owned) and _keeps(manifest, owned)


def _holds(live: Any, wanted: Any, owned: Any) -> bool:
    """``live`` has every field of ``wanted`` with the same value (``owned``: this manager's fieldsV1 there)."""
    if _is_map(wanted):
        if not _is_map(live):
            return False
        below = owned if _is_map(owned) else {}
        return all(
            value is not None and key in live and _holds(live[key], value, below.get(f"f:{key}"))
            for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        if not isinstance(live, list) or len(live) != len(wanted):
            return False
        if not _has_items(owned):
            # An atomic list (or one this manager does not own yet): the apply replaces it whole.
            return _same(live, wanted)
        # An associative list: each item is merged into the item the server has at that place.
        return all(_holds(have, want, None) if _is_map(want) else _same(have, want) for have, want in zip(live, wanted))
    return _same(live, wanted)


def _keeps(wanted: Any, owned: Mapping[str, Any]) -> bool:
    """Every field in ``owned`` (a fieldsV1 tree) is still set by ``wanted``: the apply removes none."""
    for marker, below in owned.items():
        if marker == ".":
            continue
        if not marker.startswith("f:") or not _is_map(wanted) or marker[2:] not in wanted:
            return False
        value = wanted[marker[2:]]
        if not _is_map(below) or not below:
            continue
        if isinstance(value, list):
            if not _keeps_items(value, below):
                return False
        elif not _keeps(value, below):
            return False
    return True


def _keeps_items(items: list[Any], owned: Mapping[str, Any]) -> bool:
    """Every list item in ``owned`` (``k:{key fields}`` or ``v:value``) is still in ``items``."""
    import json

    for marker, below in owned.items():
        if marker == ".":
            continue
        try:
            key = json.loads(marker[2:])
        except ValueError:
            return False
        if marker.startswith("v:"):
            if not any(_same(item, key) for item in items):
                return False
        elif marker.startswith("k:") and _is_map(key):
            matches = [item for item in items if _is_map(item) and all(_same(item.get(k), v) for k, v in key.items())]
            if len(matches) != 1 or (_is_map(below) and not _keeps(matches[0], below)):
                return False
        else:
            return False  # "i:<index>" and anything newer: not decidable here
    return True


def _has_items(owned: Any) -> bool:
    return _is_map(owned) and any(marker.startswith(("k:", "v:")) for marker in owned)


def _is_map(value: object) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, quick for the dicts JSON and YAML give (the ABC check is not)."""
    return type(value) is dict or isinstance(value, Mapping)


def _same(live: Any, wanted: Any) -> bool:
    """Equal as JSON values: ``1`` is not ``True`` nor ``1.0``."""
    if _is_map(wanted):
        return _is_map(live) and live.keys() == wanted.keys() and all(_same(live[k], v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(live, list) and len(live) == len(wanted) and all(_same(a, b) for a, b in zip(live, wanted))
    return type(live) is type(wanted) and live == wanted


def without_dropped(
    live: Mapping[str, Any], owned: Mapping[str, Any], desired: Any, others: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """``live`` less the map fields in ``owned`` that ``desired`` no longer sets and nobody else owns.

    Lists are left alone: :func:`merged` replaces a list the manifest sets as a whole.
    """
    result = copy.deepcopy(dict(live))
    for marker, below in owned.items():
        if not marker.startswith("f:") or marker[2:] not in result:
            continue
        key = marker[2:]
        shared = [other[marker] for other in others if isinstance(other.get(marker), Mapping)]
        if not isinstance(desired, Mapping) or key not in desired:
            if not shared:
                del result[key]
        elif isinstance(below, Mapping) and isinstance(result[key], Mapping) and isinstance(desired[key], Mapping):
            result[key] = without_dropped(result[key], below, desired[key], shared)
    return result


def merged(live: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """What ``live`` becomes with ``desired``'s fields set, for a plan without a server-side dry run."""
    result = copy.deepcopy(dict(live))
    for key, value in desired.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def field_changes(before: Any, after: Any, path: str = "") -> list[str]:
    """``spec.replicas: 2 -> 3`` for each leaf that differs."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        changes: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in after:
                changes.append(f"{where}: removed")
            elif key not in before:
                changes.append(f"{where}: added")
            else:
                changes.extend(field_changes(before[key], after[key], where))
        return changes
    if before != after:
        return [f"{path}: {_short(before)} -> {_short(after)}"]
    return []


def masked(obj: Mapping[str, Any], before: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``obj`` safe to show: a Secret's values are hidden.

    Given ``before`` (the object ``obj`` replaces), values that differ from it
    read ``(hidden, changed)``, so a plan still shows which keys change.
    The result shares its nested values with ``obj``: callers only read it.
    """
    result = dict(obj)
    if obj.get("kind") != "Secret":
        return result
    for field in ("data", "stringData"):
        values = result.get(field)
        if isinstance(values, Mapping):
            old = (before or {}).get(field) or {}
            result[field] = {
                key: _HIDDEN if before is None or key not in old or old.get(key) == value else _HIDDEN_CHANGED
                for key, value in values.items()
            }
    return result


def to_yaml(obj: Mapping[str, Any]) -> str:
    import yaml

    # libyaml's emitter when PyYAML has it: the same text, about 4x less CPU (a plan of
    # 200 new objects shows 200 of these).
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text: str = yaml.dump(dict(obj), Dumper=dumper, sort_keys=True, default_flow_style=False)
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _load_yaml(text: str, offset: int, problems: list[str]) -> list[dict[str, Any]]:
    import yaml

    from .k8s_yaml import ManifestYamlError, load_documents

    try:
        documents = list(load_documents(text))
    except ManifestYamlError as exc:
        problems.append(f"YAML after manifest {offset}: {exc}")
        return []
    except RecursionError:  # PyYAML's pure-Python parser composes nested collections recursively
        problems.append(f"YAML after manifest {offset}: nested too deeply")
        return []
    except yaml.YAMLError as exc:
        problems.append(f"YAML after manifest {offset}: invalid YAML: {exc}".replace("\n", " "))
        return []
    found: list[dict[str, Any]] = []
    for document in documents:
        if document is None:
            continue  # an empty document between '---' lines
        if not isinstance(document, Mapping):
            problems.append(f"manifest {offset + len(found) + 1}: a YAML document must be a mapping, got {type(document).__name__}")
            continue
        found.extend(_expand_list(_plain(document)))
    return found


def _expand_list(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """``kind: List`` (as ``kubectl get -o yaml`` writes) stands for its items."""
    if obj.get("kind") == "List" and isinstance(obj.get("items"), list):
        return [item for item in obj["items"] if isinstance(item, dict)]
    return [obj]


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
