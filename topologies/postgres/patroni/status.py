"""The cluster as Patroni sees it, in the capability's terms (``ClusterStatus``).

Each member is asked for its own view (``GET /patroni``: its PostgreSQL's
role, WAL positions and ``pg_stat_replication``) and one answering member for
the DCS view (``GET /cluster``: the leader, the synchronous standby, pending
restarts). A replica's upstream is what the primary's ``pg_stat_replication``
shows, not what the replica believes; a member whose REST API does not
answer is UNREACHABLE with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import anyio

from capabilities.postgresql import ClusterStatus, MemberStatus, ReplicationRole, ReplicationState, StandbyInfo

from harmony_py.values import Secret

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
class EtcdEndpoint:
    """One etcd member's client URL, named for the host it runs on (``primary``, ``witness``)."""

    label: str
    url: str


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
    dcs: tuple[EtcdEndpoint, ...] = ()
    """Every etcd member this member's Patroni uses (the witness's included); empty: not probed."""
    etcdctl: str = "etcdctl"
    etcd_user: Secret | None = None
    """``name:password`` of an etcd user (with authentication on, an anonymous read counts as unhealthy)."""

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
    etcd: dict[str, str | None] | None = None
    """Per etcd member label: None when it serves a linearizable read (it is in a quorum), else why not;
    None when not probed. A member's Patroni may still read stale data from an etcd member that lost its
    quorum, so ``GET /cluster`` answering says nothing about the quorum; this does."""

    @property
    def quorum(self) -> bool:
        """Whether the DCS can elect and renew a leader: some etcd member serves linearizable reads
        (when not probed, whether ``GET /cluster`` answered)."""
        if self.etcd is None:
            return self.dcs is not None
        return any(problem is None for problem in self.etcd.values())

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


async def observe(members: Sequence[RestMember], *, etcd: bool = True) -> EngineView:
    """Every member's own view, concurrently, then the DCS view from the first member that gives it,
    and (``etcd``) each etcd member's health; loops that wait for a member skip the latter."""
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
    answering = [m for m in members if isinstance(own.get(m.label), dict)]
    health = await etcd_health(answering or list(members)) if etcd else None
    problems: list[str] = []
    for member in answering:
        try:
            with anyio.fail_after(STATUS_TIMEOUT_S):
                return EngineView(own, await member.rest.cluster(), etcd=health)
        except Exception as exc:  # noqa: BLE001 - the DCS view is asked of the next member
            problems.append(f"{member.label}: {_reason(exc)}")
    return EngineView(own, None, "; ".join(problems) or "no member's Patroni answers", etcd=health)


ETCD_TIMEOUT_S = 3
"""How long one etcd member may take to serve a linearizable read (it waits for its quorum)."""


async def etcd_health(members: Sequence[RestMember]) -> dict[str, str | None] | None:
    """Each etcd member's health (``etcdctl endpoint health``: a linearizable read), asked on the first
    database member's host that can run it; None when no member names its etcd members."""
    for member in members:
        if not member.dcs:
            continue
        argv = [
            member.etcdctl, f"--endpoints={','.join(e.url for e in member.dcs)}", "--dial-timeout=2s",
            f"--command-timeout={ETCD_TIMEOUT_S}s", "endpoint", "health", "-w", "json",
        ]  # fmt: skip
        stdin = None
        if member.etcd_user is not None:
            # The user reaches etcdctl's own variable from stdin, never an argument ``ps`` shows.
            argv = ["sh", "-c", 'IFS= read -r ETCDCTL_USER && export ETCDCTL_USER && exec "$0" "$@"', *argv]
            stdin = (member.etcd_user.reveal() + "\n").encode()
        try:
            result = await member.rest.runner.run(
                argv, stdin=stdin, env={"ETCDCTL_API": "3"}, timeout_s=ETCD_TIMEOUT_S + 10
            )
            found = json.loads(result.stdout_text or "null")
        except Exception:  # noqa: BLE001 - this host cannot ask; the next one may
            continue
        if not isinstance(found, list):
            continue
        by_url = {str(e.get("endpoint")): e for e in found if isinstance(e, dict)}
        health: dict[str, str | None] = {}
        for endpoint in member.dcs:
            seen = by_url.get(endpoint.url, {})
            health[endpoint.label] = None if seen.get("health") is True else str(seen.get("error") or "no answer")
        return health
    return None


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
    if view.etcd is not None and not view.quorum:
        notes.append(
            "etcd has no quorum (" + "; ".join(f"{k}: {v}" for k, v in view.etcd.items())
            + "): the engine elects no leader, and a leader stops taking writes"
        )
    elif view.etcd is not None and any(view.etcd.values()):
        healthy = sum(1 for v in view.etcd.values() if v is None)
        lost = "; ".join(f"{k}: {v}" for k, v in view.etcd.items() if v is not None)
        notes.append(f"etcd: {healthy} of {len(view.etcd)} members in the quorum (lost: {lost})")
    if view.dcs is None:
        notes.append(f"the DCS (etcd) view could not be read: {view.dcs_problem}")
    else:
        leader = view.leader
        label = next((m.label for m in members if m.name == leader), leader)
        stale = "" if view.quorum else " (a stale read: etcd has no quorum)"
        notes.append((f"leader key: {label}" if leader else "leader key: none (no member may take writes)") + stale)
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
