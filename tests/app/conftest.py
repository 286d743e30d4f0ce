"""The application tests' real parts: PostgreSQL servers, a Docker engine with the shop image, an nginx.

PostgreSQL and the engine come from the postgres and docker suites' fixtures
(each its own instance here); applications answer on 127.36.0.0/16, the
addresses this area owns. Every application a test deploys is removed
afterwards, also when the test fails.
"""

from __future__ import annotations

import json
import os
import secrets as secrets_module
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import anyio
import pytest

from harmony_py import Maestro
from harmony_py.cli.loader import load_maestro
from harmony_py.cli.main import main
from harmony_py.scores import ApplicationScore, PostgreSQLSwitchoverScore
from tests.docker.conftest import Engine, balancer_root, engine
from tests import ports
from tests.postgres.conftest import free_port_pair, pg_root
from topologies import ApplicationTopology, FailoverTopology

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

import shop_app  # noqa: E402  (the example's package, found through EXAMPLES)

__all__ = ["balancer_root", "engine", "pg_root"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on ``host`` and 127.0.0.1, below the kernel's ephemeral range and above the replicas' backend ports (20000-20999)."""
    return ports.free_port(host, "127.0.0.1")


@pytest.fixture(scope="session")
def shop_image(engine: Engine) -> str:
    """The shop's image, imported into the suite's engine."""
    shop_app.build_image(engine.client)
    return shop_app.IMAGE


SHOP = str(EXAMPLES / "shop.py")


@dataclass
class Shop:
    """The example applied through the command line, in this process, as a user would."""

    kind: str
    root: Path
    address: str
    port: int
    api_key: str
    capsys: pytest.CaptureFixture[str]
    engine: Engine | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def cli(self, *args: str) -> tuple[int, str]:
        """Run ``python -m harmony_py ARGS examples/shop.py``: the exit code and everything printed."""
        self.capsys.readouterr()
        code = main([*args, SHOP])
        captured = self.capsys.readouterr()
        return code, captured.out + captured.err

    def post(self, item: str) -> dict[str, object]:
        request = urllib.request.Request(f"{self.url}/orders", data=json.dumps({"item": item}).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            answer: dict[str, object] = json.loads(response.read())
            return answer

    def orders(self) -> list[dict[str, object]]:
        with urllib.request.urlopen(f"{self.url}/orders", timeout=10) as response:
            answer: list[dict[str, object]] = json.loads(response.read())
            return answer

    def traces(self) -> str:
        """What the platform keeps about the application: its logs, and its containers' labels."""
        found = [log.read_text() for log in self.root.glob("apps/*/app.log")]
        if self.engine is not None:
            for container in self.engine.client.containers.list(all=True):
                found += [json.dumps(container.labels), container.logs().decode(errors="replace")]
        return "\n".join(found)

    def secrets(self) -> list[str]:
        """Every secret value of the run: the API key, and the database password and URL as the app got them."""
        found = [self.api_key]
        for url_file in self.root.glob("**/shop-web/env/DATABASE_URL"):
            url = url_file.read_text().strip()
            found += [url, urllib.parse.unquote(urllib.parse.urlsplit(url).password or "")]
        for stored in (self.root / "secrets").glob("**/*"):
            if stored.is_file():
                found.append(stored.read_text().strip())
        return [value for value in found if value]



def switch_over_then_reapply(shop: Shop) -> tuple[str, dict[str, Any]]:
    """Move the shop's database primary to the replica, apply the same file again through the CLI.

    Returns the JSON the apply printed and the report of ``shop.web`` in it.
    """
    maestro = load_maestro(SHOP)
    topology = maestro.topology
    [application] = maestro.scores
    assert isinstance(topology, ApplicationTopology) and isinstance(application, ApplicationScore)
    database = application.database_score()
    assert database is not None
    cluster = cast("FailoverTopology[Any]", topology.database)

    async def switch_over() -> bool:
        async with Maestro(cluster).add(PostgreSQLSwitchoverScore(database, to="replica")) as switching:
            return (await switching.apply()).ok

    assert anyio.run(switch_over)
    code, applied = shop.cli("apply", "--yes", "--json")
    assert code == 0, applied
    web = next(score for score in json.loads(applied)["apply"]["scores"] if score["identity"] == "shop.web")
    return applied, web


def stop_supervised_apps(apps_root: Path) -> None:
    for service in apps_root.glob("*"):
        subprocess.run(["sv", "-w", "5", "force-stop", str(service)], capture_output=True, check=False)
        subprocess.run(["sv", "exit", str(service)], capture_output=True, check=False)


@pytest.fixture
def shop(pg_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest) -> Iterator[Shop]:
    """The example's environment for one topology (``SHOP_TOPOLOGY`` set by the test's parameter)."""
    kind: str = request.param
    root = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=pg_root))  # a test of its own, when several use one kind
    root.chmod(0o755)
    address = f"127.36.0.{ {'localhost': 1, 'docker': 2, 'failover': 3, 'failover-auto': 4}[kind] }"
    shop = Shop(kind, root, address, free_port(address), secrets_module.token_urlsafe(16), capsys)
    db_port = free_port_pair()  # failover's replica listens one above
    for key, value in {
        "SHOP_TOPOLOGY": kind,
        "SHOP_ROOT": str(root),
        "SHOP_ADDRESS": address,
        "SHOP_PORT": str(shop.port),
        "SHOP_DB_PORT": str(db_port),
        "SHOP_API_KEY": shop.api_key,
        "HARMONY_SECRETS_DIR": str(root / "secrets"),
        # The shop runs `python3`: this interpreter, which has psycopg (CI runs .venv/bin/python unactivated).
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }.items():
        monkeypatch.setenv(key, value)
    engine: Engine | None = None
    if kind == "docker":
        engine = shop.engine = request.getfixturevalue("engine")
        request.getfixturevalue("shop_image")
        monkeypatch.setenv("SHOP_DOCKER_HOST", engine.socket)
        monkeypatch.setenv("SHOP_BALANCER_ROOT", request.getfixturevalue("balancer_root"))
    try:
        yield shop
    finally:
        stop_supervised_apps(root / "apps")
        if engine is not None:
            for container in engine.client.containers.list(all=True):
                container.remove(force=True)


@pytest.fixture(autouse=True)
def private_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Passwords a test generates (even a plan makes the replication one) stay in its own directory."""
    monkeypatch.setenv("HARMONY_SECRETS_DIR", str(tmp_path / "secrets"))
