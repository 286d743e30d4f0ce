"""Rolling restart of a Patroni cluster: one member at a time, never all at once.

Members Patroni reports "pending restart" are restarted through their own
REST API (``POST /restart`` with ``restart_pending``), each awaited until it
runs again and, for a replica, streams from the leader before the next one.

The order depends on the change (findings: a standby needs values of
``max_connections``-like settings at least the primary's):

- usually replicas first, then a switchover to a replica (the old leader's
  demotion restarts it with the new values), then the old leader if it still
  waits; writes pause only for the switchover;
- a decrease of such a setting: the leader first, in place (writes pause for
  its restart), then the replicas, which until then keep the leader's larger
  value (Patroni starts them with it).
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from capabilities.errors import PostgreSQLError
from capabilities.postgresql import ReplicationRole
from harmony_py.values import Change, ChangeAction

from topologies.postgres.cluster import parse_lsn

from .operations import leader_of, switchover
from topologies.errors import PatroniRequestError
from .status import EngineView, RestMember, cluster_status, observe

ORDER_SENSITIVE = frozenset(
    {"max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions",
     "max_locks_per_transaction"}
)  # fmt: skip
"""Settings a standby must have at least as large as its primary (a decrease goes leader first)."""

RESTART_TIMEOUT_S = 120.0
"""How long one member may take to restart and stream again."""


def pending(members: Sequence[RestMember], view: EngineView) -> list[RestMember]:
    """The members whose Patroni reports that a changed setting awaits a restart."""
    return [m for m in members if _own(view, m).get("pending_restart")]


def _own(view: EngineView, member: RestMember) -> dict[str, object]:
    found = view.own.get(member.label)
    return found if isinstance(found, dict) else {}


def restart_order(
    members: Sequence[RestMember], view: EngineView, *, leader_first: bool
) -> tuple[list[RestMember], RestMember | None]:
    """The members to restart in place, in order, and the replica to switch over to (None: no switchover)."""
    leader = leader_of(members, view)
    waiting = pending(members, view)
    if leader is None or not waiting:
        return waiting, None
    replicas = [m for m in waiting if m is not leader]
    if leader not in waiting:
        return replicas, None
    if leader_first or len(members) == 1:
        return [leader, *replicas], None
    candidates = [m for m in members if m is not leader and m.name in view.sync_standbys]
    return replicas, (candidates[0] if candidates else None)


def plan_rolling_restart(members: Sequence[RestMember], view: EngineView, *, leader_first: bool) -> list[Change]:
    in_place, to = restart_order(members, view, leader_first=leader_first)
    leader = leader_of(members, view)
    changes = [
        Change(ChangeAction.RUN, m.where, f"{m.label}: restart for the pending settings (one member at a time)")
        for m in in_place
    ]
    if to is not None and leader is not None:
        changes.append(
            Change(ChangeAction.RUN, leader.where,
                   f"{leader.label}: switchover to {to.label}, then restart where still pending")
        )  # fmt: skip
    if leader is not None and leader in pending(members, view) and to is None and not leader_first and len(members) > 1:
        raise PostgreSQLError(
            f"{leader.label} needs a restart, but no replica is its synchronous standby to switch over to "
            f"({cluster_status(members, view).summary()}): restarting the only writable member would stop writes"
        )
    return changes


async def restart_member(members: Sequence[RestMember], member: RestMember) -> None:
    """Restart ``member`` through Patroni, then wait until it runs without a pending restart (and streams)."""
    try:
        await member.rest.change("POST", "/restart", {"restart_pending": True}, timeout_s=RESTART_TIMEOUT_S)
    except PatroniRequestError as exc:
        raise PostgreSQLError(f"restarting {member.label}: {exc}") from exc
    problem = "no observation yet"
    with anyio.move_on_after(RESTART_TIMEOUT_S):
        while True:
            view = await observe(members, etcd=False)
            found = cluster_status(members, view)
            mine = found.member(member.label).state
            leader = leader_of(members, view)
            lead_address = found.member(leader.label).address if leader is not None else None
            if mine.pending_restart:
                problem = "still pending restart"
            elif leader is member and mine.role is ReplicationRole.PRIMARY:
                return
            elif mine.role is ReplicationRole.REPLICA and mine.upstream is not None and mine.upstream == lead_address:
                return
            else:
                problem = f"{mine.role.value}, streaming from {mine.upstream or 'nothing'}"
            await anyio.sleep(0.5)
    raise PostgreSQLError(
        f"{member.where} did not come back within {RESTART_TIMEOUT_S:g} s after its restart ({problem})"
    )


async def _await_replayed(members: Sequence[RestMember], member: RestMember) -> None:
    """Until ``member`` streams from the leader and has replayed the leader's WAL position of now."""
    view = await observe(members, etcd=False)
    found = cluster_status(members, view)
    leader = leader_of(members, view)
    wanted = found.member(leader.label).state.lsn if leader is not None else None
    if wanted is None:
        return
    with anyio.move_on_after(RESTART_TIMEOUT_S):
        while True:
            mine = cluster_status(members, await observe(members, etcd=False)).member(member.label).state
            if mine.lsn is not None and parse_lsn(mine.lsn) >= parse_lsn(wanted):
                return
            await anyio.sleep(0.3)


async def _await_sync_standby(members: Sequence[RestMember]) -> EngineView:
    """The view once the leader has a synchronous standby again (a restarted replica is listed anew)."""
    view = await observe(members, etcd=False)
    with anyio.move_on_after(RESTART_TIMEOUT_S):
        while not view.sync_standbys:
            await anyio.sleep(0.5)
            view = await observe(members, etcd=False)
    return view


async def rolling_restart(members: Sequence[RestMember], *, leader_first: bool) -> list[Change]:
    """Restart every pending member one at a time (order in the module docstring); the changes made."""
    view = await observe(members)
    changes = plan_rolling_restart(members, view, leader_first=leader_first)
    in_place, to = restart_order(members, view, leader_first=leader_first)
    leader = leader_of(members, view)
    had_sync = bool(view.sync_standbys)
    for member in in_place:
        if member is not leader and leader_first and leader in in_place:
            # The restarted leader logged its new values; a replica restarted before replaying
            # that record would start with the old ones from its control file (still pending).
            await _await_replayed(members, member)
        await restart_member(members, member)
        if had_sync:
            # The next restart or the switchover needs a synchronous standby again.
            view = await _await_sync_standby(members)
    if to is not None and leader is not None:
        _, to = restart_order(members, view, leader_first=leader_first)
        if to is None:
            raise PostgreSQLError(
                f"{leader.label} still needs a restart, but no replica is its synchronous standby to switch over "
                f"to ({cluster_status(members, view).summary()})"
            )
        await switchover(members, to.label)
        view = await observe(members, etcd=False)
        if leader in pending(members, view):
            await restart_member(members, leader)
    return changes
