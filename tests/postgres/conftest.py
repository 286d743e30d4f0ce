"""Real PostgreSQL 15 servers on this machine: each member a directory and port of its own.

Everything lives under one directory the session creates (and removes), and
every server started under it is stopped at the end, also after a failure.
"""

from __future__ import annotations

from tests.ports import free_ports

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from topologies import LocalInstance

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port_pair() -> int:
    """A port P such that P, P+1 and P+2 are free on 127.0.0.1.

    Chosen below the kernel's ephemeral range (32768-60999), where outgoing
    connections of other programs could take it between the check and the use.
    """
    return free_ports(3).start




def stop_everything_under(root: Path) -> None:
    for pidfile in root.glob("**/data/postmaster.pid"):
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "stop", "-D", str(pidfile.parent),
             "-m", "immediate", "-w"],
            capture_output=True, check=False, timeout=60,
        )  # fmt: skip


@pytest.fixture(scope="session")
def pg_root() -> Iterator[Path]:
    if not (PG_BIN / "pg_ctl").exists():
        pytest.fail("PostgreSQL 15 is not installed: run scripts/system-packages.sh (postgresql-15)")
    root = Path(tempfile.mkdtemp(prefix="harmony-pg-"))
    root.chmod(0o755)  # the postgres user must reach its directories below
    previous = os.environ.get("HARMONY_SECRETS_DIR")
    os.environ["HARMONY_SECRETS_DIR"] = str(root / "secrets")
    try:
        yield root
    finally:
        stop_everything_under(root)
        if not os.environ.get("HARMONY_KEEP_PG"):
            shutil.rmtree(root, ignore_errors=True)
        if previous is None:
            os.environ.pop("HARMONY_SECRETS_DIR", None)
        else:
            os.environ["HARMONY_SECRETS_DIR"] = previous


def instance(root: Path, label: str, shift: int) -> LocalInstance:
    return LocalInstance(label, root=str(root / label), port_shift=shift)


def project_copy(factory: pytest.TempPathFactory, *shipped: Path) -> list[Path]:
    """The shipped example files, byte for byte, in a project directory of the test's own.

    Applied where they ship, every example shares ``examples/.harmony``: its apply lock would refuse one
    test's apply while another worker's runs ("another apply of this project is running").
    """
    directory = factory.mktemp("project")
    copies = [directory / path.name for path in shipped]
    for path, copy in zip(shipped, copies, strict=True):
        shutil.copyfile(path, copy)
    return copies
