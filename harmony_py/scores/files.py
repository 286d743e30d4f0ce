"""Files and directories on a machine that provides CommandRunner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from capabilities.command_runner import CommandRunner, FileKind, FileStat
from harmony_py.diff import unified_diff
from harmony_py.errors import HarmonyError, ScoreValueError
from harmony_py.outcome import Change, ChangeAction
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.secret import Secret

from .validate import absolute_path, octal, permission_mode

_OTHERS_READ = 0o004
DEFAULT_FILE_MODE = 0o644
DEFAULT_SECRET_MODE = 0o600


@dataclass(frozen=True)
class FileScore(Score[CommandRunner]):
    """A regular file with exactly this content and mode.

    ``content`` may be a :class:`Secret`: then the file defaults to mode 0600
    and no plan or report ever shows its content.
    """

    path: str
    content: str | bytes | Secret
    mode: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", absolute_path("FileScore", "path", self.path))
        if not isinstance(self.content, (str, bytes, Secret)):
            raise ScoreValueError(
                f"FileScore.content must be str, bytes or Secret, got {type(self.content).__name__}"
            )
        if self.mode is not None:
            permission_mode("FileScore", "mode", self.mode)

    @property
    def name(self) -> str:
        return f"FileScore({self.path})"

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

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        path, mode, desired = self.score.path, self.score.desired_mode, self.score.desired_bytes()
        found = await topology.stat(path)
        if found is None:
            diff = None if self.score.is_secret else unified_diff(path, b"", desired)
            summary = f"create file {path} ({len(desired)} bytes, mode {octal(mode)})"
            return [Change(ChangeAction.CREATE, path, summary, diff)]
        _require_kind(path, found, FileKind.FILE)
        changes: list[Change] = []
        current = await topology.read_file(path)
        if current != desired:
            changes.append(self._content_change(found, current or b"", desired))
        if found.mode != mode:
            changes.append(_mode_change(path, found.mode, mode))
        return changes

    def _content_change(self, found: FileStat, current: bytes, desired: bytes) -> Change:
        path = self.score.path
        summary = f"update content of {path} ({len(current)} -> {len(desired)} bytes)"
        if self.score.is_secret:
            return Change(ChangeAction.UPDATE, path, f"{summary}; secret, diff hidden", attribute="content")
        if not found.mode & _OTHERS_READ:
            # What is there now may be a secret someone else put there.
            return Change(ChangeAction.UPDATE, path, f"{summary}; diff hidden, file not world-readable", attribute="content")
        diff = unified_diff(path, current, desired)
        if diff is None:
            return Change(ChangeAction.UPDATE, path, f"{summary}; binary content", attribute="content")
        return Change(ChangeAction.UPDATE, path, summary, diff, "content")

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        if any(change.attribute != "mode" for change in changes):
            await topology.write_file(self.score.path, self.score.desired_bytes(), mode=self.score.desired_mode)
        else:
            await topology.set_mode(self.score.path, self.score.desired_mode)


@dataclass(frozen=True)
class DirectoryScore(Score[CommandRunner]):
    """A directory (with any missing parents) whose own mode is ``mode``."""

    path: str
    mode: int = 0o755

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", absolute_path("DirectoryScore", "path", self.path))
        permission_mode("DirectoryScore", "mode", self.mode)

    @property
    def name(self) -> str:
        return f"DirectoryScore({self.path})"

    def interpret(self) -> DirectoryInterpret:
        return DirectoryInterpret(self)


class DirectoryInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: DirectoryScore) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        path, mode = self.score.path, self.score.mode
        found = await topology.stat(path)
        if found is None:
            return [Change(ChangeAction.CREATE, path, f"create directory {path} (mode {octal(mode)})")]
        _require_kind(path, found, FileKind.DIRECTORY)
        if found.mode != mode:
            return [_mode_change(path, found.mode, mode)]
        return []

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        await topology.make_directory(self.score.path, mode=self.score.mode)


def _require_kind(path: str, found: FileStat, wanted: FileKind) -> None:
    if found.kind is not wanted:
        raise HarmonyError(
            f"{path} is a {found.kind.value}, not a {wanted.value}; "
            f"harmony_py will not replace it: remove or move it first"
        )


def _mode_change(path: str, current: int, desired: int) -> Change:
    return Change(ChangeAction.UPDATE, path, f"mode of {path} {octal(current)} -> {octal(desired)}", attribute="mode")
