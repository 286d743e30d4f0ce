"""CommandRunner: run programs and manage files on a POSIX machine."""

from __future__ import annotations

import enum
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class FileKind(enum.Enum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "other"

    @classmethod
    def of_mode(cls, st_mode: int) -> FileKind:
        """The kind a POSIX ``st_mode`` describes."""
        if stat.S_ISREG(st_mode):
            return cls.FILE
        if stat.S_ISDIR(st_mode):
            return cls.DIRECTORY
        if stat.S_ISLNK(st_mode):
            return cls.SYMLINK
        return cls.OTHER


@dataclass(frozen=True)
class FileStat:
    """What is at a path. ``mode`` holds the permission bits only (e.g. 0o644)."""

    kind: FileKind
    mode: int
    size: int


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_status: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", errors="replace")


@runtime_checkable
class CommandRunner(Protocol):
    """A POSIX machine that runs programs and holds files.

    A topology implementing it promises:

    - ``run`` executes ``argv`` as one program with exactly those arguments:
      never through a shell unless ``argv`` itself starts one, and with every
      argument quoted wherever a transport needs a command line;
    - paths are absolute POSIX paths; file content is bytes, byte for byte;
    - ``write_file`` is atomic: readers see the old content or the new one,
      never a mix, and the file has ``mode`` before any content is in it;
    - ``stat`` and ``read_file`` answer ``None`` for a missing path, not an error.
    """

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandResult:
        """Run a program; a non-zero exit is reported in the result, not raised."""
        ...

    async def stat(self, path: str) -> FileStat | None:
        """Describe what is at ``path`` (not following a final symlink)."""
        ...

    async def read_file(self, path: str) -> bytes | None:
        """The content of a regular file, or ``None`` when nothing is there."""
        ...

    async def write_file(self, path: str, content: bytes, *, mode: int) -> None:
        """Replace ``path`` atomically with ``content`` and permission bits ``mode``."""
        ...

    async def set_mode(self, path: str, mode: int) -> None:
        """Set the permission bits of an existing path."""
        ...

    async def make_directory(self, path: str, *, mode: int) -> None:
        """Create ``path`` and any missing parents; ``path`` itself gets ``mode``."""
        ...
