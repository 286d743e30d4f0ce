"""A settings change of a running Patroni cluster, from plan to verified result.

Plan: the settings that differ from the engine's configuration, and, when one
needs a restart (or a member already waits for one), the rolling restart
that follows. Apply: ``PATCH /config``, wait until every member's Patroni
has taken it (reloaded, or flagged "pending restart"), restart one member at
a time, then observe every member running the wanted values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from capabilities.errors import PostgreSQLError
from harmony_py.values import Change, ChangeAction

from .operations import leader_of, rest_members
from .rolling import ORDER_SENSITIVE, pending, plan_rolling_restart, rolling_restart
from .settings import SettingsMap, apply_settings, normalized, plan_settings, running_settings, settings_unkept
from .status import RestMember, observe

if TYPE_CHECKING:
    from .deploy import Engine, EngineForecast

SETTLE_TIMEOUT_S = 60.0
"""How long the members' Patroni may take to write and reload a changed configuration."""


async def _decreases_order_sensitive(members: Sequence[RestMember], wanted: SettingsMap) -> bool:
    """Whether a change lowers a setting a standby must have at least as large as its primary."""
    names = [n for n in wanted if n in ORDER_SENSITIVE]
    if not names:
        return False
    view = await observe(members, etcd=False)
    leader = leader_of(members, view)
    if leader is None:
        return False
    running = await running_settings(leader, names)
    for name in names:
        seen = running.get(name)
        try:
            if seen is not None and float(normalized(wanted[name], seen.unit)) < float(normalized(seen.value, seen.unit)):
                return True
        except ValueError:
            continue  # not a number: PostgreSQL will say so
    return False


async def plan_reconfigure(members: Sequence[RestMember], settings: SettingsMap) -> list[Change]:
    """The settings to change through the engine and the restarts they (or earlier changes) need."""
    planned = await plan_settings(members, settings)
    leader_first = await _decreases_order_sensitive(members, planned.wanted)
    view = await observe(members, etcd=False)
    if planned.restart:
        order = "the leader in place, then each replica" if leader_first else (
            "each replica, then a switchover to a synchronous standby, then the old leader"
        )
        return [
            *planned.changes,
            Change(ChangeAction.RUN, "cluster", f"rolling restart, one member at a time: {order}"),
        ]
    return [*planned.changes, *plan_rolling_restart(members, view, leader_first=leader_first)]


async def _await_taken(members: Sequence[RestMember], settings: SettingsMap, restart: bool) -> None:
    """Until every member runs the new values, or (``restart``) waits for a restart to take them."""
    unkept: list[str] = []
    with anyio.move_on_after(SETTLE_TIMEOUT_S):
        while True:
            unkept = await settings_unkept(members, settings)
            if not unkept:
                return
            # A restart-requiring value is taken once every member's Patroni flags "pending restart".
            if restart and len(pending(members, await observe(members, etcd=False))) == len(members):
                return
            await anyio.sleep(0.5)
    raise PostgreSQLError("the engine did not take the new settings: " + "; ".join(unkept))


async def reconfigure(members: Sequence[RestMember], settings: SettingsMap) -> list[Change]:
    """Apply ``settings`` through the engine, restart where needed, and verify every member runs them."""
    planned = await plan_settings(members, settings)
    leader_first = await _decreases_order_sensitive(members, planned.wanted)
    changes: list[Change] = []
    if planned.wanted:
        planned = await apply_settings(members, settings)
        changes += planned.changes
        await _await_taken(members, {n: settings[n] for n in planned.wanted}, planned.restart)
    changes += await rolling_restart(members, leader_first=leader_first)
    if settings:
        unkept: list[str] = []
        with anyio.move_on_after(SETTLE_TIMEOUT_S):
            while unkept := await settings_unkept(members, settings):
                await anyio.sleep(0.5)
        if unkept:
            raise PostgreSQLError("after the rolling restart: " + "; ".join(unkept))
    return changes


@dataclass
class SettingsStep:
    """The score's settings in the engine's configuration, restarts rolled one member at a time.

    A new cluster starts with them (Patroni's bootstrap configuration): nothing to do then.
    """

    engine: Engine

    @property
    def settings(self) -> SettingsMap:
        return self.engine.databases[0].config.settings

    async def plan(self, predicted: EngineForecast) -> list[Change]:
        if predicted.etcd_starting or predicted.new_cluster:
            return []
        members = rest_members(self.engine)
        view = await observe(members, etcd=False)
        if leader_of(members, view) is None:
            return [Change(ChangeAction.RUN, "cluster", "settings: compared once the engine has elected a leader")]
        return await plan_reconfigure(members, self.settings)

    async def converge(self, changes: Sequence[Change]) -> None:
        members = rest_members(self.engine)
        with anyio.move_on_after(SETTLE_TIMEOUT_S):
            while leader_of(members, await observe(members, etcd=False)) is None:
                await anyio.sleep(0.5)
        await reconfigure(members, self.settings)
