"""PostgreSQL settings of a Patroni cluster: planned from the live cluster, applied through the engine.

The settings live in the engine's dynamic configuration (``postgresql.parameters``
in the DCS), the same on every member: a change is one ``PATCH /config``, which
every member's Patroni writes and reloads. What the running servers use is
read from each member's ``pg_file_settings`` (the value in the file, whether
it is applied, and PostgreSQL's complaint about it), so "changed" is said only
once observed.

A setting that needs a restart (``context = 'postmaster'``) leaves every member
"pending restart"; :func:`rolling_restart` then restarts them one at a time
(rolling.py). A name PostgreSQL does not know is refused in the plan: Patroni
would store it, and the next restart of every member would fail on it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from capabilities.errors import PostgreSQLError
from harmony_py.values import Change, ChangeAction

from topologies.errors import PatroniRequestError
from .status import RestMember, observe

SettingsMap = Mapping[str, str]


def _sql_text_array(names: Sequence[str]) -> str:
    quoted = ", ".join("'" + name.replace("'", "''") + "'" for name in names)
    return f"ARRAY[{quoted}]::text[]"


@dataclass(frozen=True)
class SettingFacts:
    """What the leader's PostgreSQL knows of the settings a score names."""

    context: dict[str, str]
    """``pg_settings.context`` per known name (``postmaster`` needs a restart)."""
    current: dict[str, str]
    """The value each name has in the DCS's ``postgresql.parameters`` (absent: not set there)."""
    running: dict[str, str]
    """What the leader runs with now (``current_setting``): shown for a name the DCS does not set."""

    def shown(self, name: str) -> str:
        if name in self.current:
            return self.current[name]
        return f"{self.running[name]} (default)" if name in self.running else "(default)"


@dataclass(frozen=True)
class SettingsPlan:
    changes: list[Change]
    wanted: dict[str, str]
    """Only the settings that differ from the DCS, to be PATCHed."""
    restart: bool
    """A changed setting takes effect only after a restart (rolling)."""


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


async def setting_facts(members: Sequence[RestMember], settings: SettingsMap) -> tuple[RestMember, SettingFacts]:
    """The leader, the DCS's parameters and the context of every named setting (asked of the leader)."""
    view = await observe(members)
    leader = next((m for m in members if m.name == view.leader), None)
    if leader is None or view.dcs is None or not view.quorum:
        raise PostgreSQLError(
            "settings are changed through the engine, which has no leader now"
            + (f" ({view.dcs_problem})" if view.dcs_problem else "")
            + ": wait for it to elect one, then apply again"
        )
    config = await leader.rest.dynamic_config()
    postgresql = config.get("postgresql") if isinstance(config.get("postgresql"), dict) else {}
    assert isinstance(postgresql, dict)
    parameters = postgresql.get("parameters") if isinstance(postgresql.get("parameters"), dict) else {}
    assert isinstance(parameters, dict)
    current = {str(k): _as_text(v) for k, v in parameters.items() if v is not None}
    context: dict[str, str] = {}
    running: dict[str, str] = {}
    if settings:
        rows = await leader.server.sql(
            "SELECT coalesce(json_object_agg(name, json_build_array(context, current_setting(name))), '{}') "
            f"FROM pg_settings WHERE name = ANY({_sql_text_array(sorted(settings))})",
            what="reading the settings' contexts",
        )
        for name, (kind, value) in json.loads(rows.strip() or "{}").items():
            context[str(name)], running[str(name)] = str(kind), str(value)
    return leader, SettingFacts(context, current, running)


def plan_from_facts(leader: RestMember, facts: SettingFacts, settings: SettingsMap) -> SettingsPlan:
    unknown = sorted(n for n in settings if n not in facts.context and "." not in n)
    if unknown:
        raise PostgreSQLError(
            f"PostgreSQL on {leader.where} knows no setting {', '.join(unknown)}: the engine would store it and "
            "every member would then fail to restart; correct the name in the score's settings"
        )
    wanted = {n: v for n, v in sorted(settings.items()) if facts.current.get(n) != v}
    restart = any(facts.context.get(n) == "postmaster" for n in wanted)
    changes = [
        Change(
            ChangeAction.UPDATE, f"cluster (leader {leader.where})",
            f"setting {name}: {facts.shown(name)} -> {value} (engine configuration"
            + ("; needs a restart: rolling, one member at a time)" if facts.context.get(name) == "postmaster" else ")"),
            attribute=name,
        )  # fmt: skip
        for name, value in wanted.items()
    ]
    return SettingsPlan(changes, wanted, restart)


async def plan_settings(members: Sequence[RestMember], settings: SettingsMap) -> SettingsPlan:
    leader, facts = await setting_facts(members, settings)
    return plan_from_facts(leader, facts, settings)


async def apply_settings(members: Sequence[RestMember], settings: SettingsMap) -> SettingsPlan:
    """PATCH the differing settings into the engine's configuration; return what was planned."""
    leader, facts = await setting_facts(members, settings)
    plan = plan_from_facts(leader, facts, settings)
    if plan.wanted:
        try:
            await leader.rest.change("PATCH", "/config", {"postgresql": {"parameters": plan.wanted}})
        except PatroniRequestError as exc:
            raise PostgreSQLError(f"changing settings {', '.join(plan.wanted)} through the engine: {exc}") from exc
    return plan


_MEMORY_UNITS = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_TIME_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "min": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}
_NUMBER_AND_UNIT = re.compile(r"\s*(-?[0-9]*\.?[0-9]*)\s*([a-zA-Z]*)\s*")


def normalized(value: str, unit: str | None) -> str:
    """``value`` in bytes or milliseconds when its setting has a memory or time ``unit`` (``pg_settings.unit``,
    e.g. ``8kB``, ``s``), so that ``128MB``, ``131072kB`` and ``16384`` compare equal; else as written, lower case."""
    base = _NUMBER_AND_UNIT.fullmatch(unit or "")
    given = _NUMBER_AND_UNIT.fullmatch(value)
    if unit and base and given and given.group(1) not in ("", "-", "."):
        for table in (_MEMORY_UNITS, _TIME_UNITS):
            if base.group(2) in table:
                scale = float(base.group(1) or 1) * table[base.group(2)]
                factor = table.get(given.group(2)) if given.group(2) else scale
                if factor is not None:
                    amount = float(given.group(1)) * factor
                    return str(int(amount)) if amount.is_integer() else repr(amount)
    return value.strip().lower()


@dataclass(frozen=True)
class RunningSetting:
    """One setting as a member's running server uses it (``pg_settings``)."""

    value: str
    """``current_setting``: the value in effect, with its unit."""
    unit: str | None
    pending_restart: bool
    """The configuration files hold another value, which needs a restart."""

    def is_(self, wanted: str) -> bool:
        return normalized(self.value, self.unit) == normalized(wanted, self.unit)


async def running_settings(member: RestMember, names: Sequence[str]) -> dict[str, RunningSetting]:
    """What the member's running PostgreSQL uses for each of ``names``."""
    text = await member.server.sql(
        "SELECT coalesce(json_object_agg(name, json_build_array(current_setting(name), unit, pending_restart)), "
        f"'{{}}') FROM pg_settings WHERE name = ANY({_sql_text_array(sorted(names))})",
        what="reading the settings in effect",
    )
    found = json.loads(text.strip() or "{}")
    return {str(n): RunningSetting(str(row[0]), row[1], bool(row[2])) for n, row in found.items()}


async def settings_unkept(members: Sequence[RestMember], settings: SettingsMap) -> list[str]:
    """Per member, each setting whose value in effect is not the wanted one (or awaits a restart)."""
    view = await observe(members, etcd=False)
    unkept: list[str] = []
    for member in members:
        own = view.own.get(member.label)
        if isinstance(own, dict) and own.get("pending_restart"):
            reasons = own.get("pending_restart_reason")
            names = ", ".join(sorted(reasons)) if isinstance(reasons, dict) else "some setting"
            unkept.append(f"{member.label}: pending restart ({names})")
        try:
            found = await running_settings(member, list(settings))
        except Exception as exc:  # noqa: BLE001 - a member not answering is named, not a crash
            unkept.append(f"{member.label}: cannot read its settings: {exc}")
            continue
        for name, value in sorted(settings.items()):
            seen = found.get(name)
            if seen is None or not seen.is_(value):
                unkept.append(f"{member.label}: {name} is {seen.value if seen else 'unknown'}, not {value}")
            elif seen.pending_restart:
                unkept.append(f"{member.label}: {name} awaits a restart")
    return unkept
