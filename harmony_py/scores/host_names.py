"""Users and groups by name on a host, and who owns a path there.

Names are resolved on the host each time (``getent``), never on the
controller: the same name has different ids on different machines, and a
user made earlier in the same apply exists only from then on. Ownership is
read with ``stat`` and set with ``chown`` by numeric id, so what is set is
exactly what was resolved. Scores that take ``owner=``/``group=`` share this
module (adr/0018).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from capabilities.command_runner import CommandRunnerService
from harmony_py.errors import CommandFailedError, HarmonyError, ScoreValueError
from harmony_py.values import Change, ChangeAction

# useradd's default NAME_REGEX on Debian (adduser's is stricter), at most 32 characters.
_ACCOUNT_NAME = re.compile(r"[a-z_][a-z0-9_-]*\$?")
_MAX_ACCOUNT_NAME = 32
_GETENT_NOT_FOUND = 2
_SET_ID_BITS = 0o6000


def account_name(score: str, field: str, value: object) -> str:
    """A user or group name a host accepts (lower case letters, digits, ``_``, ``-``)."""
    if not isinstance(value, str) or not _ACCOUNT_NAME.fullmatch(value) or len(value) > _MAX_ACCOUNT_NAME:
        raise ScoreValueError(
            f"{score}.{field} must be a user or group name (a lower case letter or '_', then lower case "
            f"letters, digits, '_' or '-', at most {_MAX_ACCOUNT_NAME} characters), got {value!r}"
        )
    return value


def optional_account_name(score: str, field: str, value: object) -> str | None:
    return None if value is None else account_name(score, field, value)


@dataclass(frozen=True)
class UserEntry:
    """One line of ``getent passwd``."""

    name: str
    uid: int
    gid: int
    comment: str
    home: str
    shell: str


@dataclass(frozen=True)
class GroupEntry:
    """One line of ``getent group``; ``members`` are the users holding it as a supplementary group."""

    name: str
    gid: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Ownership:
    uid: int
    gid: int


@dataclass(frozen=True)
class OwnerIds:
    """The ids a score's owner and group names resolved to; ``None`` leaves that one as it is."""

    uid: int | None
    gid: int | None


async def user_entry(host: CommandRunnerService, name: str) -> UserEntry | None:
    """The user ``name`` (or a numeric uid), or ``None`` when the host has no such user."""
    lines = await _getent(host, "passwd", name)
    if not lines:
        return None
    fields = lines[0].split(":")
    if len(fields) < 7:
        raise HarmonyError(f"getent passwd {name}: unexpected answer {lines[0]!r}")
    return UserEntry(fields[0], int(fields[2]), int(fields[3]), fields[4], fields[5], fields[6])


async def group_entry(host: CommandRunnerService, name: str) -> GroupEntry | None:
    """The group ``name`` (or a numeric gid), or ``None`` when the host has no such group."""
    lines = await _getent(host, "group", name)
    return _group(lines[0]) if lines else None


async def groups_of(host: CommandRunnerService, user: str) -> tuple[str, ...]:
    """The supplementary groups listing ``user`` as a member, sorted."""
    every = await _getent(host, "group")
    return tuple(sorted(group.name for group in map(_group, every) if user in group.members))


async def ownership(host: CommandRunnerService, path: str) -> Ownership | None:
    """Who owns ``path`` itself (a symlink is not followed), or ``None`` when nothing is there."""
    result = await host.run(("stat", "-c", "%u %g", "--", path))
    if not result.ok:
        if await host.stat(path) is None:
            return None
        raise CommandFailedError(result.argv, result.exit_status, result.stderr_text)
    uid, gid = result.stdout_text.split()
    return Ownership(int(uid), int(gid))


async def chown(host: CommandRunnerService, path: str, *, uid: int | None = None, gid: int | None = None) -> None:
    """Set the owner and/or group of ``path`` itself by numeric id (``-h``: a symlink is not followed)."""
    if uid is None and gid is None:
        return
    # GNU chown reads "UID:" as "UID and that user's login group" and refuses it for a numeric UID.
    spec = f":{gid}" if uid is None else str(uid) if gid is None else f"{uid}:{gid}"
    result = await host.run(("chown", "-h", spec, "--", path))
    if not result.ok:
        raise CommandFailedError(result.argv, result.exit_status, result.stderr_text)


@dataclass(frozen=True)
class WantedOwner:
    """``owner``/``group`` names a score asks for (either may be ``None``: left as it is)."""

    owner: str | None = None
    group: str | None = None

    @property
    def wanted(self) -> bool:
        return self.owner is not None or self.group is not None

    def describe(self) -> str:
        """``owner``, ``owner:group`` or ``:group``, as chown spells it."""
        return (self.owner or "") + ("" if self.group is None else f":{self.group}")

    async def plan(self, host: CommandRunnerService, path: str, current: Ownership | None) -> list[Change]:
        """The ownership change of ``path``; ``current`` is ``None`` for a path the apply creates.

        A name the host does not know yet is not an error in a plan: an earlier
        score of the same apply may create it (apply checks again).
        """
        if not self.wanted:
            return []
        uid, gid = await self._ids(host, strict=False)
        owner_ok = self.owner is None or (current is not None and uid == current.uid)
        group_ok = self.group is None or (current is not None and gid == current.gid)
        if owner_ok and group_ok:
            return []
        missing = [name for name, found in ((self.owner, uid), (self.group, gid)) if name is not None and found is None]
        note = f" ({', '.join(missing)} not on the host yet)" if missing else ""
        was = "" if current is None else f" {await self._current(host, current)}"
        summary = f"owner of {path}{was} -> {self.describe()}{note}"
        return [Change(ChangeAction.UPDATE, path, summary, attribute="owner")]

    async def _current(self, host: CommandRunnerService, current: Ownership) -> str:
        """The present owner in the shape of :meth:`describe` (names where the host has them, else ids)."""
        shown = ""
        if self.owner is not None:
            user = await user_entry(host, str(current.uid))
            shown = str(current.uid) if user is None else user.name
        if self.group is not None:
            group = await group_entry(host, str(current.gid))
            shown += f":{current.gid if group is None else group.name}"
        return shown

    async def resolve(self, host: CommandRunnerService) -> OwnerIds | None:
        """The wanted ids, checked before anything is written: a name the host does not know is an error naming it.

        ``None`` when no owner or group is wanted.
        """
        if not self.wanted:
            return None
        uid, gid = await self._ids(host, strict=True)
        return OwnerIds(uid, gid)

    async def set(self, host: CommandRunnerService, path: str, ids: OwnerIds | None, *, mode: int | None = None) -> None:
        """``chown`` ``path`` to ``ids`` (from :meth:`resolve`).

        ``mode`` is set again after ``chown`` when it has setuid/setgid bits,
        which ``chown`` clears.
        """
        if ids is None:
            return
        await chown(host, path, uid=ids.uid, gid=ids.gid)
        if mode is not None and mode & _SET_ID_BITS:
            await host.set_mode(path, mode)

    async def apply(self, host: CommandRunnerService, path: str, *, mode: int | None = None) -> None:
        """Resolve the names and set them on ``path`` (see :meth:`resolve` and :meth:`set`)."""
        await self.set(host, path, await self.resolve(host), mode=mode)

    async def _ids(self, host: CommandRunnerService, *, strict: bool) -> tuple[int | None, int | None]:
        uid = gid = None
        if self.owner is not None:
            user = await user_entry(host, self.owner)
            if user is None and strict:
                raise HarmonyError(f"user {self.owner!r} does not exist on the host; create it first (UserScore)")
            uid = None if user is None else user.uid
        if self.group is not None:
            group = await group_entry(host, self.group)
            if group is None and strict:
                raise HarmonyError(f"group {self.group!r} does not exist on the host; create it first (GroupScore)")
            gid = None if group is None else group.gid
        return uid, gid


async def _getent(host: CommandRunnerService, database: str, *keys: str) -> list[str]:
    argv: Sequence[str] = ("getent", database, *keys)
    result = await host.run(argv)
    if result.exit_status == _GETENT_NOT_FOUND:
        return []
    if not result.ok:
        raise CommandFailedError(result.argv, result.exit_status, result.stderr_text)
    return [line for line in result.stdout_text.splitlines() if line]


def _group(line: str) -> GroupEntry:
    fields = line.split(":")
    if len(fields) < 4:
        raise HarmonyError(f"getent group: unexpected answer {line!r}")
    members = tuple(member for member in fields[3].split(",") if member)
    return GroupEntry(fields[0], int(fields[2]), members)
