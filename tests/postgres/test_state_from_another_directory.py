"""The found case of issue 11, on a real PostgreSQL 15: a score file planned from another directory.

The store used to be under the working directory: planning the same file from
elsewhere found no passwords and proposed ``~ update role app (login,
password)``, so ``apply --yes`` would have rotated every generated password.
Now the store is beside the score file, wherever the command runs from.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg

from topologies.secret_store import ENV_VAR

from .conftest import free_port_pair

ROOT = Path(__file__).parents[2]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != ENV_VAR}  # the session sets it
    return subprocess.run(
        [sys.executable, "-m", "harmony_py", *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
        env={**env, "PYTHONPATH": str(ROOT)}, cwd=cwd,
    )  # fmt: skip


def test_postgresql_score_planned_from_another_directory_keeps_its_generated_passwords(
    pg_root: Path, tmp_path: Path
) -> None:
    port = free_port_pair()
    project = tmp_path / "project"
    project.mkdir()
    score = project / "db.py"
    score.write_text(
        textwrap.dedent(
            f"""
            from harmony_py import Maestro
            from harmony_py.scores import PostgreSQLScore
            from topologies import LocalInstance

            maestro = Maestro(LocalInstance("elsewhere", root={str(pg_root / "elsewhere")!r})).add(
                PostgreSQLScore("elsewhere", port={port}, users=["app"], databases=["app"])
            )
            """
        )
    )
    here, there = tmp_path / "a", tmp_path / "b"
    here.mkdir()
    there.mkdir()

    applied = run_cli("apply", "--yes", str(score), cwd=here)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    planned = run_cli("plan", "--detailed-exitcode", str(score), cwd=there)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "update role" not in planned.stdout

    password_file = project / ".harmony" / "secrets" / "postgresql" / "elsewhere" / "app"
    password = password_file.read_text().strip()
    with psycopg.connect(host="127.0.0.1", port=port, dbname="app", user="app", password=password) as connection:
        assert connection.execute("SELECT current_user").fetchone() == ("app",)
    assert not (here / ".harmony").exists() and not (there / ".harmony").exists()
