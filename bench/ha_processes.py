"""Processes of one simulated host, found in /proc: what a host crash kills, and how daemons are stopped.

A "host" in the automatic-failover benchmark is a directory on this machine
(a ``LocalInstance`` root, a pg_auto_failover node directory). Its processes
are those whose command line or working directory names that directory, their
descendants, and the ``runsv`` supervising any of them (a crashed host takes its
supervisor with it; a surviving runsv would restart the engine at once and the
figure would be a process restart, not a failover). Processes are addressed by
pid only, never by name: other people run PostgreSQL as the same user here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

PGBIN = "/usr/lib/postgresql/15/bin"


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (state first); empty when gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()
    except OSError:
        return []


def alive(pid: int) -> bool:
    """Running (a zombie counts as gone)."""
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] != "Z"


def _all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for pid in _all_pids():
        fields = _stat_fields(pid)
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(pid)
    return children


def parent(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if len(fields) > 1 else None


def tree(roots: Iterable[int]) -> list[int]:
    """The given pids and all their descendants."""
    children = children_map()
    found: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return []


def _names(directory: str, word: str) -> bool:
    """Whether a command-line word (or the value of an ``--option=value`` word) is ``directory`` or under it."""
    return any(
        candidate == directory or candidate.startswith(directory + "/") for candidate in (word, word.partition("=")[2])
    )


def host_processes(directory: Path) -> list[int]:
    """Every process of the host living in ``directory``, its supervisors and their descendants."""
    root = str(directory.resolve())
    own: set[int] = set()
    for pid in _all_pids():
        if pid == os.getpid():
            continue
        words = cmdline(pid)
        with contextlib.suppress(OSError):
            words.append(os.readlink(f"/proc/{pid}/cwd"))
        if any(_names(root, word) for word in words):
            own.add(pid)
    supervisors = set()
    for pid in own:
        above = parent(pid)
        if above is not None and cmdline(above)[:1] == ["runsv"]:
            supervisors.add(above)
    return tree(own | supervisors)


def kill(pids: Iterable[int], sig: signal.Signals = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def reap() -> None:
    """Collect exited children of this process (daemons started with Popen are never waited on)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def wait_gone(pids: Iterable[int], timeout_s: float) -> bool:
    pids = list(pids)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reap()
        if not any(alive(pid) for pid in pids):
            return True
        time.sleep(0.1)
    return False


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split("\n")[0])
    except (OSError, ValueError):
        return None


def stop_engine(pid: int, timeout_s: float = 60.0) -> None:
    """Stop a started engine the way its supervisor would: SIGTERM to it (and its direct children)
    so it shuts its PostgreSQL down itself; SIGKILL what is left of its tree after ``timeout_s``.

    A SIGTERM sent straight to a postmaster is a *smart* shutdown, which can wait for ever for
    clients: hence the engine is signalled, not the postmaster.
    """
    everything = tree([pid])
    kill([pid, *children_map().get(pid, [])], signal.SIGTERM)
    if not wait_gone(everything, timeout_s):
        kill([p for p in set(everything) | set(tree([pid])) if alive(p)])
        reap()


def stop_postmaster(data_dir: Path) -> None:
    """Immediate-stop a PostgreSQL still running in ``data_dir`` (its engine already stopped)."""
    pid = postmaster_pid(data_dir)
    if pid is not None and alive(pid):
        subprocess.run(
            ["runuser", "-u", "postgres", "--", f"{PGBIN}/pg_ctl", "-D", str(data_dir), "stop", "-m", "immediate", "-w"],
            capture_output=True,
            check=False,
        )
