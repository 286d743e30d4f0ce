"""Local users and groups, planned from ``getent`` and changed with useradd/usermod/userdel and groupadd/groupmod/groupdel.

harmony_py never edits /etc/passwd, /etc/group or /etc/shadow itself: the
shadow tools keep those files, their locks and their backups consistent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from capabilities.command_runner import CommandRunner, CommandRunnerService, FileKind
from harmony_py.errors import CommandFailedError, HarmonyError, ScoreValueError
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.values import Change, ChangeAction

from .host_names import (
    GroupEntry,
    UserEntry,
    account_name,
    chown,
    group_entry,
    groups_of,
    optional_account_name,
    user_entry,
)
from .validate import absolute_path

_MAX_ID = 2**32 - 2  # (uid_t)-1 means "no change" to the kernel


def _identifier(where: str, field: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_ID:
        raise ScoreValueError(f"{where}.{field} must be a number from 0 to {_MAX_ID}, got {value!r}")
    return value


def _flag(where: str, field: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ScoreValueError(f"{where}.{field} must be True or False, got {value!r}")


async def _run(runner: CommandRunnerService, argv: Sequence[str]) -> None:
    result = await runner.run(argv)
    if not result.ok:
        raise CommandFailedError(result.argv, result.exit_status, result.stderr_text)


# -- groups ------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupScore(Score[CommandRunner]):
    """A local group named ``groupname`` (with ``gid`` when given), or none with ``present=False``.

    ``system=True`` makes a system group (a gid from the system range) when it
    is created; it does not change an existing group.

    Example::

        GroupScore("shop", system=True)
    """

    groupname: str
    gid: int | None = None
    system: bool = False
    present: bool = True

    def __post_init__(self) -> None:
        account_name("GroupScore", "groupname", self.groupname)
        where = f"GroupScore({self.groupname})"
        _identifier(where, "gid", self.gid)
        _flag(where, "system", self.system)
        _flag(where, "present", self.present)

    @property
    def name(self) -> str:
        return f"GroupScore({self.groupname})"

    def interpret(self) -> GroupInterpret:
        return GroupInterpret(self)


class GroupInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: GroupScore) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        runner = topology.command_runner()
        name, target = self.score.groupname, f"group {self.score.groupname}"
        found = await group_entry(runner, name)
        if not self.score.present:
            return [] if found is None else [Change(ChangeAction.DELETE, target, f"remove group {name}")]
        if found is None:
            details = "system group" if self.score.system else "group"
            gid = f" (gid {self.score.gid})" if self.score.gid is not None else ""
            return [Change(ChangeAction.CREATE, target, f"create {details} {name}{gid}")]
        if self.score.gid is not None and found.gid != self.score.gid:
            return [Change(ChangeAction.UPDATE, target, f"gid of group {name} {found.gid} -> {self.score.gid}", attribute="gid")]
        return []

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        name, gid = self.score.groupname, self.score.gid
        (change,) = changes
        if change.action is ChangeAction.DELETE:
            await _run(runner, ("groupdel", "--", name))
        elif change.action is ChangeAction.CREATE:
            options = (("--system",) if self.score.system else ()) + (("--gid", str(gid)) if gid is not None else ())
            await _run(runner, ("groupadd", *options, "--", name))
        else:
            await _run(runner, ("groupmod", "--gid", str(gid), "--", name))


# -- users -------------------------------------------------------------------------


@dataclass(frozen=True)
class UserScore(Score[CommandRunner]):
    """A local user named ``username``, or none with ``present=False``.

    Fields left ``None`` are not managed. ``group`` is the primary group
    (created by the host with the user's name when not given); ``groups`` are
    exactly the supplementary groups; ``home`` moves the home directory's
    content when it changes (``usermod -m``); ``create_home`` creates the home
    directory with a new user. ``ssh_authorized_keys`` are exactly the lines of
    ``~/.ssh/authorized_keys`` (0600, in a 0700 ``~/.ssh``, both the user's).
    ``present=False`` removes the user but keeps its home unless
    ``remove_home=True``. ``system=True`` applies when the user is created.

    Example::

        UserScore("shop", group="shop", groups=["adm"], home="/srv/shop", shell="/usr/sbin/nologin",
                  system=True, ssh_authorized_keys=["ssh-ed25519 AAAAC3Nza... deploy@ci"])
    """

    username: str
    uid: int | None = None
    group: str | None = None
    groups: Sequence[str] | None = None
    home: str | None = None
    shell: str | None = None
    system: bool = False
    present: bool = True
    ssh_authorized_keys: Sequence[str] | None = None
    create_home: bool = True
    remove_home: bool = False

    def __post_init__(self) -> None:
        account_name("UserScore", "username", self.username)
        where = f"UserScore({self.username})"
        _identifier(where, "uid", self.uid)
        optional_account_name(where, "group", self.group)
        if self.groups is not None:
            if isinstance(self.groups, str) or not isinstance(self.groups, Sequence):
                raise ScoreValueError(f"{where}.groups must be a list of group names, got {self.groups!r}")
            object.__setattr__(self, "groups", tuple(sorted({account_name(where, "groups", g) for g in self.groups})))
        if self.home is not None:
            object.__setattr__(self, "home", absolute_path(where, "home", self.home))
        if self.shell is not None:
            object.__setattr__(self, "shell", absolute_path(where, "shell", self.shell))
        for field in ("system", "present", "create_home", "remove_home"):
            _flag(where, field, getattr(self, field))
        if self.ssh_authorized_keys is not None:
            keys = self.ssh_authorized_keys
            if isinstance(keys, str) or not isinstance(keys, Sequence):
                raise ScoreValueError(f"{where}.ssh_authorized_keys must be a list of public key lines, got {keys!r}")
            for key in keys:
                if not isinstance(key, str) or len(key.split()) < 2 or "\n" in key or "\r" in key:
                    raise ScoreValueError(f"{where}.ssh_authorized_keys: {key!r} is not one public key line ('type base64 [comment]')")
            object.__setattr__(self, "ssh_authorized_keys", tuple(keys))

    @property
    def name(self) -> str:
        return f"UserScore({self.username})"

    @property
    def authorized_keys(self) -> bytes | None:
        keys = self.ssh_authorized_keys
        return None if keys is None else "".join(f"{key}\n" for key in keys).encode()

    def interpret(self) -> UserInterpret:
        return UserInterpret(self)


class UserInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: UserScore) -> None:
        self.score = score
        self.target = f"user {score.username}"

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        runner = topology.command_runner()
        score = self.score
        found = await user_entry(runner, score.username)
        if not score.present:
            if found is None:
                return []
            kept = f" and its home {found.home}" if score.remove_home else f" (its home {found.home} is kept)"
            return [Change(ChangeAction.DELETE, self.target, f"remove user {score.username}{kept}")]
        if found is None:
            changes = [Change(ChangeAction.CREATE, self.target, f"create {self._description()}")]
            if score.ssh_authorized_keys is not None:
                changes.append(self._keys_change(ChangeAction.CREATE, score.home or "~"))
            return changes
        changes = await self._attribute_changes(runner, found)
        if score.authorized_keys is not None and await self._keys_differ(runner, found):
            changes.append(self._keys_change(ChangeAction.UPDATE, score.home or found.home))
        return changes

    def _description(self) -> str:
        score = self.score
        parts = [
            f"uid {score.uid}" if score.uid is not None else "",
            f"group {score.group}" if score.group is not None else "",
            f"groups {','.join(score.groups)}" if score.groups else "",
            f"home {score.home}" if score.home is not None else "",
            f"shell {score.shell}" if score.shell is not None else "",
        ]
        details = ", ".join(part for part in parts if part)
        kind = "system user" if score.system else "user"
        return f"{kind} {score.username}" + (f" ({details})" if details else "")

    async def _attribute_changes(self, runner: CommandRunnerService, found: UserEntry) -> list[Change]:
        score, changes = self.score, []

        def update(attribute: str, current: object, wanted: object) -> None:
            summary = f"{attribute} of user {score.username}: {current} -> {wanted}"
            changes.append(Change(ChangeAction.UPDATE, self.target, summary, attribute=attribute))

        if score.uid is not None and found.uid != score.uid:
            update("uid", found.uid, score.uid)
        if score.group is not None:
            primary = await group_entry(runner, score.group)
            if primary is None or primary.gid != found.gid:
                current = await group_entry(runner, str(found.gid))
                note = "" if primary is not None else " (not on the host yet)"
                update("group", _group_name(current, found.gid), f"{score.group}{note}")
        if score.groups is not None:
            current_groups = await groups_of(runner, score.username)
            if current_groups != tuple(score.groups):
                update("groups", ",".join(current_groups) or "(none)", ",".join(score.groups) or "(none)")
        if score.home is not None and found.home != score.home:
            update("home", found.home, score.home)
        if score.shell is not None and found.shell != score.shell:
            update("shell", found.shell, score.shell)
        return changes

    def _keys_change(self, action: ChangeAction, home: str) -> Change:
        count = len(self.score.ssh_authorized_keys or ())
        summary = f"authorized SSH keys of {self.score.username}: exactly {count} key(s) in {home}/.ssh/authorized_keys"
        return Change(action, self.target, summary, attribute="ssh_authorized_keys")

    async def _keys_differ(self, runner: CommandRunnerService, found: UserEntry) -> bool:
        home = self.score.home or found.home
        directory, keys = f"{home}/.ssh", f"{home}/.ssh/authorized_keys"
        folder, file = await runner.stat(directory), await runner.stat(keys)
        if folder is None or file is None or folder.mode != 0o700 or file.mode != 0o600:
            return True
        if await runner.read_file(keys) != self.score.authorized_keys:
            return True
        owners = await runner.run(("stat", "-c", "%u:%g", "--", directory, keys))
        return owners.stdout_text.split() != [f"{found.uid}:{found.gid}"] * 2

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        score = self.score
        if any(change.action is ChangeAction.DELETE for change in changes):
            await _run(runner, ("userdel", *(("--remove",) if score.remove_home else ()), "--", score.username))
            return
        if any(change.action is ChangeAction.CREATE and change.attribute == "" for change in changes):
            await _run(runner, ("useradd", *self._create_options(), "--", score.username))
        else:
            options = self._modify_options({change.attribute for change in changes})
            if options:
                await _run(runner, ("usermod", *options, "--", score.username))
        if any(change.attribute == "ssh_authorized_keys" for change in changes):
            await self._write_keys(runner)

    def _create_options(self) -> list[str]:
        score = self.score
        options = ["--system"] if score.system else []
        options += ["--create-home"] if score.create_home else ["--no-create-home"]
        if score.uid is not None:
            options += ["--uid", str(score.uid)]
        if score.group is not None:
            options += ["--gid", score.group]
        if score.groups:
            options += ["--groups", ",".join(score.groups)]
        if score.home is not None:
            options += ["--home-dir", score.home]
        if score.shell is not None:
            options += ["--shell", score.shell]
        return options

    def _modify_options(self, attributes: set[str]) -> list[str]:
        score, options = self.score, []
        if "uid" in attributes:
            options += ["--uid", str(score.uid)]
        if "group" in attributes and score.group is not None:
            options += ["--gid", score.group]
        if "groups" in attributes and score.groups is not None:
            options += ["--groups", ",".join(score.groups)]
        if "home" in attributes and score.home is not None:
            options += ["--home", score.home, "--move-home"]
        if "shell" in attributes and score.shell is not None:
            options += ["--shell", score.shell]
        return options

    async def _write_keys(self, runner: CommandRunnerService) -> None:
        found = await user_entry(runner, self.score.username)
        keys = self.score.authorized_keys
        if found is None or keys is None:
            raise HarmonyError(f"user {self.score.username} is missing after it was created")
        home = await runner.stat(found.home)
        if home is None or home.kind is not FileKind.DIRECTORY:
            raise HarmonyError(f"the home of {self.score.username}, {found.home}, does not exist: the SSH keys need it")
        directory = f"{found.home}/.ssh"
        existing = await runner.stat(directory)
        if existing is not None and existing.kind is not FileKind.DIRECTORY:
            # Written as root: a link here could send the keys anywhere on the host.
            raise HarmonyError(f"{directory} is a {existing.kind.value}, not a directory; harmony_py will not write keys through it")
        await runner.make_directory(directory, mode=0o700)
        await chown(runner, directory, uid=found.uid, gid=found.gid)
        await runner.write_file(f"{directory}/authorized_keys", keys, mode=0o600)
        await chown(runner, f"{directory}/authorized_keys", uid=found.uid, gid=found.gid)


def _group_name(group: GroupEntry | None, gid: int) -> str:
    return group.name if group is not None else str(gid)
