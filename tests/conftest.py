"""How the suite splits across pytest-xdist workers (``scripts/test.sh``: ``-n 2 --dist loadfile``).

The unit of work a worker takes is a test file (so a module's module-scoped
servers, test users and network namespaces exist once, on one worker), except
where files share a fixed resource: those make one unit, so they never run at
the same time on two workers:

- ``tests/app``: its sshd hosts on 127.36.0.10/.11/.20/.21 (two files use
  127.36.0.11), and the shop's replicas, which pick their ports themselves
  from the runtimes' default backend range 20000-20999;
- ``tests/host_scores`` with ``tests/ssh/test_sudo.py`` and the file that
  borrows its fixtures: the throw-away host (a network namespace at the fixed
  10.231.0.81/30) starts from a copy of this machine's /etc, into which the
  sudo tests add and remove their fixed login (a copy taken mid-``useradd``
  holds its lock files, and the host's own ``useradd`` then fails);
- the two files that run mypy in-process on the checkout's ``.mypy_cache``;
- ``tests/ssh/test_engine_*``: the three namespace hosts of ``tests/ssh/netns_trio.py``
  on the fixed bridge address 10.231.0.161/27;
- the two files on ``tests/ssh/netns_hosts.py``'s two hosts (fixed addresses in 10.231.0.192/28; tests/app's
  pair is 10.231.0.208/28, so ``tests/app`` may run beside them).

Everything else a test listens on or creates is unique to its worker: ports
come from the worker's slice (tests/ports.py), directories from pytest's
per-worker ``tmp_path`` or ``mkdtemp``, network namespace and veth names carry
the worker's pid, and each worker's Docker engine has its own socket, data and
exec roots.

The units are handed out in collection order (``--no-loadscope-reorder``), and
under xdist the directories with the longest units are collected first: a long
unit started last would leave the other worker idle at the end.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import pytest

SHARED_UNITS = {
    "tests/app/": "tests/app/",
    "tests/host_scores/": "this machine's /etc",
    "tests/ssh/test_sudo.py": "this machine's /etc",
    "tests/ssh/test_file_safety_over_ssh.py": "this machine's /etc",
    "tests/test_mypy_strict.py": ".mypy_cache",
    "tests/test_typing_contracts.py": ".mypy_cache",
    "tests/ssh/test_engine_": "10.231.0.160/27",
    "tests/ssh/test_postgres_failover.py": "10.231.0.192/28",
    "tests/ssh/test_ha_install_refused.py": "10.231.0.192/28",
}
"""Path prefix (from the project root) -> the unit of work of every test under it."""

FIRST = ("tests/host_scores/", "tests/app/", "tests/ssh/", "tests/postgres/", "tests/docker/", "tests/k8s/")
"""Directories in about the order of their units' length (host_scores' unit, the longest, took about 250 s
of a 470 s run on two workers): collected, and so handed out, first under xdist."""


def unit_of(nodeid: str) -> str:
    """The unit of work of the test ``nodeid``: its file, or the shared unit its file belongs to."""
    path = nodeid.split("::", 1)[0]
    return next((unit for prefix, unit in SHARED_UNITS.items() if path.startswith(prefix)), path)


def _rank(nodeid: str) -> int:
    return next((rank for rank, prefix in enumerate(FIRST) if nodeid.startswith(prefix)), len(FIRST))


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for a worker's mypy runs outside the project (``--strict``, no configuration file): they
    check the same libraries with the same options, and a cold run costs 10-15 s of CPU."""
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: pytest without it runs the suite serially
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``, with the files of a shared unit as one unit.

    Not ``--dist loadgroup`` with ``xdist_group`` marks: pytest-xdist 3.8 groups by
    rewriting node ids, which pytest 9.2 ignores (pytest-dev/pytest-xdist#1386),
    so the marks would be silently dropped. Overriding ``_split_scope`` is how
    xdist's own loadfile and loadgroup schedulers define their unit; xdist ships
    no type information, hence the instance's method rather than a subclass of Any.
    """
    if config.getvalue("dist") != "loadfile":
        return None
    scheduler = importlib.import_module("xdist.scheduler").LoadFileScheduling(config, log)
    scheduler._split_scope = unit_of
    return scheduler


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Every worker sorts alike (xdist checks that their collections match); the sort is
        # stable, so within a directory the order stays as collected.
        items.sort(key=lambda item: _rank(item.nodeid))
