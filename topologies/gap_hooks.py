"""Helpers for the ``capability_gaps`` hooks of topology mixins.

A mixin that knows of a run-time condition (an engine that must answer)
adds its gap to what the rest of the class says: the next ``capability_gaps``
in the MRO, or the structural check when no class further on has a hook.
"""

from __future__ import annotations

from harmony_py.capability_check import member_gaps


def inherited_gaps(parent: object, topology: object, capability: type) -> list[str]:
    """The gaps the rest of the MRO reports: call as ``inherited_gaps(super(), self, capability)``."""
    hook = getattr(parent, "capability_gaps", None)
    gaps: list[str] = hook(capability) if hook is not None else member_gaps(topology, capability)
    return gaps


def asks_for(capability: type, provided: type) -> bool:
    """Whether ``capability`` needs every member of ``provided`` (so ``provided``'s run-time condition matters)."""
    from typing_extensions import get_protocol_members

    try:
        return get_protocol_members(provided) <= get_protocol_members(capability)
    except TypeError:
        return False
