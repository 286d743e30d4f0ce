"""Files and directories on a machine that provides CommandRunner."""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from capabilities.command_runner import (
    CommandRunner,
    CommandRunnerService,
    FileKind,
    FileStat,
)
from harmony_py.diff import MAX_DIFF_BYTES, NoDiff, bounded_diff
from harmony_py.errors import HarmonyError, ScoreValueError
from harmony_py.observations import observed_digest
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.values import Change, ChangeAction, Secret

from .host_names import WantedOwner, optional_account_name, ownership
from .validate import absolute_path, octal, permission_mode

_OTHERS_READ = 0o004
DEFAULT_FILE_MODE = 0o644
DEFAULT_SECRET_MODE = 0o600
COMPARE_BY_DIGEST_ABOVE = MAX_DIFF_BYTES
"""Files larger than this (bytes) are compared by SHA-256 where they are, never read back."""


@dataclass(frozen=True)
class FileScore(Score[CommandRunner]):
    """A regular file with exactly this content and mode.

    ``content`` may be a :class:`Secret`: then the file defaults to mode 0600
    and no plan or report ever shows its content. ``mode`` is an octal int
    (``0o640``); a decimal look-alike such as ``640`` is refused (see
    :func:`~harmony_py.scores.validate.permission_mode`).

    A file whose directory is, or lies under, a symbolic link is refused, its
    plan naming where the link leads, because writing through the link would
    change a file somewhere else; ``follow_parent_symlinks=True`` writes at
    the resolved path instead. A link at ``path`` itself, a FIFO, socket or
    device there is always refused, and nothing is ever written through a
    link swapped in after the plan. A file larger than 1 MiB is compared by
    its SHA-256, taken where it is, and planned as ``content differs (N bytes
    -> M bytes)``; smaller text files get a unified diff.

    ``owner`` and ``group`` are user and group names, resolved on the host
    when the score is applied (a user made earlier in the same apply counts);
    left ``None``, the file belongs to whoever writes it. The plan shows an
    ownership change as ``owner of PATH root:root -> shop:shop``; a name the
    host does not know fails the apply, naming it.

    Example::

        FileScore("/etc/app/app.conf", "port = 8080\\n", mode=0o640, owner="root", group="shop")
    """

    path: str
    content: str | bytes | Secret
    mode: int | None = None
    follow_parent_symlinks: bool = False
    owner: str | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", absolute_path("FileScore", "path", self.path))
        if not isinstance(self.content, (str, bytes, Secret)):
            raise ScoreValueError(
                f"FileScore.content must be str, bytes or Secret, got {type(self.content).__name__}"
            )
        if self.mode is not None:
            permission_mode("FileScore", "mode", self.mode)
        optional_account_name("FileScore", "owner", self.owner)
        optional_account_name("FileScore", "group", self.group)

    @property
    def name(self) -> str:
        return f"FileScore({self.path})"

    def observed_paths(self) -> tuple[str, ...]:
        """What its plan observes, for a batched observation (harmony_py/observations.py)."""
        return (self.path,) if isinstance(self.path, str) else ()

    @property
    def is_secret(self) -> bool:
        return isinstance(self.content, Secret)

    @property
    def desired_mode(self) -> int:
        if self.mode is not None:
            return self.mode
        return DEFAULT_SECRET_MODE if self.is_secret else DEFAULT_FILE_MODE

    def desired_bytes(self) -> bytes:
        content = self.content
        if isinstance(content, Secret):
            return content.reveal().encode("utf-8")
        if isinstance(content, str):
            return content.encode("utf-8")
        return content

    def interpret(self) -> FileInterpret:
        return FileInterpret(self)


class FileInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: FileScore) -> None:
        self.score = score
        self.owner = WantedOwner(score.owner, score.group)

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        runner = topology.command_runner()
        where = await locate(runner, self.score.path, self.score.follow_parent_symlinks, "FileScore", "written")
        target, mode, desired = where.target, self.score.desired_mode, self.score.desired_bytes()
        found = await runner.stat(target)
        if found is None:
            return [self._creation(where, desired), *await self.owner.plan(runner, self.score.path, None)]
        require_kind(target, found, FileKind.FILE)
        changes: list[Change] = []
        content_change = await self._content_change(runner, where, found, desired)
        if content_change is not None:
            changes.append(content_change)
        if found.mode != mode:
            changes.append(_mode_change(self.score.path, found.mode, mode))
        if self.owner.wanted:
            changes += await self.owner.plan(runner, self.score.path, await ownership(runner, target))
        return changes

    def _creation(self, where: Location, desired: bytes) -> Change:
        path, mode = self.score.path, self.score.desired_mode
        summary = f"create file {path}{where.shown} ({len(desired)} bytes, mode {octal(mode)})"
        if not where.directory_exists:
            summary += f"; {where.directory} does not exist yet"
        diff = None if self.score.is_secret else bounded_diff(path, b"", desired)
        return Change(ChangeAction.CREATE, path, summary, diff if isinstance(diff, str) else None)

    async def _content_change(
        self, runner: CommandRunnerService, where: Location, found: FileStat, desired: bytes
    ) -> Change | None:
        path = self.score.path
        wanted_digest = hashlib.sha256(desired).hexdigest()
        known = observed_digest(runner, where.target)
        if known is not None and found.size == len(desired) and known == wanted_digest:
            return None  # compared where the file is: nothing read back
        if known is not None and self.score.is_secret:
            # It differs: the plan says so without reading back what may be a secret.
            summary = f"update content of {path}{where.shown} ({found.size} -> {len(desired)} bytes); secret, diff hidden"
            return Change(ChangeAction.UPDATE, path, summary, attribute="content")
        if max(found.size, len(desired)) > COMPARE_BY_DIGEST_ABOVE:
            if found.size == len(desired) and await runner.digest(where.target) == wanted_digest:
                return None
            summary = f"update content of {path}{where.shown}: content differs ({found.size} bytes -> {len(desired)} bytes)"
            return Change(ChangeAction.UPDATE, path, summary, attribute="content")
        current = await runner.read_file(where.target) or b""
        if current == desired:
            return None
        summary = f"update content of {path}{where.shown} ({len(current)} -> {len(desired)} bytes)"
        if self.score.is_secret:
            return Change(ChangeAction.UPDATE, path, f"{summary}; secret, diff hidden", attribute="content")
        if not found.mode & _OTHERS_READ:
            # What is there now may be a secret someone else put there.
            return Change(ChangeAction.UPDATE, path, f"{summary}; diff hidden, file not world-readable", attribute="content")
        diff = bounded_diff(path, current, desired)
        if isinstance(diff, NoDiff):
            return Change(ChangeAction.UPDATE, path, f"{summary}; {diff.reason}", attribute="content")
        return Change(ChangeAction.UPDATE, path, summary, diff, "content")

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        # Located again: the directory may have changed since the plan (or been made by an earlier score).
        where = await locate(runner, self.score.path, self.score.follow_parent_symlinks, "FileScore", "written")
        where.require_directory()
        ids = await self.owner.resolve(runner)  # an unknown name fails before anything is written
        attributes = {change.attribute for change in changes}
        written = bool(attributes - {"mode", "owner"})
        if written:
            await runner.write_file(
                where.target, self.score.desired_bytes(), mode=self.score.desired_mode, follow_parent_symlinks=False
            )
        elif "mode" in attributes:
            await runner.set_mode(where.target, self.score.desired_mode)
        # A written file is a new one, owned by whoever wrote it: its owner is set again.
        if written or "owner" in attributes:
            await self.owner.set(runner, where.target, ids, mode=self.score.desired_mode)


@dataclass(frozen=True)
class DirectoryScore(Score[CommandRunner]):
    """A directory (with any missing parents) whose own mode is ``mode``.

    Like :class:`FileScore`, it refuses to create a directory under a symbolic
    link unless ``follow_parent_symlinks=True``, and a link at ``path`` itself
    always. ``owner`` and ``group`` (names resolved on the host) apply to
    ``path`` itself; missing parents it creates belong to whoever runs it.

    Example::

        DirectoryScore("/srv/app", mode=0o750, owner="shop", group="shop")
    """

    path: str
    mode: int = 0o755
    follow_parent_symlinks: bool = False
    owner: str | None = None
    group: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", absolute_path("DirectoryScore", "path", self.path))
        permission_mode("DirectoryScore", "mode", self.mode)
        optional_account_name("DirectoryScore", "owner", self.owner)
        optional_account_name("DirectoryScore", "group", self.group)

    @property
    def name(self) -> str:
        return f"DirectoryScore({self.path})"

    def observed_paths(self) -> tuple[str, ...]:
        """What its plan observes, for a batched observation (harmony_py/observations.py)."""
        return (self.path,) if isinstance(self.path, str) else ()

    def interpret(self) -> DirectoryInterpret:
        return DirectoryInterpret(self)


class DirectoryInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: DirectoryScore) -> None:
        self.score = score
        self.owner = WantedOwner(score.owner, score.group)

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        runner = topology.command_runner()
        path, mode = self.score.path, self.score.mode
        where = await locate(runner, path, self.score.follow_parent_symlinks, "DirectoryScore", "created")
        found = await runner.stat(where.target)
        if found is None:
            creation = Change(ChangeAction.CREATE, path, f"create directory {path}{where.shown} (mode {octal(mode)})")
            return [creation, *await self.owner.plan(runner, path, None)]
        require_kind(where.target, found, FileKind.DIRECTORY)
        changes = [_mode_change(path, found.mode, mode)] if found.mode != mode else []
        if self.owner.wanted:
            changes += await self.owner.plan(runner, path, await ownership(runner, where.target))
        return changes

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        where = await locate(runner, self.score.path, self.score.follow_parent_symlinks, "DirectoryScore", "created")
        ids = await self.owner.resolve(runner)  # an unknown name fails before anything is made
        attributes = {change.attribute for change in changes}
        if attributes - {"owner"}:
            await runner.make_directory(where.target, mode=self.score.mode)
        if "owner" in attributes:  # a directory made now is planned with its owner change too
            await self.owner.set(runner, where.target, ids, mode=self.score.mode)


@dataclass(frozen=True)
class Location:
    """Where a path's work happens, as observed: ``target`` is ``path`` or, when following links, its resolved form."""

    path: str
    target: str
    directory: str
    directory_exists: bool

    @property
    def shown(self) -> str:
        """What a plan adds to ``path`` when the work happens elsewhere."""
        return f" (resolved: {self.target})" if self.target != self.path else ""

    def require_directory(self) -> None:
        if not self.directory_exists:
            raise HarmonyError(f"{self.directory} does not exist: add a DirectoryScore for it or create it first")


async def locate(runner: CommandRunnerService, path: str, follow: bool, score: str, verb: str) -> Location:
    """Resolve the nearest existing directory above ``path``; refuse a link on the way unless ``follow``."""
    directory = posixpath.dirname(path)
    existing = directory
    resolved = await runner.resolve(existing)
    while resolved is None and existing != "/":
        existing = posixpath.dirname(existing)
        resolved = await runner.resolve(existing)
    resolved = resolved or existing
    target = posixpath.join(resolved, posixpath.relpath(path, existing))
    if resolved != existing and not follow:
        raise HarmonyError(
            f"{existing} resolves to {resolved} through a symlink, so {path} would be {verb} as {target}; "
            f"pass {score}(..., follow_parent_symlinks=True) to do that"
        )
    resolved_directory = posixpath.dirname(target)
    return Location(path, target, resolved_directory, directory_exists=existing == directory)


def require_kind(path: str, found: FileStat, wanted: FileKind) -> None:
    if found.kind is not wanted:
        raise HarmonyError(
            f"{path} is a {found.kind.value}, not a {wanted.value}; "
            f"harmony_py will not replace it: remove or move it first"
        )


def _mode_change(path: str, current: int, desired: int) -> Change:
    return Change(ChangeAction.UPDATE, path, f"mode of {path} {octal(current)} -> {octal(desired)}", attribute="mode")
