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
    """Members of ``capability`` missing from ``obj``, or present but not ``async``."""
    try:
        members = sorted(get_protocol_members(capability))
    except TypeError:
        return [f"{capability_name(capability)} is not a Protocol"]
    gaps: list[str] = []
    for member in members:
        try:
            found = inspect.getattr_static(obj, member)
        except AttributeError:
            gaps.append(f"missing {member}")
            continue
        wanted = inspect.getattr_static(capability, member)
        if _is_async(wanted) and not _is_async(found):
            gaps.append(f"{member} must be async def")
    return gaps


def _is_async(member: object) -> bool:
    if isinstance(member, (staticmethod, classmethod)):
        member = member.__func__
    return inspect.iscoroutinefunction(member)


def describe_gap(score_name: str, capability: object, topology_name: str, gaps: list[str]) -> str:
    return (
        f"Score {score_name} requires capability {capability_name(capability)}, "
        f"but topology {topology_name} does not provide it: {', '.join(gaps)}"
    )
