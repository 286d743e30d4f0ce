"""Symbolic links on a machine that provides CommandRunner."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from capabilities.command_runner import CommandRunner, CommandRunnerService, FileKind, LinkReader
from harmony_py.errors import CommandFailedError, HarmonyError, ScoreValueError
from harmony_py.observations import observed_link
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.values import Change, ChangeAction

from .validate import absolute_path

# A link made beside the path, then renamed over it: readers see the old link or the new one.
# The path is normalised and absolute, so the shell splits it (no dirname/basename programs).
_REPLACE_SCRIPT = r"""
path=$1 target=$2 kind=$3
temporary="${path%/*}/.${path##*/}.harmony-link.$$"
ln -s -- "$target" "$temporary" || exit 1
if [ "$kind" = directory ]; then rmdir -- "$path" || { rm -f -- "$temporary"; exit 1; }; fi
mv -Tf -- "$temporary" "$path" || { rm -f -- "$temporary"; exit 1; }
now=$(readlink -- "$path" && printf x) || exit 1
now=${now%?x}
[ "$now" = "$target" ] || { printf '%s points to %s after the change, not %s\n' "$path" "$now" "$target" >&2; exit 1; }
"""
"""Replaces ``path`` by a link to ``target`` atomically, then reads the link back in the same round trip."""


@dataclass(frozen=True)
class LinkScore(Score[CommandRunner]):
    """A symbolic link at ``path`` pointing to ``target`` (absolute, or relative to the link's directory).

    A link pointing elsewhere is replaced. A regular file, an empty directory
    or another kind of file at ``path`` is replaced only with ``force=True``;
    a directory with something in it never is. The link's directory must exist.

    Example::

        LinkScore("/etc/nginx/sites-enabled/shop", "/etc/nginx/sites-available/shop")
    """

    path: str
    target: str
    force: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", absolute_path("LinkScore", "path", self.path))
        if not isinstance(self.target, str) or not self.target:
            raise ScoreValueError(f"LinkScore({self.path}).target must be a non-empty path, got {self.target!r}")
        if "\0" in self.target or "\n" in self.target:
            raise ScoreValueError(f"LinkScore({self.path}).target must not contain a NUL byte or a newline")
        if posixpath.normpath(posixpath.join(posixpath.dirname(self.path), self.target)) == self.path:
            # A link to itself is a loop nothing can read (and mv refuses to put it over a file of that name).
            raise ScoreValueError(f"LinkScore({self.path}).target {self.target!r} is the link itself")
        if not isinstance(self.force, bool):
            raise ScoreValueError(f"LinkScore({self.path}).force must be True or False, got {self.force!r}")

    @property
    def name(self) -> str:
        return f"LinkScore({self.path})"

    def observed_paths(self) -> tuple[str, ...]:
        """What its plan observes, for a batched observation (harmony_py/observations.py)."""
        return (self.path,) if isinstance(self.path, str) else ()

    def interpret(self) -> LinkInterpret:
        return LinkInterpret(self)


class LinkInterpret(ConvergingInterpret[CommandRunner]):
    def __init__(self, score: LinkScore) -> None:
        self.score = score

    async def plan(self, topology: CommandRunner) -> Sequence[Change]:
        runner = topology.command_runner()
        path, target = self.score.path, self.score.target
        found = await runner.stat(path)
        if found is None:
            return [Change(ChangeAction.CREATE, path, f"link {path} -> {target}")]
        if found.kind is FileKind.SYMLINK:
            current = await read_link(runner, path)
            if current == target:
                return []
            return [Change(ChangeAction.UPDATE, path, f"link {path}: {current} -> {target}", attribute="target")]
        what = found.kind.value
        if found.kind is FileKind.DIRECTORY and not await _is_empty_directory(runner, path):
            raise HarmonyError(f"{path} is a directory with files in it; LinkScore never replaces one: move it first")
        if not self.score.force:
            raise HarmonyError(f"{path} is a {what}, not a link; LinkScore replaces it only with force=True")
        return [Change(ChangeAction.UPDATE, path, f"replace {what} {path} by a link -> {target}", attribute="kind")]

    async def converge(self, topology: CommandRunner, changes: Sequence[Change]) -> None:
        runner = topology.command_runner()
        found = await runner.stat(self.score.path)
        kind = "directory" if found is not None and found.kind is FileKind.DIRECTORY else "other"
        argv = ("sh", "-c", _REPLACE_SCRIPT, "sh", self.score.path, self.score.target, kind)
        result = await runner.run(argv)
        if not result.ok:
            raise HarmonyError(f"could not link {self.score.path} -> {self.score.target}: {result.stderr_text.strip()}")


async def read_link(runner: CommandRunnerService, path: str) -> str:
    """Where the symbolic link at ``path`` points, exactly as stored (from the batched snapshot when it has it)."""
    known = observed_link(runner, path)
    if known is not None:
        return known
    if isinstance(runner, LinkReader):
        return await runner.read_link(path)
    result = await runner.run(("readlink", "--", path))
    if not result.ok:
        raise CommandFailedError(result.argv, result.exit_status, result.stderr_text)
    return result.stdout.decode("utf-8", errors="surrogateescape").removesuffix("\n")


async def _is_empty_directory(runner: CommandRunnerService, path: str) -> bool:
    result = await runner.run(("find", path, "-mindepth", "1", "-maxdepth", "1", "-print", "-quit"))
    if not result.ok:
        raise CommandFailedError(result.argv, result.exit_status, result.stderr_text)
    return not result.stdout
