"""The rendered compose file, checked by Docker Compose itself (``docker-compose config``; no engine needed).

Debian's ``docker-compose`` (1.29, scripts/apt-packages.txt) parses, validates
and interpolates the file as ``up`` would. The secret variables come from an
``.env`` file made from the rendered ``compose.env.example``, as a user makes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parent.parent
SHOP = ROOT / "examples" / "shop.py"
VALUES = {"SHOP_DB_PASSWORD": "pa$$:word", "SHOP_WEB_DATABASE_URL": "postgresql://shop:pa%24@shop-db:25433/shop"}


def compose_command() -> list[str]:
    found = shutil.which("docker-compose")
    if found is None:
        pytest.fail("docker-compose is not installed: run scripts/system-packages.sh (Debian package docker-compose)")
    return [found]


def compose_config(directory: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("SHOP_")}
    return subprocess.run(
        [*compose_command(), "--project-directory", str(directory), "-f", str(directory / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        cwd=directory,
        timeout=120,
    )


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    out = tmp_path / "compose"
    done = subprocess.run(
        [sys.executable, "-m", "harmony_py", "render", str(SHOP), "--out", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_docker_compose_accepts_the_rendered_shop_with_its_secrets_supplied(rendered: Path) -> None:
    example = (rendered / "compose.env.example").read_text()
    variables = [line.rstrip("=") for line in example.splitlines() if line and not line.startswith("#")]
    (rendered / ".env").write_text("".join(f"{name}={VALUES.get(name, 'a-value')}\n" for name in variables))
    checked = compose_config(rendered)
    assert checked.returncode == 0, checked.stderr
    resolved = yaml.safe_load(checked.stdout)
    web, db = resolved["services"]["shop-web"], resolved["services"]["shop-db"]
    assert web["depends_on"] == {"shop-db": {"condition": "service_healthy"}}
    assert web["deploy"]["replicas"] == 2
    assert web["healthcheck"]["test"][:2] == ["CMD", "wget"]
    # The values reached the services from .env, as written (compose doubles a '$' in its output).
    assert web["environment"]["DATABASE_URL"] == VALUES["SHOP_WEB_DATABASE_URL"]
    assert db["environment"]["POSTGRES_PASSWORD"] == VALUES["SHOP_DB_PASSWORD"].replace("$", "$$")


def test_docker_compose_refuses_the_rendered_shop_while_a_secret_is_missing(rendered: Path) -> None:
    checked = compose_config(rendered)
    assert checked.returncode != 0
    assert "set SHOP_DB_PASSWORD (see compose.env.example)" in checked.stderr
