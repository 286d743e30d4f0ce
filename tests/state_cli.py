"""Running ``python -m harmony_py`` as users do, for the state, lock and interrupt tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from topologies.secret_store import ENV_VAR

ROOT = Path(__file__).parent.parent


def cli_env() -> dict[str, str]:
    """This environment, minus a secret-store override a test session may have set."""
    env = {key: value for key, value in os.environ.items() if key != ENV_VAR}
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harmony_py", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=cli_env(),
        cwd=cwd,
        timeout=120,
    )


def start_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harmony_py", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=cli_env(),
        cwd=cwd,
    )
