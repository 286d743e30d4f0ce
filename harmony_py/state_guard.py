"""Checks that harmony_py's state is somewhere only the running user controls (adr/0005).

Generated passwords and the apply lock live on the machine running harmony_py.
Whoever can write their directory can plant a password that becomes a
database role's, or swap a directory for a link elsewhere; whoever can read a
secret file has the password. Every check here raises :class:`UnsafeStateError`
naming the path and the fix, before anything is read from or written to it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import UnsafeStateError

_WRITABLE_BY_OTHERS = stat.S_IWGRP | stat.S_IWOTH
_ACCESSIBLE_BY_OTHERS = 0o077


def require_private_directory(path: Path) -> None:
    """``path`` exists as a real directory of the running user that no one else can write."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        raise UnsafeStateError(f"{path} disappeared while harmony_py was using it; re-run") from None
    if stat.S_ISLNK(found.st_mode):
        raise UnsafeStateError(
            f"{path} is a symlink (to {_link_target(path)}); harmony_py keeps its state only in a real "
            f"directory: replace the link with a directory (mkdir -m 700 {path}) and move its files there"
        )
    if not stat.S_ISDIR(found.st_mode):
        raise UnsafeStateError(f"{path} is not a directory; move it away so that harmony_py can create its state there")
    _require_owned(path, found)
    mode = stat.S_IMODE(found.st_mode)
    if mode & _WRITABLE_BY_OTHERS:
        raise UnsafeStateError(
            f"{path} is writable by others (mode {mode:04o}): anyone could plant a password there; "
            f"check its files, then chmod go-w {path}"
        )


def require_no_open_ancestor(path: Path) -> None:
    """No directory above ``path`` lets everyone rename what is inside it.

    A directory everyone can write lets anyone replace ``path`` itself, unless
    it has the sticky bit (as ``/tmp`` does), which keeps entries to their
    owners. Group-writable directories above are allowed: a team's shared
    project directory is a choice its administrator made.
    """
    parent = Path(os.path.realpath(path.parent))
    for ancestor in (parent, *parent.parents):
        try:
            mode = os.stat(ancestor).st_mode
        except FileNotFoundError:
            continue  # made later, by us
        if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
            raise UnsafeStateError(
                f"{ancestor} (above {path}) is writable by everyone (mode {stat.S_IMODE(mode):04o}) without the "
                f"sticky bit: anyone could replace harmony_py's state there; chmod o-w {ancestor}, or keep "
                "the project elsewhere"
            )


def read_private_file(path: Path) -> str | None:
    """The text of ``path``, a regular file of the running user that no one else can read; None if absent."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeStateError(
                f"secret file {path} is a symlink (to {_link_target(path)}); harmony_py reads secrets only from "
                f"regular files: remove the link (rm {path}) and re-run to generate a new one, or put the "
                "real file there"
            ) from None
        raise
    with os.fdopen(fd, "r", encoding="utf-8") as handle:
        found = os.fstat(handle.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise UnsafeStateError(f"secret file {path} is not a regular file; remove it and re-run")
        _require_owned(path, found, what="secret file ")
        mode = stat.S_IMODE(found.st_mode)
        if mode & _ACCESSIBLE_BY_OTHERS:
            raise UnsafeStateError(
                f"secret file {path} is readable by others (mode {mode:04o}); chmod 600 {path}, "
                "and change that password if others may have read it"
            )
        return handle.read()


def _require_owned(path: Path, found: os.stat_result, *, what: str = "") -> None:
    if found.st_uid != os.geteuid():
        raise UnsafeStateError(
            f"{what}{path} is owned by {_user_name(found.st_uid)}, not by {_user_name(os.geteuid())} who runs "
            f"harmony_py: someone else may have put it there; check it, then chown {_user_name(os.geteuid())} "
            f"{path} (or remove it)"
        )


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"


def _link_target(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"
