"""Files an adapter keeps on a host, converged by ``FileScore``'s own code, with an owner.

An adapter that keeps configuration files on a host (PostgreSQL's
``postgresql.conf``, ``pg_hba.conf``, its password file) converges them the way
a :class:`~harmony_py.scores.files.FileScore` does, not with a writer of its
own: the plan reads each file and names what differs (content, mode), never
showing a :class:`Secret`'s content nor a diff of a file others cannot read,
and apply writes atomically without following a link swapped in after the plan.
The owner is planned and set by :class:`~harmony_py.scores.host_names.WantedOwner`,
the code ``TemplateScore`` uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from capabilities.command_runner import CommandRunnerService
from harmony_py.scores.files import FileInterpret, FileScore
from harmony_py.scores.host_names import WantedOwner, ownership
from harmony_py.values import Change, ChangeAction, Secret


@dataclass(frozen=True)
class OwnedFile:
    """A file's whole content, mode, and (when given) owner and group."""

    path: str
    content: str | bytes | Secret
    mode: int
    owner: str | None = None
    group: str | None = None
    follow_parent_symlinks: bool = False
    """As ``FileScore``'s: write at the resolved path when a directory above is a link."""


@dataclass(frozen=True)
class PlannedFile:
    """What differs of one :class:`OwnedFile` (``changes`` is empty when nothing does)."""

    file: OwnedFile
    changes: tuple[Change, ...]
    content_changes: tuple[Change, ...]
    owner_changes: tuple[Change, ...]


@dataclass(frozen=True)
class _OneRunner:
    """The ``CommandRunner`` a score's interpret takes, made of one runner."""

    runner: CommandRunnerService

    def command_runner(self) -> CommandRunnerService:
        return self.runner


def _interpret(file: OwnedFile) -> FileInterpret:
    return FileScore(file.path, file.content, mode=file.mode, follow_parent_symlinks=file.follow_parent_symlinks).interpret()


async def plan_files(runner: CommandRunnerService, files: Sequence[OwnedFile]) -> list[PlannedFile]:
    """What differs of each file, observed through ``runner`` (a file to create also gets its owner)."""
    planned = []
    for file in files:
        owner = WantedOwner(file.owner, file.group)
        content = tuple(await _interpret(file).plan(_OneRunner(runner)))
        created = any(change.action is ChangeAction.CREATE for change in content)
        current = await ownership(runner, file.path) if owner.wanted and not created else None
        owned = tuple(await owner.plan(runner, file.path, current))
        planned.append(PlannedFile(file, content + owned, content, owned))
    return planned


async def converge_files(runner: CommandRunnerService, planned: Sequence[PlannedFile]) -> None:
    """Make the changes :func:`plan_files` found: content and mode as ``FileScore`` does, then the owner."""
    for each in planned:
        if each.content_changes:
            await _interpret(each.file).converge(_OneRunner(runner), each.content_changes)
        owner = WantedOwner(each.file.owner, each.file.group)
        # A rewrite replaces the file (a new inode, the runner's user's): its owner is set again, as TemplateScore does.
        if each.owner_changes or (owner.wanted and each.content_changes):
            await owner.apply(runner, each.file.path)


async def ensure_files(runner: CommandRunnerService, files: Sequence[OwnedFile]) -> list[Change]:
    """Plan and converge ``files`` at once; the changes made (empty: every file was as wanted)."""
    planned = await plan_files(runner, files)
    await converge_files(runner, planned)
    return [change for each in planned for change in each.changes]
