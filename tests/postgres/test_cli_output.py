"""What a person reads from the command line about a replicated PostgreSQL cluster.

Found: the plan of a failover deploy listed "start PostgreSQL" and the like
without saying on which member, and ``PostgreSQLStatusScore``'s report
appeared only in ``--json``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import free_port_pair

ROOT = Path(__file__).parent.parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harmony_py", *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "250"}, cwd=ROOT,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pair_file(pg_root: Path) -> tuple[Path, int]:
    port = free_port_pair()
    path = pg_root / "cli_pair.py"
    path.write_text(textwrap.dedent(f"""
        from capabilities import PgUser
        from harmony_py import Maestro
        from harmony_py.scores import PostgreSQLScore, PostgreSQLStatusScore
        from topologies import FailoverTopology
        from topologies import LocalInstance

        cluster = FailoverTopology[LocalInstance](
            LocalInstance("cli-a", root="{pg_root}/cli-a"), LocalInstance("cli-b", root="{pg_root}/cli-b", port_shift=1)
        )
        app = PostgreSQLScore("cliapp", port={port}, databases=["app"], users=[PgUser("app", databases=("app",))])
        maestro = Maestro(cluster).add(app, PostgreSQLStatusScore(app))
    """))
    return path, port


def test_fresh_failover_plan_lines_name_their_member(pair_file: tuple[Path, int]) -> None:
    path, port = pair_file
    planned = run_cli("plan", str(path))
    assert planned.returncode == 0, planned.stderr
    change_lines = [line.strip() for line in planned.stdout.splitlines() if re.match(r"^    [+~>-] ", line)]
    assert change_lines, planned.stdout
    for line in change_lines:
        assert re.match(r"^[+~>-] (primary|replica): ", line), line
    assert f"> primary: start PostgreSQL on port {port}" in change_lines
    assert "+ replica: clone primary with pg_basebackup and stream from it" in change_lines


def test_status_score_shows_each_member_in_human_output(pair_file: tuple[Path, int]) -> None:
    path, port = pair_file
    applied = run_cli("apply", "--yes", str(path))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    lines = [line.strip() for line in applied.stdout.splitlines()]
    assert any(line.startswith(f"primary (127.0.0.1:{port}): primary, standbys [replica sync lag") for line in lines), applied.stdout
    replica = f"replica (127.0.0.1:{port + 1}): replica of 127.0.0.1:{port}, replay lag "
    assert any(line.startswith(replica) for line in lines), applied.stdout
