"""Leader/followers PostgreSQL orchestration, written once for every replicated topology.

The members are any ``PostgreSQLServer``'s service (:class:`ReplicatedPostgreSQL`); which one is primary is always
observed, never assumed from the topology's ``leader`` (after a switchover
the topology's "replica" is the primary). The rules (adr/0022):

- a primary waits on every commit for all its standbys (``FIRST n``), so an
  acknowledged commit is on every running member and any one may be promoted;
- switchover: stop the primary cleanly, wait until the target replayed its
  last checkpoint, promote, and let the old primary follow (no rewind needed);
- failover: fence every member that is not a streaming replica (stop at once,
  ``standby.signal``, a FENCED marker), promote the target; fenced members
  rejoin with ``pg_rewind`` on the next deploy. A member that cannot be fenced
  still cannot acknowledge a commit: its standby set names the promoted member,
  which no longer streams from it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import anyio

from capabilities.errors import PostgreSQLError
from capabilities.postgresql import (
    ClusterStatus,
    MemberStatus,
    PgCertificates,
    PgConfig,
    PgEndpoint,
    PostgreSQLServerService,
    PrimaryChange,
    ReplicationRole,
    ReplicationState,
)
from harmony_py.errors import HarmonyError, ScoreValueError
from harmony_py.values import Change, ChangeAction

from topologies.concurrently import on_all
from .roles import slot_for
from .steps import Step, deploy_steps, plan_steps
from .tls import cluster_tls

FENCE_TIMEOUT_S = 20.0
CATCH_UP_TIMEOUT_S = 60.0
STATUS_TIMEOUT_S = 30.0
VERIFY_TIMEOUT_S = 30.0
"""How long the followers of a new primary may take to stream from it."""
COMMIT_TIMEOUT_S = 30.0
"""How long a commit on a new primary may wait for its synchronous standbys."""


@runtime_checkable
class ReplayWaiter(Protocol):
    """A member server that waits for its replay on its own side (hosts do: one program instead of one per look)."""

    async def wait_replayed(self, config: PgConfig, lsn: str, timeout_s: float) -> None: ...


@dataclass(frozen=True)
class Member:
    label: str
    server: PostgreSQLServerService

    @property
    def name(self) -> str:
        """The member's ``application_name`` and slot suffix: its label as an identifier."""
        return re.sub(r"[^a-z0-9_]+", "_", self.label.lower()).strip("_") or "member"


class ReplicatedPostgreSQL:
    """A replicated topology's :class:`~capabilities.postgresql.PostgreSQLClusterService`,
    built over its members' ``PostgreSQLServerService`` (one per member, labelled).

    It is not a server itself: a pair of pairs is refused (statically and at run time).
    """

    def __init__(self, labels: Sequence[str], servers: Sequence[PostgreSQLServerService]) -> None:
        self.members = [Member(label, server) for label, server in zip(labels, servers)]

    async def decided(self, config: PgConfig) -> PgConfig:
        """``config`` with TLS decided once for every member, from the addresses they are reached at (adr/0100)."""
        if config.tls is not None:
            return config
        return cluster_tls(config, tuple(await on_all(self.members, lambda member: member.server.address(config))))

    async def plan(self, config: PgConfig) -> list[Change]:
        return await plan_cluster(self.members, await self.decided(config))

    async def deploy(self, config: PgConfig) -> list[Change]:
        return await deploy_cluster(self.members, await self.decided(config))

    async def endpoint(self, config: PgConfig, database: str) -> PgEndpoint:
        return await endpoint(self.members, await self.decided(config), database)

    async def status(self, config: PgConfig) -> ClusterStatus:
        return await status(self.members, await self.decided(config))

    async def plan_primary(self, config: PgConfig, to: str, mode: PrimaryChange) -> list[Change]:
        return await plan_primary(self.members, await self.decided(config), to, mode)

    async def switchover(self, config: PgConfig, to: str | None = None) -> list[Change]:
        return await switchover(self.members, await self.decided(config), to)

    async def failover(self, config: PgConfig, to: str | None = None) -> list[Change]:
        return await failover(self.members, await self.decided(config), to)

    async def certificates(self, config: PgConfig) -> dict[str, PgCertificates]:
        """Each member's TLS certificates (by label), all from the cluster's one authority; empty without TLS.

        What an engine that places files its own way (Patroni, Kubernetes Secrets) hands to its members.
        """
        found: dict[str, PgCertificates] = {}
        config = await self.decided(config)
        for member in self.members:
            issued = await member.server.certificates(config)
            if issued is not None:
                found[member.label] = issued
        return found


# -- observing ---------------------------------------------------------------


async def status(members: Sequence[Member], config: PgConfig) -> ClusterStatus:
    """Every member's state; refused before anything is asked when two members are one server."""
    addresses = await on_all(members, lambda member: member.server.address(config))
    _refuse_shared_servers(members, addresses)

    async def one(member: Member, address: str) -> MemberStatus:
        try:
            with anyio.fail_after(STATUS_TIMEOUT_S):
                state: ReplicationState = await member.server.replication(config)
        except Exception as exc:  # noqa: BLE001 - an unreachable member is a state, not a crash
            state = ReplicationState(ReplicationRole.UNREACHABLE, problem=f"{type(exc).__name__}: {exc}")
        return MemberStatus(member.label, address, state)

    return ClusterStatus(tuple(await on_all(list(zip(members, addresses)), lambda pair: one(*pair))))


def _refuse_shared_servers(members: Sequence[Member], addresses: Sequence[str]) -> None:
    """Two members reached at one address are one server (same host and port, so one data directory):
    it would be deployed twice over, then asked to replicate from itself."""
    first_at: dict[str, Member] = {}
    for member, address in zip(members, addresses):
        other = first_at.setdefault(address, member)
        if other is not member:
            raise ScoreValueError(
                f"members {other.label} and {member.label} are the same PostgreSQL server ({address}): "
                "a replicated cluster needs a server per member; for two members on one machine use "
                "LocalInstance(name, root=..., port_shift=...) so each has its own directory and port"
            )


def running_primary(found: ClusterStatus) -> str | None:
    primaries = found.primaries
    if len(primaries) > 1:
        names = ", ".join(f"{p.label} ({p.address})" for p in primaries)
        raise PostgreSQLError(
            f"more than one primary is running ({names}): harmony_py will not pick one; "
            "fence all but one with a failover to the one whose data you keep"
        )
    return primaries[0].label if primaries else None


def _target(member: MemberStatus) -> str:
    return f"{member.label} ({member.address})"


def _by_label(members: Sequence[Member], label: str) -> Member:
    for member in members:
        if member.label == label:
            return member
    raise ScoreValueError(f"no member {label!r}; members are {', '.join(m.label for m in members)}")


# -- deploy --------------------------------------------------------------------


@dataclass
class ClusterForecast:
    """What the earlier steps of one cluster walk observed, or will have done by the time a later step converges."""

    found: ClusterStatus | None = None
    """Every member's state when the walk began (``None``: members were started since; look again)."""
    starting: bool = False
    """A plan starts a shut-down cluster: what follows cannot be seen until it runs."""
    primary: Member | None = None
    primary_status: MemberStatus | None = None
    followers: list[Member] = field(default_factory=list)


def cluster_steps(members: Sequence[Member], config: PgConfig) -> list[Step[ClusterForecast]]:
    """Start a shut-down cluster, converge the primary and its followers, then its synchronous standbys."""
    return [StartStep(members, config), MembersStep(members, config), StandbysStep(members, config)]


@dataclass
class StartStep:
    """A cluster that was shut down: start what may start (fenced members rejoin later, as replicas)."""

    members: Sequence[Member]
    config: PgConfig
    to_start: list[Member] = field(default_factory=list)
    predicted: ClusterForecast | None = None

    async def plan(self, predicted: ClusterForecast) -> list[Change]:
        found = await status(self.members, self.config)
        unreachable = [m for m in found.members if m.state.role is ReplicationRole.UNREACHABLE]
        if unreachable:
            raise PostgreSQLError(
                "cannot deploy while members are unreachable: "
                + "; ".join(f"{_target(m)}: {m.state.problem}" for m in unreachable)
            )
        predicted.found, self.predicted, self.to_start = found, predicted, []
        if running_primary(found) is not None or not _shut_down(found):
            return []
        stopped = [
            m for m in found.members if m.state.role is ReplicationRole.STOPPED and not m.state.fenced
        ]  # fmt: skip
        self.to_start = [_by_label(self.members, m.label) for m in stopped]
        # Nothing may start: the next step looks again and names the missing primary.
        predicted.starting = bool(stopped)
        return [_change(ChangeAction.RUN, member, "start PostgreSQL") for member in stopped]

    async def converge(self, changes: Sequence[Change]) -> None:
        for member in self.to_start:
            await member.server.deploy(self.config)
        if self.predicted is not None:
            # Started: the next step observes the members as they now run.
            self.predicted.starting, self.predicted.found = False, None


@dataclass
class MembersStep:
    """The primary's own server, then every follower cloning, following or rejoining it."""

    members: Sequence[Member]
    config: PgConfig
    primary_changes: list[Change] = field(default_factory=list)
    rewind: bool = False
    kept: tuple[str, ...] = ()
    predicted: ClusterForecast | None = None

    async def plan(self, predicted: ClusterForecast) -> list[Change]:
        self.predicted = predicted
        if predicted.starting:
            return []
        found = predicted.found
        if found is None:
            found = predicted.found = await status(self.members, self.config)
        if running_primary(found) is None and _shut_down(found):
            # Nothing could start as a primary (every stopped member is fenced), or nothing did.
            raise PostgreSQLError(
                "no member is a running primary (" + found.summary() + "): promote one with a failover"
            )
        members, config = self.members, self.config
        primary_label = running_primary(found) or members[0].label
        primary = predicted.primary = _by_label(members, primary_label)
        primary_status = predicted.primary_status = found.member(primary_label)
        followers = predicted.followers = [m for m in members if m.label != primary_label]
        address = primary_status.address
        follow_plans = [
            (follower, _follow_change(found.member(follower.label), primary_label, address)) for follower in followers
        ]
        healthy = [follower for follower, change in follow_plans if change is None]
        self.rewind = any(
            change is not None and follower_state_needs_rewind(found.member(f.label)) for f, change in follow_plans
        )
        self.kept = tuple(n for n in primary_status.state.sync_standbys if n in {f.name for f in followers})

        async def plan_primary() -> list[Change]:
            planned: list[Change] = await primary.server.plan(config)
            return planned

        async def plan_follower(follower: Member) -> list[Change]:
            # A healthy replica: only its own files can drift.
            planned: list[Change] = await follower.server.plan(config)
            return [_relabel(c, found.member(follower.label)) for c in planned]

        # The primary and the healthy replicas are observed at once: nothing of
        # one depends on the other (programs are round trips over SSH).
        primary_changes, *healthy_changes = await on_all(
            [plan_primary, *(functools.partial(plan_follower, f) for f in healthy)], lambda call: call()
        )
        self.primary_changes = primary_changes
        changes = [_relabel(change, primary_status) for change in primary_changes]
        changes += [change for _, change in follow_plans if change is not None]
        changes += [change for planned in healthy_changes for change in planned]
        return changes

    async def converge(self, changes: Sequence[Change]) -> None:
        predicted = self.predicted
        # Set by this step's plan, which always comes first.
        assert predicted is not None and predicted.primary is not None and predicted.primary_status is not None
        primary: Member = predicted.primary
        primary_status: MemberStatus = predicted.primary_status
        followers = predicted.followers
        config = self.config
        if self.primary_changes:
            await primary.server.deploy(config)
        slots = tuple(slot_for(f.name) for f in followers)
        # The slots exist before any follower clones; skipped when the status showed them (a program less).
        if self.kept != primary_status.state.sync_standbys or set(slots) != set(primary_status.state.slots):
            await primary.server.set_standbys(config, self.kept, slots)
        if self.rewind:
            # Until a checkpoint on its timeline, a recently promoted primary's
            # control file shows the old one, and pg_rewind would misjudge it.
            await primary.server.checkpoint(config)

        async def follow(follower: Member) -> None:
            with _failing_as(f"{follower.label} does not follow {primary.label}"):
                source = await primary.server.replication_source(config, follower.name)
                await follower.server.follow(config, source)

        await on_all(followers, follow)


def _shut_down(found: ClusterStatus) -> bool:
    """Some member exists: without a running primary, the cluster was shut down (not yet created)."""
    return any(m.state.role is not ReplicationRole.ABSENT for m in found.members)


@dataclass
class StandbysStep:
    """Every commit on the primary waits for all its followers (``FIRST n``)."""

    members: Sequence[Member]
    config: PgConfig
    wanted: tuple[str, ...] = ()
    primary: Member | None = None

    async def plan(self, predicted: ClusterForecast) -> list[Change]:
        if predicted.starting or predicted.primary is None or predicted.primary_status is None:
            return []
        self.primary = predicted.primary
        self.wanted = tuple(f.name for f in predicted.followers)
        if predicted.primary_status.state.sync_standbys == self.wanted:
            return []
        return [
            _change(
                ChangeAction.UPDATE,
                predicted.primary_status,
                f"synchronous standbys -> {', '.join(self.wanted) or 'none'} (every commit waits for all)",
                attribute="synchronous_standby_names",
            )
        ]

    async def converge(self, changes: Sequence[Change]) -> None:
        assert self.primary is not None
        await self.primary.server.set_standbys(self.config, self.wanted, tuple(slot_for(n) for n in self.wanted))


async def plan_cluster(members: Sequence[Member], config: PgConfig) -> list[Change]:
    """What a deploy would do (nothing converged)."""
    return await plan_steps(cluster_steps(members, config), ClusterForecast())


async def deploy_cluster(members: Sequence[Member], config: PgConfig) -> list[Change]:
    """Converge the steps in order, then verify what a changed cluster promises."""
    predicted = ClusterForecast()
    changes = await deploy_steps(cluster_steps(members, config), predicted)
    if changes and predicted.followers and predicted.primary is not None:
        await _verify_primary(
            members, config, predicted.primary, predicted.followers, f"deploying {config.name}", write=False
        )
    return changes


def follower_state_needs_rewind(member: MemberStatus) -> bool:
    return member.state.role not in (ReplicationRole.ABSENT, ReplicationRole.REPLICA)


def _follow_change(state: MemberStatus, primary: str, address: str) -> Change | None:
    role = state.state.role
    if role is ReplicationRole.ABSENT:
        return _change(ChangeAction.CREATE, state, f"clone {primary} with pg_basebackup and stream from it")
    if role is ReplicationRole.REPLICA and state.state.upstream == address:
        return None
    if role is ReplicationRole.REPLICA:
        return _change(ChangeAction.UPDATE, state, f"stream from {primary} ({address})")
    if state.state.fenced:
        return _change(
            ChangeAction.UPDATE, state,
            f"rejoin as a replica of {primary} (pg_rewind discards its WAL that {primary} does not have)",
        )  # fmt: skip
    return _change(ChangeAction.UPDATE, state, f"start as a replica of {primary} (pg_rewind where needed)")


def _relabel(change: Change, member: MemberStatus) -> Change:
    """A member's own change, named for the member: in its target and first in its summary (what a plan shows)."""
    return Change(
        change.action, f"{member.label} ({change.target})", f"{member.label}: {change.summary}", change.diff,
        change.attribute,
    )  # fmt: skip


def _change(action: ChangeAction, member: MemberStatus, summary: str, *, attribute: str = "") -> Change:
    """A change to ``member``, its summary starting with the member's label (``replica: clone from primary``)."""
    return Change(action, _target(member), f"{member.label}: {summary}", attribute=attribute)


async def endpoint(members: Sequence[Member], config: PgConfig, database: str) -> PgEndpoint:
    found = await status(members, config)
    label = running_primary(found) or members[0].label
    result: PgEndpoint = await _by_label(members, label).server.endpoint(config, database)
    return result


# -- switchover and failover ------------------------------------------------------


async def plan_primary(members: Sequence[Member], config: PgConfig, to: str, mode: PrimaryChange) -> list[Change]:
    """What making ``to`` the primary would do: nothing when it is (and, for a failover, no other primary runs)."""
    found = await status(members, config)
    try:
        member = found.member(to)
    except KeyError:
        labels = ", ".join(m.label for m in found.members)
        raise ScoreValueError(f"no member {to!r}; members are {labels}") from None
    others = [m for m in found.primaries if m.label != to]
    if member.state.role is ReplicationRole.PRIMARY and others and mode == "failover":
        where = ", ".join(f"{m.label} ({m.address})" for m in others)
        labels = ", ".join(m.label for m in others)
        return [Change(ChangeAction.RUN, where, f"{labels}: fence the other primary, keep {to}")]
    if member.state.role is ReplicationRole.PRIMARY:
        return []
    if member is found.members[0] and all(m.state.role is ReplicationRole.ABSENT for m in found.members):
        return []  # a new cluster: deploying it makes the first member the primary
    return [Change(ChangeAction.RUN, _target(member), f"{to}: becomes the primary ({mode})")]


def _choose(members: Sequence[Member], primary: str | None, to: str | None) -> Member:
    candidates = [m for m in members if m.label != primary]
    if to is None:
        if len(candidates) != 1:
            raise ScoreValueError(
                "choose the member to promote: to= one of " + ", ".join(m.label for m in candidates)
            )
        return candidates[0]
    return _by_label(members, to)


async def switchover(members: Sequence[Member], config: PgConfig, to: str | None) -> list[Change]:
    found = await status(members, config)
    primary_label = running_primary(found)
    target = _choose(members, primary_label, to)
    if primary_label == target.label:
        return []
    if primary_label is None:
        raise PostgreSQLError(f"no primary is running ({found.summary()}): a switchover needs one; use a failover")
    primary = _by_label(members, primary_label)
    old, new = found.member(primary_label), found.member(target.label)
    if new.state.role is not ReplicationRole.REPLICA or new.state.upstream != old.address:
        raise PostgreSQLError(
            f"{_target(new)} is not streaming from the primary {_target(old)} ({found.summary()}): "
            "deploy the cluster first"
        )
    last = await primary.server.stop(config)
    try:
        await _wait_replayed(target, config, last)
    except Exception:
        # Nothing was promoted: the old primary takes the writes again.
        await primary.server.deploy(config)
        raise
    new_followers = [m for m in members if m.label != target.label]
    await target.server.promote(config, tuple(m.name for m in new_followers))

    async def follow(member: Member) -> None:
        with _failing_as(f"switchover to {target.label}: {_not_following(target, member)}"):
            source = await target.server.replication_source(config, member.name)
            # The target replayed everything the old primary wrote, which is all any
            # replica can have received: nothing to rewind.
            await member.server.follow(config, source, rewind=False)

    await on_all(new_followers, follow)
    await _verify_primary(members, config, target, new_followers, f"switchover to {target.label}", write=True)
    return [
        _change(ChangeAction.RUN, old, f"stop writes (clean shutdown at {last})"),
        _change(ChangeAction.RUN, new, f"promote after replaying {last}"),
        *(_change(ChangeAction.UPDATE, found.member(m.label), f"follow {target.label}") for m in new_followers),
    ]


async def _wait_replayed(member: Member, config: PgConfig, lsn: str) -> None:
    wanted = parse_lsn(lsn)
    with anyio.fail_after(CATCH_UP_TIMEOUT_S):
        if isinstance(member.server, ReplayWaiter):
            await member.server.wait_replayed(config, lsn, CATCH_UP_TIMEOUT_S)
            return
        delay = 0.01
        while True:
            state: ReplicationState = await member.server.replication(config)
            if state.lsn is not None and parse_lsn(state.lsn) >= wanted:
                return
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.2)


async def failover(members: Sequence[Member], config: PgConfig, to: str | None) -> list[Change]:
    found = await status(members, config)
    primaries = found.primaries
    # Not running_primary(): a failover is also how a split brain is resolved.
    target = _choose(members, primaries[0].label if len(primaries) == 1 else None, to)
    new = found.member(target.label)
    to_fence = [
        m for m in found.members
        if m.label != target.label and m.state.role is not ReplicationRole.REPLICA and not m.state.fenced
        and m.state.role is not ReplicationRole.ABSENT
    ]  # fmt: skip
    if new.state.role is ReplicationRole.PRIMARY and not any(
        m.state.role is ReplicationRole.PRIMARY for m in to_fence
    ):
        return []
    if new.state.role not in (ReplicationRole.REPLICA, ReplicationRole.PRIMARY):
        raise PostgreSQLError(f"{_target(new)} is {new.state.role.value}: only a running replica can be promoted")
    changes: list[Change] = []

    async def fence(member: MemberStatus) -> Change:
        try:
            with anyio.fail_after(FENCE_TIMEOUT_S):
                await _by_label(members, member.label).server.fence(config)
        except Exception as exc:  # noqa: BLE001 - an unreachable primary is the usual reason to fail over
            return _change(
                ChangeAction.RUN, member,
                f"could not fence ({_short(exc)}); it cannot acknowledge commits without {target.label}",
            )  # fmt: skip
        return _change(ChangeAction.RUN, member, "fence: stopped, restarts only as a replica")

    changes += await on_all(to_fence, fence)
    streaming = [
        _by_label(members, m.label) for m in found.members
        if m.label != target.label and m.state.role is ReplicationRole.REPLICA
    ]  # fmt: skip
    # Nothing arrives any more: what each replica received is final. One that
    # received no more than the target is a prefix of its history (re-point
    # only); one that received more needs pg_rewind.
    received = (
        {m.label: _received(m.state) for m in (await status(members, config)).members} if streaming else {}
    )
    await target.server.promote(config, tuple(m.name for m in streaming))
    changes.append(_change(ChangeAction.RUN, new, "promote to primary"))
    await target.server.checkpoint(config)

    async def follow(member: Member) -> None:
        with _failing_as(f"failover to {target.label}: {_not_following(target, member)}"):
            source = await target.server.replication_source(config, member.name)
            mine, theirs = received[member.label], received[target.label]
            ahead = mine is None or theirs is None or mine > theirs
            await member.server.follow(config, source, rewind=ahead)

    await on_all(streaming, follow)
    await _verify_primary(members, config, target, streaming, f"failover to {target.label}", write=True)
    changes += [_change(ChangeAction.UPDATE, found.member(m.label), f"follow {target.label}") for m in streaming]
    return changes


# -- verifying what was promised ------------------------------------------------


async def _verify_primary(
    members: Sequence[Member], config: PgConfig, primary: Member, followers: Sequence[Member], what: str, *, write: bool
) -> None:
    """Fail unless ``primary`` is the only primary, every follower streams from it
    as a synchronous standby, its standby set is exactly the followers, and
    (``write``) a commit on it is acknowledged.

    The streaming is awaited (a WAL receiver connects a moment after its server
    starts or reloads), for at most VERIFY_TIMEOUT_S; the commit is tried only
    once the standbys stream, since it would wait for them.
    """
    unkept: list[str] = []
    with anyio.move_on_after(VERIFY_TIMEOUT_S):
        delay = 0.02
        while True:
            unkept = _unkept_promises(await status(members, config), primary, followers)
            if not unkept:
                break
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.5)
    if unkept:
        raise PostgreSQLError(f"{what}: " + "; ".join(unkept))
    if write:
        try:
            await primary.server.probe_write(config, COMMIT_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - any reason is the same broken promise, named
            standbys = ", ".join(f.label for f in followers) or "none"
            raise PostgreSQLError(
                f"{what}: {primary.label} does not take writes "
                f"(synchronous standbys: {standbys}): {_short(exc)}"
            ) from exc


def _unkept_promises(found: ClusterStatus, primary: Member, followers: Sequence[Member]) -> list[str]:
    """What differs from "``primary`` is the one primary, and each follower streams from it synchronously"."""
    lead = found.member(primary.label)
    if lead.state.role is not ReplicationRole.PRIMARY:
        return [f"{_target(lead)} is {lead.state.role.value}, not the primary"]
    unkept = [
        f"{_target(other)} is a primary too" for other in found.primaries if other.label != primary.label
    ]
    wanted = {f.name for f in followers}
    if set(lead.state.sync_standbys) != wanted:
        names = ", ".join(lead.state.sync_standbys) or "none"
        unkept.append(
            f"the synchronous standbys of {primary.label} are {names}, not {', '.join(sorted(wanted)) or 'none'}"
        )
    standbys = {s.name: s for s in lead.state.standbys}
    for follower in followers:
        member = found.member(follower.label)
        seen = standbys.get(follower.name)
        if seen is None or seen.state != "streaming":
            upstream = member.state.upstream or "nothing"
            unkept.append(
                f"{_target(member)} does not stream from {primary.label} ({member.state.role.value}, "
                f"streaming from {upstream}): every commit on {primary.label} waits for it"
            )
        elif seen.sync_state not in ("sync", "quorum"):
            unkept.append(
                f"{_target(member)} streams from {primary.label} as an {seen.sync_state} standby, not a synchronous one"
            )
    return unkept


def _not_following(primary: Member, member: Member) -> str:
    return f"{primary.label} is the primary now, but {member.label} does not follow it"


@contextmanager
def _failing_as(what: str) -> Iterator[None]:
    """Name the member and the broken promise in front of whatever error the block raises."""
    try:
        yield
    except HarmonyError as exc:
        raise PostgreSQLError(f"{what}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - one readable line naming the member, the cause chained
        raise PostgreSQLError(f"{what}: {_short(exc)}") from exc


def _received(state: ReplicationState) -> int | None:
    """How far a replica's WAL reaches: replayed plus received-not-replayed."""
    if state.role is not ReplicationRole.REPLICA or state.lsn is None:
        return None
    return parse_lsn(state.lsn) + (state.replay_lag_bytes or 0)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)
