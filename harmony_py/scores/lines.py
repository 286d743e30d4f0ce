"""Editing text files in place: one line, or one marked block, and nothing else of the file.

The edits are pure functions of the file's text (``with_line``, ``with_block``,
…), so what a plan shows is exactly what apply writes, and applying an edit to
its own result changes nothing. The file keeps its mode and owner; a file
others cannot read gets no diff in the plan (what is there may be a secret).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from capabilities.command_runner import CommandRunner, CommandRunnerService, FileKind
from harmony_py.diff import unified_diff
from harmony_py.errors import HarmonyError, ScoreValueError
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.values import Change, ChangeAction

from .host_names import chown, ownership
from .validate import absolute_path, octal, permission_mode

_OTHERS_READ = 0o004
DEFAULT_MODE = 0o644
DEFAULT_MARKER = "# {mark} HARMONY MANAGED BLOCK"


# -- the edits ---------------------------------------------------------------------


def _split(text: str) -> list[str]:
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def _join(lines: Sequence[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def with_line(text: str, line: str, match: re.Pattern[str] | None = None) -> str:
    """``text`` holding ``line``: the last line matching ``match`` replaced by it, else ``line`` appended."""
    lines = _split(text)
    if match is not None:
        found = [index for index, current in enumerate(lines) if match.search(current)]
        if found:
            if lines[found[-1]] == line:
                return text
            lines[found[-1]] = line
            return _join(lines)
    elif line in lines:
        return text
    return _join([*lines, line])


def without_line(text: str, line: str, match: re.Pattern[str] | None = None) -> str:
    """``text`` without any line equal to ``line`` (or matching ``match`` when given)."""
    lines = _split(text)
    kept = [current for current in lines if not (match.search(current) if match is not None else current == line)]
    return text if len(kept) == len(lines) else _join(kept)


def _block_bounds(lines: Sequence[str], begin: str, end: str, path: str) -> tuple[int, int] | None:
    if begin not in lines:
        if end in lines:
            raise HarmonyError(f"{path} has the end marker {end!r} but no begin marker; fix the file by hand")
        return None
    start = lines.index(begin)
    try:
        stop = lines.index(end, start + 1)
    except ValueError:
        raise HarmonyError(f"{path} has the begin marker {begin!r} but no end marker after it; fix the file by hand") from None
    return start, stop


def with_block(text: str, block: str, begin: str, end: str, path: str = "the file") -> str:
    """``text`` with ``block`` between the ``begin`` and ``end`` marker lines (appended with them when missing)."""
    lines = _split(text)
    wanted = [begin, *_split(block), end]
    bounds = _block_bounds(lines, begin, end, path)
    if bounds is None:
        return _join([*lines, *wanted])
    start, stop = bounds
    if lines[start : stop + 1] == wanted:
        return text
    return _join([*lines[:start], *wanted, *lines[stop + 1 :]])


def without_block(text: str, begin: str, end: str, path: str = "the file") -> str:
    """``text`` without the marked block (markers included)."""
    lines = _split(text)
    bounds = _block_bounds(lines, begin, end, path)
    if bounds is None:
        return text
    start, stop = bounds
    return _join([*lines[:start], *lines[stop + 1 :]])


# -- the scores --------------------------------------------------------------------


@dataclass(frozen=True)
class LineInFileScore(Score[CommandRunner]):
    """One line present in (or absent from) a text file; the rest of the file is left as it is.

    Without ``match``, the line is appended unless the file already has it.
    With ``match`` (a regular expression, searched in each line), the last
    matching line is replaced by ``line``, or ``line`` is appended when none
    matches; ``line`` must itself match, so a second apply finds it.
    ``present=False`` removes every line equal to ``line`` (matching
    ``match`` when given). A missing file is created (``mode``, default 0644)
    unless ``create=False``; ``mode`` given is also enforced on an existing file.

    Example::

        LineInFileScore("/etc/ssh/sshd_config", "PasswordAuthentication no",
                        match=r"^#?\\s*PasswordAuthentication\\b")
    """

    path: str
    line: str
    match: str | None = None
    present: bool = True
    create: bool = True
    mode: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", absolute_path("LineInFileScore", "path", self.path))
        where = f"LineInFileScore({self.path})"
        if not isinstance(self.line, str) or "\n" in self.line or "\r" in self.line:
            raise ScoreValueError(f"{where}.line must be one line of text (no newline), got {self.line!r}")
        pattern = self.pattern
        if pattern is not None and self.present and not pattern.search(self.line):
            raise ScoreValueError(
                f"{where}: line {self.line!r} does not match {self.match!r}; it must, or every apply would add it again"
            )
        _check_flags(where, present=self.present, create=self.create, mode=self.mode)

    @property
    def pattern(self) -> re.Pattern[str] | None:
        if self.match is None:
            return None
        if not isinstance(self.match, str):
            raise ScoreValueError(f"LineInFileScore({self.path}).match must be a regular expression string, got {self.match!r}")
        try:
            return re.compile(self.match)
        except re.error as exc:
            raise ScoreValueError(f"LineInFileScore({self.path}).match is not a valid regular expression: {exc}") from None

    @property
    def name(self) -> str:
        return f"LineInFileScore({self.path}: {self.line})"

    def edit(self, text: str) -> str:
        if self.present:
            return with_line(text, self.line, self.pattern)
        return without_line(text, self.line, self.pattern)

    def observed_paths(self) -> tuple[str, ...]:
        """What its plan observes and reads, for a batched observation (harmony_py/observations.py)."""
        return (self.path,)

    def read_paths(self) -> tuple[str, ...]:
        return (self.path,)

    def interpret(self) -> EditInterpret:
        return EditInterpret(self)


@dataclass(frozen=True)
class BlockInFileScore(Score[CommandRunner]):
    """A block of lines between two marker lines in a text file, kept exactly as given.

    The markers are ``marker`` with ``{mark}`` replaced by ``BEGIN`` and
    ``END``; give each block of one file its own marker. A missing block is
    appended to the end of the file; ``present=False`` removes it, markers
    included. A missing file is created unless ``create=False``.

    Example::

        BlockInFileScore("/etc/hosts", "10.0.0.5 db\\n10.0.0.6 cache\\n",
                         marker="# {mark} shop hosts")
    """

    path: str
    block: str
    marker: str = DEFAULT_MARKER
    present: bool = True
    create: bool = True
    mode: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", absolute_path("BlockInFileScore", "path", self.path))
        where = f"BlockInFileScore({self.path})"
        if not isinstance(self.block, str) or "\r" in self.block:
            raise ScoreValueError(f"{where}.block must be text (lines separated by '\\n'), got {self.block!r}")
        if not isinstance(self.marker, str) or "{mark}" not in self.marker or "\n" in self.marker:
            raise ScoreValueError(f"{where}.marker must be one line containing {{mark}}, got {self.marker!r}")
        if self.begin in _split(self.block) or self.end in _split(self.block):
            raise ScoreValueError(f"{where}.block must not contain its own marker lines")
        _check_flags(where, present=self.present, create=self.create, mode=self.mode)

    @property
    def begin(self) -> str:
        return self.marker.replace("{mark}", "BEGIN")

    @property
    def end(self) -> str:
        return self.marker.replace("{mark}", "END")

    @property
    def name(self) -> str:
        return f"BlockInFileScore({self.path}: {self.marker.replace('{mark}', '').strip()})"

    def edit(self, text: str) -> str:
        if self.present:
            return with_block(text, self.block, self.begin, self.end, self.path)
        return without_block(text, self.begin, self.end, self.path)

    def observed_paths(self) -> tuple[str, ...]:
        """What its plan observes and reads, for a batched observation (harmony_py/observations.py)."""
        return (self.path,)

    def read_paths(self) -> tuple[str, ...]:
        return (self.path,)

    def interpret(self) -> EditInterpret:
        return EditInterpret(self)


def _check_flags(where: str, *, present: object, create: object, mode: object) -> None:
    for field, value in (("present", present), ("create", create)):
        if not isinstance(value, bool):
            raise ScoreValueError(f"{where}.{field} must be True or False, got {value!r}")
    if mode is not None:
        permission_mode(where, "mode", mode)


# -- one interpret for both --------------------------------------------------------

EditScore = LineInFileScore | BlockInFileScore


class EditInterpret(ConvergingInterpret[CommandRunner]):
    """Plans and makes one in-place edit of a text file."""

    def __init__(self, score: EditScore) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        runner = topology.command_runner()
        path = self.score.path
        found = await runner.stat(path)
        if found is None:
            if not self.score.present:
                return []
            if not self.score.create:
                raise HarmonyError(f"{path} does not exist; {type(self.score).__name__} creates it only with create=True")
            content = self.score.edit("")
            mode = self.score.mode if self.score.mode is not None else DEFAULT_MODE
            summary = f"create file {path} ({content.count(chr(10))} line(s), mode {octal(mode)})"
            return [Change(ChangeAction.CREATE, path, summary, unified_diff(path, b"", content.encode()))]
        if found.kind is not FileKind.FILE:
            raise HarmonyError(f"{path} is a {found.kind.value}, not a regular file; {type(self.score).__name__} edits files only")
        current = await self._text(runner)
        changes: list[Change] = []
        desired = self.score.edit(current)
        if desired != current:
            summary = f"edit {path} ({_what(self.score)})"
            if found.mode & _OTHERS_READ:
                diff = unified_diff(path, current.encode(), desired.encode())
                changes.append(Change(ChangeAction.UPDATE, path, summary, diff, "content"))
            else:
                changes.append(Change(ChangeAction.UPDATE, path, f"{summary}; diff hidden, file not world-readable", attribute="content"))
        if self.score.mode is not None and found.mode != self.score.mode:
            summary = f"mode of {path} {octal(found.mode)} -> {octal(self.score.mode)}"
            changes.append(Change(ChangeAction.UPDATE, path, summary, attribute="mode"))
        return changes

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        path = self.score.path
        found = await runner.stat(path)
        if found is None:
            mode = self.score.mode if self.score.mode is not None else DEFAULT_MODE
            await runner.write_file(path, self.score.edit("").encode(), mode=mode)
            return
        mode = self.score.mode if self.score.mode is not None else found.mode
        current = await self._text(runner)
        desired = self.score.edit(current)
        if desired == current:
            await runner.set_mode(path, mode)
            return
        owner = await ownership(runner, path)
        await runner.write_file(path, desired.encode(), mode=mode)
        # The new file is the writer's; give it back to whoever owned the one it replaced.
        if owner is not None and owner != await ownership(runner, path):
            await chown(runner, path, uid=owner.uid, gid=owner.gid)

    async def _text(self, runner: CommandRunnerService) -> str:
        content = await runner.read_file(self.score.path) or b""
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError:
            raise HarmonyError(f"{self.score.path} is not UTF-8 text; {type(self.score).__name__} edits text files only") from None


def _what(score: EditScore) -> str:
    if isinstance(score, LineInFileScore):
        return f"{'set' if score.present else 'remove'} line {score.line!r}"
    return f"{'set' if score.present else 'remove'} block {score.begin!r}"
