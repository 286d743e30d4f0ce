"""File operations over one SFTP session: no process is forked on the host per request.

Observing a file (lstat, read) and writing one are SFTP requests on a session
opened once per connection; requests from concurrent scores pipeline on it.
That is what keeps a plan over many hosts cheap (see DESIGN.md, "Where
fan-out time goes").
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import re
import secrets
import stat as stat_module
from collections.abc import Awaitable, Iterator

import anyio
import asyncssh

from capabilities.command_runner import CommandResult, FileKind, FileStat
from topologies.errors import ConnectionLostError, RemoteFileError

from .connection import is_connection_loss

TEMPORARY_SUFFIX = ".harmony-tmp"
_TOKEN_BYTES = 6
# The temporary file starts private: nobody else can open it before its final mode is set.
_PRIVATE = 0o600


@contextlib.contextmanager
def remote_errors(host: str, action: str, path: str) -> Iterator[None]:
    """Turn SFTP errors into one readable HarmonyError naming the host, action and path.

    A connection that dropped is a ConnectionLostError, not a refusal of this one request.
    """
    try:
        yield
    except (asyncssh.Error, OSError) as exc:
        if is_connection_loss(exc):
            raise ConnectionLostError(host, f"trying to {action} {printable(path)}", _reason(exc)) from None
        if isinstance(exc, asyncssh.SFTPError):
            raise RemoteFileError(f"{host}: cannot {action} {printable(path)}: {_reason(exc)}") from None
        raise


def printable(path: str) -> str:
    """``path`` as text any terminal can show: bytes that are not UTF-8 as ``\\xff``."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", "") or exc or type(exc).__name__)


async def stat(sftp: asyncssh.SFTPClient, path: str) -> FileStat | None:
    try:
        attrs = await sftp.lstat(path)
    except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath):
        return None
    st_mode = attrs.permissions or 0
    return FileStat(FileKind.of_mode(st_mode), stat_module.S_IMODE(st_mode), attrs.size or 0)


async def read_file(sftp: asyncssh.SFTPClient, path: str) -> bytes | None:
    try:
        async with sftp.open(path, "rb", encoding=None) as handle:
            content: bytes | str = await handle.read()
    except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath):
        return None
    return content.encode("utf-8") if isinstance(content, str) else bytes(content)


async def write_file(sftp: asyncssh.SFTPClient, path: str, content: bytes, mode: int, *, sweep: bool = True) -> None:
    """Write a temporary file beside ``path``, give it ``mode`` while empty, then rename it over ``path``.

    ``sweep=False`` when the caller has just seen that no earlier write left a temporary of ``path``
    (the plan's batch says so, plan_snapshot.py): the sweep lists the directory, four requests.
    """
    directory, base = posixpath.split(path)
    if sweep:
        await _remove_stale_temporaries(sftp, directory, base)
    temporary = posixpath.join(directory, f".{base}.{secrets.token_hex(_TOKEN_BYTES)}{TEMPORARY_SUFFIX}")
    flags = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_EXCL
    try:
        handle = await sftp.open(temporary, flags, asyncssh.SFTPAttrs(permissions=_PRIVATE), encoding=None)
        try:
            # The server applies its umask at creation, so chmod sets the exact mode; sent with
            # the content (one round trip), on a file nobody else may open whichever lands first.
            await _together(handle.chmod(mode), handle.write(content))
            # Only after the write's answer: asyncssh sends a write from a task of its own, so an
            # fsync sent alongside could reach the server first.
            await _fsync(handle)
        except BaseException:
            with anyio.CancelScope(shield=True), contextlib.suppress(asyncssh.Error, OSError):
                await handle.close()
            raise
        # Only once the content is on disk: posix-rename@openssh.com replaces an existing target
        # atomically (plain SFTP rename refuses to overwrite), and the handle closes alongside.
        await _together(sftp.posix_rename(temporary, path), handle.close())
    except BaseException:
        with anyio.CancelScope(shield=True), contextlib.suppress(asyncssh.Error, OSError):
            await sftp.remove(temporary)
        raise


async def _together(*requests: Awaitable[object]) -> None:
    """Send ``requests`` at once (one round trip for all) and wait for every answer; the first failure is raised."""
    answers = await asyncio.gather(*requests, return_exceptions=True)
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer


async def _remove_stale_temporaries(sftp: asyncssh.SFTPClient, directory: str, base: str) -> None:
    """Remove what an earlier write of this same file left: a run killed outright, or whose connection dropped mid-upload.

    A cancelled write removes its own temporary file; one that could not
    (SIGKILL, a lost link) leaves it, possibly hundreds of megabytes. Only
    names this module makes for this file are touched: ``.<base>.<12 hex>.harmony-tmp``.
    """
    stale = re.compile(re.escape(f".{base}.") + f"[0-9a-f]{{{_TOKEN_BYTES * 2}}}" + re.escape(TEMPORARY_SUFFIX))
    try:
        names = await sftp.listdir(directory or ".")
    except asyncssh.SFTPError:
        return  # a missing or unreadable directory fails the write itself, with its own message
    for name in names:
        if isinstance(name, str) and stale.fullmatch(name):
            with contextlib.suppress(asyncssh.SFTPNoSuchFile):
                await sftp.remove(posixpath.join(directory, name))


async def _fsync(handle: asyncssh.SFTPClientFile) -> None:
    # fsync@openssh.com: the content is on disk before the rename makes it visible.
    with contextlib.suppress(asyncssh.SFTPOpUnsupported):
        await handle.fsync()


async def make_directory(sftp: asyncssh.SFTPClient, path: str, mode: int) -> None:
    attrs = asyncssh.SFTPAttrs(permissions=mode)
    try:
        # One request when the parent exists (the usual case); asyncssh's makedirs
        # costs a mkdir and a stat for every component from the root down.
        await sftp.mkdir(path, attrs)
    except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath, asyncssh.SFTPFailure, asyncssh.SFTPFileAlreadyExists):
        # A missing parent, or something already there: makedirs creates the parents,
        # accepts an existing directory and names anything else that is in the way.
        await sftp.makedirs(path, attrs=attrs, exist_ok=True)
    # makedirs leaves an existing directory's mode alone and the umask trims a new one.
    await sftp.chmod(path, mode)


async def set_mode(sftp: asyncssh.SFTPClient, path: str, mode: int) -> None:
    await sftp.chmod(path, mode)


# -- Observing and writing without being fooled by links, FIFOs or size -------


async def resolve(sftp: asyncssh.SFTPClient, path: str) -> str | None:
    """``path`` with every symbolic link resolved (SFTP ``realpath``), or ``None`` when nothing is there.

    OpenSSH's realpath answers even when the final component is missing, so an
    ``lstat`` of ``path`` is sent alongside it (one round trip for both).
    """
    resolved, found = await asyncio.gather(sftp.realpath(path), stat(sftp, path), return_exceptions=True)
    for answer in (resolved, found):
        if isinstance(answer, BaseException) and not isinstance(answer, (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath)):
            raise answer
    return resolved if isinstance(resolved, str) and found is not None and not isinstance(found, BaseException) else None


def require_within(host: str, directory: str, resolved: str | None) -> None:
    """Refuse a write into ``directory`` unless it exists and no symbolic link leads to it (``resolved`` is its realpath)."""
    if resolved is None:
        raise RemoteFileError(f"{host}: {directory} does not exist")
    if resolved != directory:
        raise RemoteFileError(f"{host}: {directory} resolves to {resolved} through a symlink: nothing is written through it")


DIGEST_MISSING = 3
DIGEST_NOT_REGULAR = 4
# $1 is the path. dd opens it with O_NOFOLLOW|O_NONBLOCK, so a link or FIFO swapped
# in after the test fails instead of being followed or waited on; its exit status
# (not sha256sum's) is the script's, as `set -o pipefail` would give in bash.
_DIGEST_SCRIPT = f"""
[ -e "$1" ] || [ -L "$1" ] || exit {DIGEST_MISSING}
if [ -L "$1" ] || ! [ -f "$1" ]; then exit {DIGEST_NOT_REGULAR}; fi
exec 4>&1
status=$( {{ {{ dd if="$1" iflag=nofollow,nonblock bs=1048576 status=none; echo $? >&3; }} | sha256sum >&4; }} 3>&1 )
exit "$status"
"""


def digest_command(path: str) -> tuple[str, ...]:
    """The command that prints the SHA-256 of the regular file ``path`` on the host, reading it there."""
    return ("sh", "-c", _DIGEST_SCRIPT, "sh", path)


def parse_digest(host: str, path: str, result: CommandResult) -> str | None:
    if result.exit_status == DIGEST_MISSING:
        return None
    if result.exit_status == DIGEST_NOT_REGULAR:
        raise RemoteFileError(f"{host}: {path} is not a regular file: its content is not read")
    words = result.stdout_text.split()
    if not result.ok or not words or len(words[0]) != 64:
        detail = result.stderr_text.strip().splitlines()[-1:] or [f"exit status {result.exit_status}"]
        raise RemoteFileError(f"{host}: cannot take the SHA-256 of {path}: {detail[0]}")
    return words[0]
