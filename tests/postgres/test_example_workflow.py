"""The shipped example's workflow, through the command line: deploy, kill -9 the primary, fail over, rejoin.

Found: the example's one file held the cluster's PostgreSQLScore before the
failover score, so applying it for a failover first started the primary that
had just been killed (a second writable primary, until the failover fenced it).
The failover file now holds only the failover.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from capabilities.postgresql import ReplicationRole
from harmony_py.scores import PostgreSQLScore
from topologies import FailoverTopology, LocalInstance

from .conftest import free_port_pair, project_copy

ROOT = Path(__file__).parent.parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def example_env(pg_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    [copy, _promote] = project_copy(
        tmp_path_factory, EXAMPLES / "failover_postgres.py", EXAMPLES / "failover_postgres_promote.py"
    )
    yield {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HARMONY_PG_ROOT": str(pg_root / "example"),
        "HARMONY_PG_PORT": str(free_port_pair()),
        "EXAMPLES": str(copy.parent),
    }


def run_example(env: dict[str, str], name: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harmony_py", "apply", "--yes", str(Path(env["EXAMPLES"]) / name)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600, env={**env, **extra}, cwd=ROOT,
    )  # fmt: skip


def test_failover_file_after_kill_9_never_starts_the_killed_primary(example_env: dict[str, str]) -> None:
    deployed = run_example(example_env, "failover_postgres.py")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    root = Path(example_env["HARMONY_PG_ROOT"])
    # The example's cluster, as the test sees it (the file reads the same variables).
    cluster = FailoverTopology[LocalInstance](LocalInstance("pg-a", root=f"{root}/a"), LocalInstance("pg-b", root=f"{root}/b", port_shift=1))
    config = PostgreSQLScore("app", port=int(example_env["HARMONY_PG_PORT"])).config
    killed_log = root / "a" / "15" / "app" / "server.log"
    data = root / "a" / "15" / "app" / "data"
    os.kill(int((data / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
    log_before = killed_log.stat().st_size

    failed_over = run_example(example_env, "failover_postgres_promote.py", HARMONY_PG_FAILOVER="1", HARMONY_PG_PRIMARY="replica")
    assert failed_over.returncode == 0, failed_over.stdout + failed_over.stderr
    assert "replica (127.0.0.1:" in failed_over.stdout and "): primary" in failed_over.stdout  # the status report
    # Nothing started the killed server, not even for a moment.
    assert "starting PostgreSQL" not in killed_log.read_bytes()[log_before:].decode(errors="replace")

    status = anyio.run(cluster.postgresql().status, config)
    assert status.member("replica").state.role is ReplicationRole.PRIMARY
    assert status.member("primary").state.role is ReplicationRole.STOPPED and status.member("primary").state.fenced

    # The deploy file rejoins the killed member as a replica of the new primary.
    rejoined = run_example(example_env, "failover_postgres.py")
    assert rejoined.returncode == 0, rejoined.stdout + rejoined.stderr
    status = anyio.run(cluster.postgresql().status, config)
    assert status.member("primary").state.upstream == status.member("replica").address
