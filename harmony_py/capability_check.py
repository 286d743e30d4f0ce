"""The run-time half of the capability rule mypy enforces statically.

``isinstance(x, SomeProtocol)`` only checks that names exist, runs property
getters, and is fooled by higher-order topologies whose methods exist for
every sub-topology. So the check walks the protocol's members itself, with
``inspect.getattr_static``, and lets higher-order topologies delegate.
"""

from __future__ import annotations

import inspect
from typing import Protocol, runtime_checkable

from typing_extensions import get_protocol_members


@runtime_checkable
class DelegatesCapabilities(Protocol):
    """A higher-order topology that answers the check from its sub-topologies."""

    def capability_gaps(self, capability: type) -> list[str]:
        """What prevents providing ``capability``; empty when it is provided."""
        ...


def capability_name(capability: object) -> str:
    return getattr(capability, "__name__", repr(capability))


def capability_gaps(topology: object, capability: object) -> list[str]:
    """Each reason ``topology`` cannot provide ``capability``; empty when it can."""
    if not isinstance(capability, type):
        return [f"{capability!r} is not a capability class"]
    hook = inspect.getattr_static(topology, "capability_gaps", None)
    if hook is not None:
        gaps: list[str] = topology.capability_gaps(capability)  # type: ignore[attr-defined]
        return gaps
    return member_gaps(topology, capability)


def member_gaps(obj: object, capability: type) -> list[str]:
    """What ``obj`` lacks of ``capability``: one entry per capability it is made of, named first.

    ``LoadBalancer (missing balance, balanced_service)`` for a member that is
    absent, ``K8sClient (k8s_apply must be async def)`` for one that is not
    ``async``. A combined capability (``DockerWithLoadBalancer``) is answered
    per part, so the entry names the concept that is missing, not only methods.
    """
    try:
        members = sorted(get_protocol_members(capability))
    except TypeError:
        return [f"{capability_name(capability)} is not a Protocol"]
    missing: dict[type, list[str]] = {}
    not_async: dict[type, list[str]] = {}
    for member in members:
        owner = declaring_capability(capability, member)
        try:
            found = inspect.getattr_static(obj, member)
        except AttributeError:
            missing.setdefault(owner, []).append(member)
            continue
        wanted = inspect.getattr_static(capability, member)
        if _is_async(wanted) and not _is_async(found):
            not_async.setdefault(owner, []).append(member)
    gaps: list[str] = []
    for part in reversed(_protocols_of(capability)):  # the most basic concept first
        problems = []
        if part in missing:
            problems.append(f"missing {', '.join(missing[part])}")
        problems += [f"{member} must be async def" for member in not_async.get(part, [])]
        if problems:
            gaps.append(f"{capability_name(part)} ({'; '.join(problems)})")
    return gaps


def declaring_capability(capability: type, member: str) -> type:
    """The narrowest capability among ``capability`` and its bases that has ``member``."""
    having = [part for part in _protocols_of(capability) if member in get_protocol_members(part)]
    return min(having, key=lambda part: len(get_protocol_members(part)), default=capability)


def _protocols_of(capability: type) -> list[type]:
    """``capability`` and the capability Protocols it extends, in method resolution order."""
    return [
        part
        for part in capability.__mro__
        if getattr(part, "_is_protocol", False) and part is not Protocol and part.__module__ != "typing"
    ]


def _is_async(member: object) -> bool:
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    return inspect.iscoroutinefunction(member)


def describe_gap(score_name: str, capability: object, topology_name: str, gaps: list[str]) -> str:
    return (
        f"Score {score_name} requires capability {capability_name(capability)}, "
        f"but topology {topology_name} does not provide it: {', '.join(gaps)}"
    )
