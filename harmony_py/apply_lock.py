"""One apply at a time per project: an exclusive ``flock`` on ``.harmony/apply.lock`` (adr/0005).

Two applies of one project at once would both plan from the same observed
state and both act on it (a guarded command run twice, two generated
passwords racing). The second one fails at once instead, naming the holder:
its pid, its command and since when it holds the lock. The kernel releases
the lock when the holder's process ends, however it ends, so a crash never
leaves a stale lock. Plans take no lock: they change nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from .errors import ApplyLockedError
from .project import ensure_state_dir

LOCK_FILE_NAME = "apply.lock"


@contextmanager
def apply_lock(command: str | None = None) -> Iterator[Path]:
    """Hold the project's apply lock for the ``with`` block, or raise :class:`ApplyLockedError`.

    ``command`` is what a second apply reports the holder as running
    (default: this process's command line). Yields the lock file's path.
    """
    path = ensure_state_dir() / LOCK_FILE_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)  # not inherited by child processes
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ApplyLockedError(
                f"another apply of this project is running ({_describe_holder(path)}); nothing was done: "
                f"wait for it to finish, then re-run (lock file {path})"
            ) from None
        _record_holder(fd, command if command is not None else shlex.join(sys.argv))
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _record_holder(fd: int, command: str) -> None:
    holder = {
        "pid": os.getpid(),
        "command": command,
        "since": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode("utf-8") + b"\n", 0)


def _describe_holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {holder['pid']}: {holder['command']}, since {holder['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "held by a process that has not written its details yet"
