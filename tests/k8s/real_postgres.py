"""A real PostgreSQL 15 behind the emulator's StatefulSet Pods, for tests that deploy a primary.

A primary's converge asks the server for its roles and databases through the
exec API (adr/0060), so every test that deploys one needs something answering
``psql`` in its Pod. The toy kubelet runs it as a local process against one
server this module starts for the session: Unix socket only (no TCP port; the
port number only names the socket), trust authentication, its roles and
databases dropped before each test. The Pods' ``PATH`` holds ``psql`` and
nothing else: a script exec'd into them (``sh -c``, the fence) cannot run, as
in the emulator without a kubelet, instead of acting on this machine.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .harness import EmulatorThread

PG_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass(frozen=True)
class RealPostgreSQL:
    socket_dir: Path
    bin_dir: Path
    """Holds only ``psql``: the ``PATH`` of the Pods."""

    def psql(self, sql: str, *, port: int = 5432) -> str:
        result = subprocess.run(
            [str(PG_BIN / "psql"), "-XAtq", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir), "-p", str(port),
             "-U", "postgres", "-d", "postgres", "-c", sql],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return result.stdout.strip()

    def reset(self) -> None:
        """Drop every database and role but the superuser's and the templates."""
        databases = self.psql("SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')")
        for name in filter(None, databases.splitlines()):
            self.psql(f'DROP DATABASE "{name}" WITH (FORCE)')
        roles = self.psql("SELECT rolname FROM pg_roles WHERE rolname <> 'postgres' AND rolname NOT LIKE 'pg\\_%'")
        for name in filter(None, roles.splitlines()):
            self.psql(f'DROP OWNED BY "{name}"; DROP ROLE "{name}"')  # its grants first

    def behind(self, server: EmulatorThread, pods: Iterable[tuple[str, str]]) -> None:
        """Let the toy kubelet run ``psql`` in these (namespace, pod) against this server."""
        env = {"PGHOST": str(self.socket_dir), "PATH": str(self.bin_dir)}

        def kubelet() -> None:
            server.api.exec_locally = True
            for pod in pods:
                server.api.exec_env[pod] = dict(env)

        server.call(kubelet)


def _as_postgres(*argv: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def real_postgres() -> Iterator[RealPostgreSQL]:
    if not (PG_BIN / "pg_ctl").exists():
        pytest.fail("PostgreSQL 15 is not installed (Debian package postgresql-15)")
    root = Path(tempfile.mkdtemp(prefix="harmony-k8s-pods-pg-"))
    root.chmod(0o755)
    data, sockets, bin_dir = root / "data", root / "run", root / "bin"
    sockets.mkdir()
    bin_dir.mkdir()
    (bin_dir / "psql").symlink_to(PG_BIN / "psql")
    subprocess.run(["chown", "postgres:postgres", str(root), str(sockets)], check=True)
    try:
        _as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync")
        options = f"-c listen_addresses='' -c unix_socket_directories={sockets} -c port=5432 -c fsync=off"
        _as_postgres(str(PG_BIN / "pg_ctl"), "start", "-w", "-D", str(data), "-l", str(root / "log"), "-o", options)
        yield RealPostgreSQL(sockets, bin_dir)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate", "-w"],
                           capture_output=True, check=False, timeout=60)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pods_postgres(real_postgres: RealPostgreSQL) -> RealPostgreSQL:
    """The session's server, emptied of the previous test's roles and databases."""
    real_postgres.reset()
    return real_postgres
