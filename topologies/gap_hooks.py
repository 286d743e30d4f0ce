"""What a topology's ``capability_gaps`` asks when it adds a run-time condition.

A topology whose service needs a run-time condition (an engine that must
answer) checks it only when the capability asked for needs that service.
"""

from __future__ import annotations


def asks_for(capability: type, provided: type) -> bool:
    """Whether ``capability`` needs every member of ``provided`` (so ``provided``'s run-time condition matters)."""
    from typing_extensions import get_protocol_members

    try:
        return get_protocol_members(provided) <= get_protocol_members(capability)
    except TypeError:
        return False


def asks_for_docker(capability: type) -> bool:
    """Whether ``capability`` needs the ``Docker`` accessor (so an engine must answer)."""
    from capabilities.docker import Docker

    return asks_for(capability, Docker)


def includes_runtime(capability: type) -> bool:
    """Whether ``capability`` asks for what ``ApplicationRuntime`` provides (so the runner must work)."""
    from capabilities.application import ApplicationRuntime

    return asks_for(capability, ApplicationRuntime)
