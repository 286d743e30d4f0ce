"""Status, switchover and failover of a Patroni cluster, asked of the engine and verified.

The engine decides who leads (the leader key in etcd); these operations ask
it through a member's REST API and then observe that what was promised
holds, the truth rule of the manual path: the new leader is the one primary,
every other running member streams from it, a synchronous standby is listed
when a replica streams, and a commit on the new leader is acknowledged.

A failover needs the DCS: Patroni promotes nobody without the leader key,
which is also what keeps a lost primary from coming back as one (adr/0085).
When etcd has lost its quorum (the witness and a database host down), the
failover is refused with what to do; it never promotes underneath the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio

from capabilities.errors import PostgreSQLError
from capabilities.postgresql import ClusterStatus, MemberStatus, ReplicationRole
from harmony_py.errors import ScoreValueError
from harmony_py.values import Change, ChangeAction, Secret

from .config import API_USER, ETCD_PATRONI_USER
from .etcd import ETCDCTL
from topologies.errors import PatroniRequestError

from .rest import SWITCHOVER_TIMEOUT_S, PatroniRest, RestAccess
from .status import EngineView, EtcdEndpoint, RestMember, cluster_status, observe

if TYPE_CHECKING:
    from .deploy import Engine  # deploy runs the settings step, which builds on these operations

VERIFY_TIMEOUT_S = 60.0
"""How long the members may take to settle after the engine changed the leader (a rejoin may rewind)."""
COMMIT_TIMEOUT_S = 30.0
"""How long the write probe on a new leader may wait for its synchronous standby."""


def rest_members(engine: Engine) -> tuple[RestMember, ...]:
    """The database members as the operations address them: REST API (credentials from the secret
    store), PostgreSQL through the manual path's primitives, and every etcd member (the witness's too)."""
    dcs = tuple(EtcdEndpoint(p.label, p.etcd_client_url) for p in engine.participants)
    etcd_user = Secret(f"{ETCD_PATRONI_USER}:{engine.credentials.etcd_patroni.reveal()}")
    return tuple(
        RestMember(
            member.label, member.name, f"{member.host}:{member.pg_port}",
            PatroniRest(member.runner, RestAccess(member.rest_url, API_USER, engine.credentials.rest_api), member.target),
            engine.server(member), dcs, ETCDCTL, etcd_user,
        )  # fmt: skip
        for member in engine.databases
    )


async def engine_status(members: Sequence[RestMember]) -> ClusterStatus:
    """Every member as Patroni and its PostgreSQL show it, with the cluster-wide notes."""
    return cluster_status(members, await observe(members))


def _by_label(members: Sequence[RestMember], label: str) -> RestMember:
    for member in members:
        if member.label == label:
            return member
    raise ScoreValueError(f"no member {label!r}; members are {', '.join(m.label for m in members)}")


def leader_of(members: Sequence[RestMember], view: EngineView) -> RestMember | None:
    """The member holding the leader key, per the DCS."""
    name = view.leader
    return next((m for m in members if m.name == name), None)


def _change(action: ChangeAction, member: RestMember, summary: str) -> Change:
    return Change(action, member.where, f"{member.label}: {summary}")


def _choose(members: Sequence[RestMember], leader: RestMember | None, to: str | None) -> RestMember:
    if to is not None:
        return _by_label(members, to)
    candidates = [m for m in members if m is not leader]
    if len(candidates) != 1:
        raise ScoreValueError("choose the member to promote: to= one of " + ", ".join(m.label for m in candidates))
    return candidates[0]


# -- switchover ----------------------------------------------------------------


async def plan_switchover(members: Sequence[RestMember], to: str | None) -> list[Change]:
    """What a switchover to ``to`` would do, or nothing when ``to`` already leads."""
    pair = await _switchover_pair(members, to)
    if pair is None:
        return []
    leader, target = pair
    return [
        _change(ChangeAction.RUN, leader, f"Patroni demotes it; it rejoins as a replica of {target.label}"),
        _change(ChangeAction.RUN, target, f"becomes the leader (Patroni switchover from {leader.label})"),
    ]


async def _switchover_pair(members: Sequence[RestMember], to: str | None) -> tuple[RestMember, RestMember] | None:
    """The current leader and the member to hand it the key, or None when ``to`` already leads;
    refused when the engine could not do it now."""
    view = await observe(members)
    found = cluster_status(members, view)
    leader = leader_of(members, view)
    target = _choose(members, leader, to)
    if leader is target:
        return None
    _require_switchover_possible(found, view, leader, target)
    assert leader is not None
    return leader, target


def _require_switchover_possible(
    found: ClusterStatus, view: EngineView, leader: RestMember | None, target: RestMember
) -> None:
    if view.dcs is None or not view.quorum:
        raise PostgreSQLError(f"a switchover needs the DCS (etcd) with a quorum: {found.summary()}")
    if leader is None:
        raise PostgreSQLError(
            f"no member holds the leader key ({found.summary()}): a switchover needs a leader; "
            "wait for the engine to elect one, or use PostgreSQLFailoverScore"
        )
    lead, new = found.member(leader.label), found.member(target.label)
    if new.state.role is not ReplicationRole.REPLICA or new.state.upstream != lead.address:
        raise PostgreSQLError(
            f"{target.where} is not streaming from the leader {leader.where} ({found.summary()}): "
            "a switchover would have to wait for it; apply the cluster's PostgreSQLScore first"
        )


async def switchover(members: Sequence[RestMember], to: str | None) -> list[Change]:
    """Ask the engine to hand the leader key to ``to``; return once the promises of a leader hold."""
    pair = await _switchover_pair(members, to)
    if pair is None:
        return []
    leader, target = pair
    try:
        answer = await leader.rest.change(
            "POST", "/switchover", {"leader": leader.name, "candidate": target.name}, timeout_s=SWITCHOVER_TIMEOUT_S
        )
    except PatroniRequestError as exc:
        raise PostgreSQLError(f"switchover to {target.label}: Patroni refused: {exc}") from exc
    await verify_leader(members, target, f"switchover to {target.label} ({answer})")
    return [
        _change(ChangeAction.RUN, leader, f"demoted by Patroni, streams from {target.label}"),
        _change(ChangeAction.RUN, target, "promoted by Patroni: the leader, its commits acknowledged"),
    ]


# -- failover ------------------------------------------------------------------


async def plan_failover(members: Sequence[RestMember], to: str | None) -> list[Change]:
    """What a failover to ``to`` would do, and why the engine did not do it alone."""
    view = await observe(members)
    found = cluster_status(members, view)
    leader = leader_of(members, view)
    target = _choose(members, leader, to)
    others = [p for p in found.primaries if p.label != target.label]
    if leader is target and not others:
        return []
    _require_failover_possible(found, view, target)
    why = (
        f"the engine keeps {leader.label} as the leader while it renews its key"
        if leader is not None
        else "no member holds the leader key and the engine elected none"
    )
    changes = [_change(ChangeAction.RUN, target, f"becomes the leader (Patroni failover; {why})")]
    changes += [
        Change(
            ChangeAction.RUN, f"{p.label} ({p.address})",
            f"{p.label}: fenced by the engine: without the leader key Patroni demotes it and it starts only "
            f"as a replica of {target.label} (pg_rewind)",
        )  # fmt: skip
        for p in (found.member(m.label) for m in members if m is not target)
        if p.state.role in (ReplicationRole.PRIMARY, ReplicationRole.UNREACHABLE, ReplicationRole.STOPPED)
    ]
    return changes


def _require_failover_possible(found: ClusterStatus, view: EngineView, target: RestMember) -> None:
    if view.dcs is None or not view.quorum:
        raise PostgreSQLError(
            f"no failover to {target.label}: the DCS (etcd) has no quorum or does not answer "
            f"({found.summary()}); Patroni promotes nobody without it, and promoting underneath it would let "
            "the lost primary come back as a second one. Bring back the witness or the failed host so that "
            "a majority of the etcd members run (adr/0085)"
        )
    new = found.member(target.label)
    if new.state.role not in (ReplicationRole.REPLICA, ReplicationRole.PRIMARY):
        raise PostgreSQLError(
            f"{target.where} is {new.state.role.value}: only a running replica can be promoted ({found.summary()})"
        )


async def failover(members: Sequence[RestMember], to: str | None) -> list[Change]:
    """Ask the engine to promote ``to`` now, whatever the leader does; verify as a switchover does."""
    changes = await plan_failover(members, to)
    if not changes:
        return []
    target = _choose(members, leader_of(members, await observe(members, etcd=False)), to)
    try:
        # Asked of the target itself: the old leader's REST API may be gone with its host.
        answer = await target.rest.change(
            "POST", "/failover", {"candidate": target.name}, timeout_s=SWITCHOVER_TIMEOUT_S
        )
    except PatroniRequestError as exc:
        raise PostgreSQLError(f"failover to {target.label}: Patroni refused: {exc}") from exc
    await verify_leader(members, target, f"failover to {target.label} ({answer})", reachable_only=True)
    return changes


# -- verifying what was promised ------------------------------------------------


def leader_promises_unkept(
    found: ClusterStatus, view: EngineView, lead: RestMember, *, reachable_only: bool = False
) -> list[str]:
    """What differs from "``lead`` holds the key and is the one primary; the others stream from it;
    a streaming replica is its synchronous standby". With ``reachable_only`` a member whose Patroni
    does not answer (a lost host) is not required to stream; one that answers is (it is rejoining)."""
    mine = found.member(lead.label)
    if view.leader != lead.name:
        holder = view.leader or "nobody"
        return [f"the leader key is held by {holder}, not {lead.label}"]
    if mine.state.role is not ReplicationRole.PRIMARY:
        return [f"{lead.where} holds the leader key but is {mine.state.role.value}"]
    unkept = [f"{p.label} ({p.address}) is a primary too" for p in found.primaries if p.label != lead.label]
    streaming = [m for m in found.members if m.label != lead.label and m.state.upstream == mine.address]
    for member in found.members:
        if member.label == lead.label or member in streaming:
            continue
        if reachable_only and member.state.role is ReplicationRole.UNREACHABLE:
            continue  # its host is gone; Patroni starts it only as a replica when it returns
        unkept.append(f"{member.label} ({member.address}) does not stream from {lead.label} ({_state(member)})")
    if streaming and not mine.state.sync_standbys:
        unkept.append(f"{lead.label} has no synchronous standby although {streaming[0].label} streams from it")
    return unkept


def _state(member: MemberStatus) -> str:
    return member.state.role.value + (f": {member.state.problem}" if member.state.problem else "")


async def verify_leader(members: Sequence[RestMember], lead: RestMember, what: str, *, reachable_only: bool = False) -> None:
    """Wait (at most VERIFY_TIMEOUT_S) until the promises of a leader hold, then commit on ``lead``."""
    unkept: list[str] = []
    with anyio.move_on_after(VERIFY_TIMEOUT_S):
        delay = 0.2
        while True:
            view = await observe(members, etcd=False)
            unkept = leader_promises_unkept(cluster_status(members, view), view, lead, reachable_only=reachable_only)
            if not unkept:
                break
            await anyio.sleep(delay)
            delay = min(delay * 2, 1.0)
    if unkept:
        raise PostgreSQLError(f"{what}: " + "; ".join(unkept))
    try:
        await lead.server.probe_write(COMMIT_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - any reason is the same broken promise, named
        raise PostgreSQLError(f"{what}: {lead.label} does not take writes: {exc}") from exc
