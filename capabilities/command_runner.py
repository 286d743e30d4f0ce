"""CommandRunner: run programs and manage files on a POSIX machine, through a CommandRunnerService."""

from __future__ import annotations

import enum
import hashlib
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


class FileKind(enum.Enum):
    """What kind of thing is at a path; the value reads in a sentence ("is a FIFO")."""

    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    FIFO = "FIFO"
    SOCKET = "socket"
    CHARACTER_DEVICE = "character device"
    BLOCK_DEVICE = "block device"
    OTHER = "special file"

    @classmethod
    def of_mode(cls, st_mode: int) -> FileKind:
        """The kind a POSIX ``st_mode`` describes."""
        for test, kind in _KIND_TESTS:
            if test(st_mode):
                return kind
        return cls.OTHER


_KIND_TESTS: tuple[tuple[Callable[[int], bool], FileKind], ...] = (
    (stat.S_ISREG, FileKind.FILE),
    (stat.S_ISDIR, FileKind.DIRECTORY),
    (stat.S_ISLNK, FileKind.SYMLINK),
    (stat.S_ISFIFO, FileKind.FIFO),
    (stat.S_ISSOCK, FileKind.SOCKET),
    (stat.S_ISCHR, FileKind.CHARACTER_DEVICE),
    (stat.S_ISBLK, FileKind.BLOCK_DEVICE),
)


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
class CommandRunnerService(Protocol):
    """Runs programs and manages files on one POSIX machine.

    A service implementing it promises:

    - ``run`` executes ``argv`` as one program with exactly those arguments:
      never through a shell unless ``argv`` itself starts one, and with every
      argument quoted wherever a transport needs a command line;
    - paths are absolute POSIX paths; file content is bytes, byte for byte;
    - ``write_file`` is atomic: readers see the old content or the new one,
      never a mix, and the file has ``mode`` before any content is in it;
    - ``stat``, ``read_file``, ``resolve`` and ``digest`` answer ``None`` for a
      missing path, not an error;
    - ``digest`` hashes a file where it is, so observing a large file never
      brings its content over a connection or into memory;
    - a command that runs past ``timeout_s`` is stopped, with everything it
      started, and raises :class:`~capabilities.errors.CommandTimeoutError`;
      a file operation refused or failed raises
      :class:`~capabilities.errors.FileAccessError`.
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

    async def write_file(
        self, path: str, content: bytes, *, mode: int, follow_parent_symlinks: bool = True
    ) -> None:
        """Replace ``path`` atomically with ``content`` and permission bits ``mode``.

        A symbolic link at ``path`` itself is replaced, never written through.
        With ``follow_parent_symlinks=False`` a symbolic link anywhere in the
        directory part is an error too, checked when the file is written (not
        only when it was planned), and so is a missing directory, named.
        """
        ...

    async def set_mode(self, path: str, mode: int) -> None:
        """Set the permission bits of an existing path."""
        ...

    async def make_directory(self, path: str, *, mode: int) -> None:
        """Create ``path`` and any missing parents; ``path`` itself gets ``mode``."""
        ...

    async def resolve(self, path: str) -> str | None:
        """``path`` with every symbolic link along it resolved (realpath), or ``None`` when nothing is there."""
        ...

    async def digest(self, path: str) -> str | None:
        """The SHA-256 (hex) of the regular file at ``path``, computed where the file is.

        A final symbolic link is not followed and nothing but a regular file is
        read (a FIFO or device is an error, never a wait); ``None`` when
        nothing is at ``path``.
        """
        ...


@runtime_checkable
class CommandRunner(Protocol):
    """A POSIX machine that runs programs and holds files: ``topology.command_runner().run([...])``.

    The accessor returns the machine's :class:`CommandRunnerService`; a
    topology creates it once and returns the same object on every call, so
    what it keeps for the run (an SSH connection) is shared by all scores.
    """

    def command_runner(self) -> CommandRunnerService:
        """The service that runs programs and manages files on this machine."""
        ...


@dataclass(frozen=True)
class GuardCheck:
    """A check command whose exit status a plan reads (a ``CommandScore``'s ``unless=``), to batch with the paths.

    Run exactly as ``run(argv, env=env)`` would run it alone; ``env`` may hold
    revealed secrets, so it is never shown (``repr`` leaves it out) and travels
    on stdin, never on a command line.
    """

    argv: tuple[str, ...]
    env: Mapping[str, str] | None = field(default=None, repr=False, compare=False)

    def key(self) -> str:
        """Identifies the check with its variables, without holding them: a SHA-256 of argv and env."""
        text = repr((self.argv, sorted((self.env or {}).items())))
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@runtime_checkable
class BatchedObservations(Protocol):
    """A CommandRunnerService that can observe many paths and guards in one round trip (optional).

    Inside ``observing(paths, guards, read=...)``, the ``stat``, ``resolve``,
    ``digest`` and ``read_file`` calls, link targets and guard exit statuses of the scores
    running in that task (and the tasks it starts) may be answered from one
    snapshot taken on entry. For a plan that holds until the plan ends. For an
    apply (``until_changed=True``) it holds only until the first call that may
    change the host (any write, any ``run``) or :meth:`forget_observations`:
    from then on every observation, and every verification, is made live.
    """

    def observing(
        self,
        paths: Iterable[str],
        guards: Iterable[GuardCheck] = (),
        *,
        read: Iterable[str] = (),
        until_changed: bool = False,
    ) -> AbstractAsyncContextManager[None]:
        """Take the snapshot of ``paths``, ``guards`` and the small files to ``read``; answer from it (see the class)."""
        ...

    def observed_digest(self, path: str) -> str | None:
        """The SHA-256 of ``path`` from the current snapshot, or ``None`` (no round trip is made)."""
        ...

    def observed_link(self, path: str) -> str | None:
        """Where the symbolic link at ``path`` points, from the current snapshot, or ``None``."""
        ...

    def observed_exit(self, guard: GuardCheck) -> int | None:
        """The exit status ``guard`` had in the current snapshot, or ``None`` (not batched: run it)."""
        ...

    def forget_observations(self) -> None:
        """End the current apply's snapshot for every task that shares it (something may have changed)."""
        ...


@runtime_checkable
class LinkReader(Protocol):
    """A CommandRunnerService that reads a symbolic link's target without starting a program (optional).

    Over SSH that is one SFTP request instead of a ``readlink`` command; a
    runner without it is asked through ``run``.
    """

    async def read_link(self, path: str) -> str:
        """Where the symbolic link at ``path`` points, exactly as stored; an error when it is not one."""
        ...
