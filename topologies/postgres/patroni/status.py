"""The cluster as Patroni sees it, in the capability's terms (``ClusterStatus``).

Each member is asked for its own view (``GET /patroni``: its PostgreSQL's
role, WAL positions and ``pg_stat_replication``) and one answering member for
the DCS view (``GET /cluster``: the leader, the synchronous standby, pending
restarts). A replica's upstream is what the primary's ``pg_stat_replication``
shows, not what the replica believes; a member whose REST API does not
answer is UNREACHABLE with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from capabilities.postgresql import ClusterStatus, MemberStatus, ReplicationRole, ReplicationState, StandbyInfo

from .rest import PatroniRest

STATUS_TIMEOUT_S = 15.0


class MemberSql(Protocol):
    """SQL on one member's PostgreSQL (as the superuser, over its local socket)."""

    async def sql(self, text: str, *, what: str = ..., database: str = ...) -> str:
        """The unaligned output of ``text``; raises, naming the member and ``what``, on failure."""
        ...

    async def probe_write(self, timeout_s: float) -> None:
        """Commit one transaction that writes WAL; raises unless acknowledged within ``timeout_s``."""
        ...


@dataclass(frozen=True)
class RestMember:
    """One database member as the engine operations address it."""

    label: str
    """The topology's label (``primary``, ``replica``, ``site[1]``)."""
    name: str
    """Patroni's member name: its ``application_name`` in ``synchronous_standby_names``."""
    address: str
    """``host:port`` of its PostgreSQL, as clients and replicas reach it."""
    rest: PatroniRest
    server: MemberSql

    @property
    def where(self) -> str:
        return f"{self.label} ({self.address})"


@dataclass(frozen=True)
class EngineView:
    """What one observation of the cluster found: each member's own view, and the DCS's."""

    own: dict[str, dict[str, Any] | str]
    """Per member label: ``GET /patroni``'s answer, or why none came (a str)."""
    dcs: dict[str, Any] | None
    """``GET /cluster`` from the first member that answered it, or None."""
    dcs_problem: str | None = None

    def dcs_member(self, name: str) -> dict[str, Any]:
        for found in (self.dcs or {}).get("members", []):
            if isinstance(found, dict) and found.get("name") == name:
                return found
        return {}

    @property
    def leader(self) -> str | None:
        """The member holding the leader key (Patroni's name), per the DCS."""
        for found in (self.dcs or {}).get("members", []):
            if isinstance(found, dict) and found.get("role") in ("leader", "standby_leader"):
                return str(found.get("name"))
        return None

    @property
    def sync_standbys(self) -> tuple[str, ...]:
        """The members the DCS lists as synchronous standbys (Patroni's names)."""
        return tuple(
            str(found.get("name")) for found in (self.dcs or {}).get("members", [])
            if isinstance(found, dict) and found.get("role") in ("sync_standby", "quorum_standby")
        )  # fmt: skip


async def observe(members: Sequence[RestMember]) -> EngineView:
    """Every member's own view, concurrently, then the DCS view from the first member that gives it."""
    own: dict[str, dict[str, Any] | str] = {}

    async def ask(member: RestMember) -> None:
        try:
            with anyio.fail_after(STATUS_TIMEOUT_S):
                own[member.label] = await member.rest.patroni()
        except TimeoutError:
            own[member.label] = f"no answer within {STATUS_TIMEOUT_S:g} s"
        except Exception as exc:  # noqa: BLE001 - a member that does not answer is a state, not a crash
            own[member.label] = _reason(exc)

    async with anyio.create_task_group() as group:
        for member in members:
            group.start_soon(ask, member)
    problems: list[str] = []
    for member in members:
        if not isinstance(own.get(member.label), dict):
            continue
        try:
            with anyio.fail_after(STATUS_TIMEOUT_S):
                return EngineView(own, await member.rest.cluster())
        except Exception as exc:  # noqa: BLE001 - the DCS view is asked of the next member
            problems.append(f"{member.label}: {_reason(exc)}")
    return EngineView(own, None, "; ".join(problems) or "no member's Patroni answers")


def _reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def format_lsn(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def cluster_status(members: Sequence[RestMember], view: EngineView) -> ClusterStatus:
    """The members' states and the cluster-wide notes, from one observation."""
    by_name = {member.name: member for member in members}
    streaming_from: dict[str, str] = {}
    for member in members:
        own = view.own.get(member.label)
        if isinstance(own, dict) and own.get("role") == "primary":
            for standby in own.get("replication") or []:
                if isinstance(standby, dict) and standby.get("state") == "streaming":
                    streaming_from[str(standby.get("application_name"))] = member.address
    states = tuple(
        MemberStatus(member.label, member.address, _member_state(member, view, streaming_from, by_name))
        for member in members
    )
    return ClusterStatus(states, _notes(members, view, states))


def _member_state(
    member: RestMember, view: EngineView, streaming_from: dict[str, str], by_name: dict[str, RestMember]
) -> ReplicationState:
    own = view.own.get(member.label)
    if not isinstance(own, dict):
        return ReplicationState(ReplicationRole.UNREACHABLE, problem=f"Patroni does not answer: {own}")
    dcs = view.dcs_member(member.name)
    pending = bool(own.get("pending_restart") or dcs.get("pending_restart"))
    state = str(own.get("state", ""))
    role = own.get("role")
    timeline = _int(own.get("timeline")) or _int(dcs.get("timeline"))
    if state != "running" or role not in ("primary", "replica"):
        kind = ReplicationRole.ABSENT if role == "uninitialized" else ReplicationRole.STOPPED
        return ReplicationState(kind, pending_restart=pending, problem=f"Patroni: PostgreSQL {state or 'unknown'}")
    xlog = own.get("xlog") if isinstance(own.get("xlog"), dict) else {}
    assert isinstance(xlog, dict)
    if role == "primary":
        standbys = tuple(
            StandbyInfo(
                str(s.get("application_name")), str(s.get("state")), str(s.get("sync_state")),
                _int(view.dcs_member(str(s.get("application_name"))).get("replay_lag")),
            )
            for s in own.get("replication") or [] if isinstance(s, dict)
        )  # fmt: skip
        location = _int(xlog.get("location"))
        # Only the leader waits for synchronous standbys; the DCS names them.
        sync = view.sync_standbys if view.leader == member.name else ()
        return ReplicationState(
            ReplicationRole.PRIMARY, sync_standbys=tuple(n for n in sync if n in by_name), standbys=standbys,
            lsn=format_lsn(location) if location is not None else None, timeline=timeline, pending_restart=pending,
        )  # fmt: skip
    received, replayed = _int(xlog.get("received_location")), _int(xlog.get("replayed_location"))
    lag = received - replayed if received is not None and replayed is not None else None
    return ReplicationState(
        ReplicationRole.REPLICA, upstream=streaming_from.get(member.name), replay_lag_bytes=lag,
        lsn=format_lsn(replayed) if replayed is not None else None, timeline=timeline, pending_restart=pending,
    )  # fmt: skip


def _notes(members: Sequence[RestMember], view: EngineView, states: tuple[MemberStatus, ...]) -> tuple[str, ...]:
    notes: list[str] = []
    if view.dcs is None:
        notes.append(f"the DCS (etcd) view could not be read: {view.dcs_problem}")
    else:
        leader = view.leader
        label = next((m.label for m in members if m.name == leader), leader)
        notes.append(f"leader key: {label}" if leader else "leader key: none (no member may take writes)")
    primaries = [s for s in states if s.state.role is ReplicationRole.PRIMARY]
    if len(primaries) == 1 and len(members) > 1 and not primaries[0].state.sync_standbys:
        notes.append(
            f"no synchronous standby: a commit acknowledged by {primaries[0].label} is on that member only "
            "until a replica streams again"
        )
    for found in (view.own.get(m.label) for m in members):
        if isinstance(found, dict) and found.get("failsafe_mode_is_active"):
            notes.append("failsafe mode is active: the DCS is not reachable")
            break
    return tuple(notes)
