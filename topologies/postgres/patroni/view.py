"""The engine's view of the cluster: Patroni's ``GET /cluster``, asked on a member's own host.

The request runs as ``curl`` through the member's runner, so it works the same
over SSH. ``/cluster`` needs no authentication (it changes nothing).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .layout import Participant

ASK_S = 5.0


@dataclass(frozen=True)
class EngineMember:
    """One member as Patroni reports it."""

    name: str
    role: str
    """``leader``, ``sync_standby``, ``quorum_standby``, ``replica`` or ``standby_leader``."""
    state: str
    """``running``, ``streaming``, ``starting``, ``stopped``, ``crashed`` ..."""
    host: str
    port: int
    timeline: int | None
    lag: int | None


@dataclass(frozen=True)
class EngineView:
    members: tuple[EngineMember, ...]

    @property
    def leader(self) -> EngineMember | None:
        for member in self.members:
            if member.role == "leader" and member.state == "running":
                return member
        return None

    def member(self, name: str) -> EngineMember | None:
        for member in self.members:
            if member.name == name:
                return member
        return None

    def healthy(self, names: Sequence[str]) -> bool:
        """A running leader; every other of ``names`` streaming from it; one of them its synchronous standby."""
        leader = self.leader
        if leader is None:
            return False
        others = [self.member(name) for name in names if name != leader.name]
        if not others:
            return True
        streaming = all(m is not None and m.state == "streaming" for m in others)
        synchronous = any(m is not None and m.role in ("sync_standby", "quorum_standby") for m in others)
        return streaming and synchronous

    def summary(self) -> str:
        return "; ".join(f"{m.name}: {m.role} {m.state}" for m in self.members) or "no member registered"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def parse_cluster(found: Any) -> EngineView:
    members = tuple(
        EngineMember(
            str(m.get("name")), str(m.get("role")), str(m.get("state")), str(m.get("host")),
            int(m.get("port") or 0), _int(m.get("timeline")), _int(m.get("lag")),
        )  # fmt: skip
        for m in found.get("members", [])
    )
    return EngineView(members)


async def ask(member: Participant, path: str) -> Any | None:
    """``GET path`` of ``member``'s REST API (JSON), or None when it does not answer."""
    result = await member.runner.run(
        ["curl", "-s", "-f", "-m", str(int(ASK_S)), f"{member.rest_url}{path}"], timeout_s=ASK_S + 5
    )
    if not result.ok:
        return None
    try:
        return json.loads(result.stdout_text)
    except ValueError:
        return None


async def cluster_view(members: Sequence[Participant]) -> EngineView | None:
    """The cluster as the first member whose Patroni answers sees it; None when none answers."""
    for member in members:
        found = await ask(member, "/cluster")
        if isinstance(found, dict):
            return parse_cluster(found)
    return None
