"""What every topology is, whatever capabilities it offers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class TopologyReport:
    """What ``ensure_ready`` found: facts scores may adapt to (e.g. the OS)."""

    name: str
    facts: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Topology(Protocol):
    """A place scores run. Capabilities are separate Protocols it may also satisfy."""

    @property
    def name(self) -> str:
        """A short human name, shown in plans and errors."""
        ...

    async def ensure_ready(self) -> TopologyReport:
        """Prepare and validate the target before any score runs.

        Raises :class:`harmony_py.TopologyNotReadyError` with a readable
        message when the target cannot be used.
        """
        ...


async def close_topology(topology: object) -> None:
    """Call the topology's ``aclose()`` if it has one (those holding connections do)."""
    close = getattr(topology, "aclose", None)
    if callable(close):
        await close()
