"""Local file primitives that are not fooled by what is at a path: symbolic links, FIFOs, huge files.

``write_atomically`` opens the directory one component at a time with
``O_NOFOLLOW`` and works relative to that descriptor, so no symbolic link is
followed and a directory swapped for a link between a plan and the write is
noticed, not written through. ``digest`` reads in chunks in the caller's worker
thread, so a file of any size costs a fixed amount of memory.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import posixpath
import secrets
from typing import BinaryIO

import anyio.from_thread

from capabilities.command_runner import FileKind
from topologies.errors import LocalFileError

TEMPORARY_SUFFIX = ".harmony-tmp"
_PRIVATE = 0o600
# O_PATH (Linux): a directory is only walked through, so it need not be readable, only searchable.
_WALK_ONLY = getattr(os, "O_PATH", os.O_RDONLY)
_DIRECTORY_STEP = _WALK_ONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO that slipped in after the check returns at once instead of waiting for a writer.
_READ_REGULAR = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def resolve(path: str) -> str | None:
    """``path`` with every symbolic link resolved, or ``None`` when nothing (not even a link) is there."""
    if not os.path.lexists(path):
        return None
    try:
        return os.path.realpath(path)
    except OSError as exc:
        raise LocalFileError(f"cannot resolve {path}: {exc.strerror}") from None


def digest(path: str) -> str | None:
    """SHA-256 (hex) of the regular file at ``path``, read in chunks; never follows a final link or reads a FIFO."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return None
    _require_regular(path, FileKind.of_mode(found.st_mode))
    try:
        fd = os.open(path, _READ_REGULAR)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LocalFileError(f"{path} is a symlink: its content is not read through it") from None
        raise LocalFileError(f"cannot read {path}: {exc.strerror}") from None
    with open(fd, "rb", buffering=0) as handle:
        _require_regular(path, FileKind.of_mode(os.fstat(fd).st_mode))
        return hashlib.file_digest(handle, "sha256").hexdigest()


_WRITE_CHUNK = 4 * 1024 * 1024
"""How much is written between two looks at whether the run was cancelled."""


def write_atomically(path: str, content: bytes, mode: int, *, follow_parent_symlinks: bool) -> None:
    """Replace ``path`` atomically: a temporary file beside it, renamed over it.

    Without ``follow_parent_symlinks`` a symbolic link or a missing directory
    anywhere above ``path`` is refused (the directory is opened one component at
    a time). Runs in an anyio worker thread: between chunks it checks whether the
    run was cancelled (Ctrl-C, SIGTERM, a timeout), and then removes the
    temporary file and leaves ``path`` as it was.
    """
    directory, base = posixpath.split(posixpath.normpath(path))
    directory_fd = _open_following(directory) if follow_parent_symlinks else open_directory(directory)
    try:
        temporary = f".{base}.{secrets.token_hex(6)}{TEMPORARY_SUFFIX}"
        fd = os.open(temporary, _NEW_FILE, _PRIVATE, dir_fd=directory_fd)
        try:
            with open(fd, "wb") as handle:
                # The mode is set while the file is still empty, so a secret is never
                # readable by others, not even for an instant.
                os.fchmod(handle.fileno(), mode)
                _write_cancellably(handle, content)
            anyio.from_thread.check_cancelled()
            os.replace(temporary, base, src_dir_fd=directory_fd, dst_dir_fd=directory_fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary, dir_fd=directory_fd)
            raise
    finally:
        os.close(directory_fd)


def _write_cancellably(handle: BinaryIO, content: bytes) -> None:
    view = memoryview(content)
    for start in range(0, len(view), _WRITE_CHUNK):
        anyio.from_thread.check_cancelled()
        handle.write(view[start : start + _WRITE_CHUNK])
    handle.flush()
    anyio.from_thread.check_cancelled()
    os.fsync(handle.fileno())


def open_directory(directory: str) -> int:
    """A descriptor of ``directory``, reached from ``/`` one component at a time without following a link."""
    fd = os.open("/", _WALK_ONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    reached = "/"
    try:
        for name in directory.split("/"):
            if name in ("", "."):
                continue
            if name == "..":
                raise LocalFileError(f"{directory}: a path with '..' is not walked; give it normalised")
            reached = posixpath.join(reached, name)
            try:
                step = os.open(name, _DIRECTORY_STEP, dir_fd=fd)
            except FileNotFoundError:
                raise LocalFileError(f"{reached} does not exist") from None
            except OSError as exc:
                raise LocalFileError(_why_not_a_directory(reached, exc)) from None
            os.close(fd)
            fd = step
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_following(directory: str) -> int:
    """A descriptor of ``directory``, following links on the way (for the adapters' own files)."""
    try:
        return os.open(directory, _WALK_ONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise LocalFileError(f"{directory} does not exist") from None
    except OSError as exc:
        raise LocalFileError(_why_not_a_directory(directory, exc)) from None


def _why_not_a_directory(path: str, error: OSError) -> str:
    try:
        found = os.lstat(path)
    except OSError:
        return f"cannot open directory {path}: {error.strerror}"
    kind = FileKind.of_mode(found.st_mode)
    if kind is FileKind.SYMLINK:
        return f"{path} is a symlink (to {os.readlink(path)}): nothing is written through it"
    if kind is not FileKind.DIRECTORY:
        return f"{path} is a {kind.value}, not a directory"
    return f"cannot open directory {path}: {error.strerror}"


def _require_regular(path: str, kind: FileKind) -> None:
    if kind is not FileKind.FILE:
        raise LocalFileError(f"{path} is a {kind.value}, not a regular file: its content is not read")
