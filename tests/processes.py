"""Looking for the processes a test started, by a unique text in their command line."""

from __future__ import annotations

import contextlib
import os
import random
import signal
from pathlib import Path


def processes_mentioning(text: str) -> list[str]:
    """``pid: command line`` of the live processes (zombies excluded) whose arguments contain ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except (OSError, IndexError):
            continue
        if state != "Z" and text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def children_of(parent: int) -> list[int]:
    """The live processes whose parent is ``parent`` (a postmaster's backends, say; their titles name the
    cluster, which another test's cluster of a longer name may start with, so a name is not enough)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 1 and fields[0] != "Z" and fields[1] == str(parent):
            found.append(int(entry.name))
    return found


def unique_sleep() -> str:
    """A ``sleep`` duration (about 30 s) no other process uses, so ``sleep <it>`` finds this test's sleep only."""
    return f"29.{random.randrange(10**8):08d}"


def end_leftovers(text: str) -> None:
    """Kill, by pid, what a failing test left running (its processes carry ``text``, unique to it)."""
    for line in processes_mentioning(text):
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(line.partition(":")[0]), signal.SIGKILL)
