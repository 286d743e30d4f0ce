"""The shop example as the README tells a new user to run it: `.venv/bin/python -m harmony_py apply`, unactivated.

The README's set-up command plus the ``examples`` extra is all it needs: no
virtualenv activated, so ``python3`` on the user's PATH is a Python without
psycopg. The application must still answer, because it runs on the
interpreter harmony_py runs with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from .conftest import EXAMPLES, free_port, stop_supervised_apps
from tests.postgres.conftest import free_port_pair

ROOT = EXAMPLES.parent
ADDRESS = "127.36.0.11"


def unactivated_path() -> str:
    """The user's PATH without this virtualenv's bin directory, as in a shell that never activated it."""
    venv_bin = os.path.dirname(sys.executable)
    return os.pathsep.join(entry for entry in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if entry != venv_bin)


def test_shop_example_answers_when_applied_from_an_unactivated_virtualenv(pg_root: Path) -> None:
    root = pg_root / "first-hour"
    root.mkdir()
    root.chmod(0o755)
    port = free_port(ADDRESS)
    env = {
        **os.environ,
        "PATH": unactivated_path(),
        "SHOP_TOPOLOGY": "localhost",
        "SHOP_ROOT": str(root),
        "SHOP_ADDRESS": ADDRESS,
        "SHOP_PORT": str(port),
        "SHOP_DB_PORT": str(free_port_pair()),
        "HARMONY_SECRETS_DIR": str(root / "secrets"),
    }
    try:
        applied = subprocess.run(
            [sys.executable, "-m", "harmony_py", "apply", "--yes", "--json", "examples/shop.py"],
            capture_output=True, text=True, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, timeout=300,
        )  # fmt: skip
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert json.loads(applied.stdout)["ok"] is True
        order = urllib.request.Request(f"http://{ADDRESS}:{port}/orders", data=json.dumps({"item": "tea"}).encode(), method="POST")
        with urllib.request.urlopen(order, timeout=10) as response:
            assert response.status == 201
    finally:
        stop_supervised_apps(root / "apps")
