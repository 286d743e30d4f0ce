"""The localhost process runtime on its own: idempotent for any environment, and what the program sees.

The program is busybox's httpd serving a directory holding ``health``, so each
start takes milliseconds; the runtime, runit and the files are the real ones.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capabilities.application import AppSpec
from harmony_py import Secret
from topologies import LocalhostTopology

from .conftest import free_port, stop_supervised_apps

ADDRESS = "127.36.1.1"
COMMAND = ("sh", "-c", 'exec busybox httpd -f -p "$HOST:$PORT" -h .')
NAMES = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True).filter(lambda name: name not in {"PORT", "HOST", "PATH", "HOME"})
VALUES = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)
ENVIRONMENTS = st.dictionaries(NAMES, st.one_of(VALUES, VALUES.map(Secret)), max_size=4)


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalhostTopology, Path]]:
    root = tmp_path_factory.mktemp("apps")
    site = root / "site"
    site.mkdir()
    (site / "health").write_text("ok\n")
    try:
        yield LocalhostTopology(apps_root=str(root / "run"), app_address=ADDRESS, app_start_timeout_s=10), site
    finally:
        stop_supervised_apps(root / "run")


def spec(site: Path, port: int, env: dict[str, str | Secret], name: str = "probe") -> AppSpec:
    return AppSpec(name, "unused:1", COMMAND, 1, port, "/health", env, source=str(site))


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(env=ENVIRONMENTS)
def test_any_environment_converges_then_applying_again_changes_nothing(
    apps: tuple[LocalhostTopology, Path], env: dict[str, str | Secret]
) -> None:
    host, site = apps
    wanted = spec(site, PORT, env)

    async def check() -> None:
        await host.application_runtime().deploy(wanted)
        assert await host.application_runtime().plan(wanted) == []
        assert await host.application_runtime().deploy(wanted) == []
        assert await host.application_runtime().url(wanted) == f"http://{ADDRESS}:{PORT}"

    anyio.run(check)


PORT = free_port(ADDRESS)


def test_the_program_sees_its_variables_and_nothing_else_of_harmony(apps: tuple[LocalhostTopology, Path]) -> None:
    host, site = apps
    port = free_port(ADDRESS)
    wanted = spec(site, port, {"GREETING": "hello", "TOKEN": Secret("t0ken-value")}, name="probe-env")
    os.environ["HARMONY_PROBE_LEAK"] = "must-not-reach-the-program"
    try:
        changes = anyio.run(host.application_runtime().deploy, wanted)
    finally:
        del os.environ["HARMONY_PROBE_LEAK"]
    assert "t0ken-value" not in repr(changes)
    status = subprocess.run(["sv", "status", f"{host.apps_root}/probe-env"], capture_output=True, text=True, check=True)
    pid = status.stdout.split("(pid ")[1].split(")")[0]
    environ = dict(
        item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if item
    )
    assert {key: environ[key] for key in ("GREETING", "TOKEN", "PORT", "HOST")} == {
        "GREETING": "hello", "TOKEN": "t0ken-value", "PORT": str(port), "HOST": ADDRESS,
    }  # fmt: skip
    assert set(environ) <= {"GREETING", "TOKEN", "PORT", "HOST", "PATH", "HOME", "PWD"}
    env_files = Path(host.apps_root, "probe-env", "env")
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in env_files.iterdir())
    assert "t0ken-value" not in Path(host.apps_root, "probe-env", "run").read_text()
