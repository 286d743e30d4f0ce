"""The README's shape over TLS: an application on an SSH host, its database a failover pair on two other machines.

``ApplicationTopology(runtime=<SSH host>, database=FailoverTopology[LinuxHostTopology](a, b))``:
the database hosts are network namespaces with their own ``/var/lib/postgresql``
(``tests/ssh/netns_hosts.py``) listening on their own addresses, so TLS is on by
default (adr/0100). The endpoint's ``sslrootcert`` is a path on those hosts,
which the application's host cannot read: the platform writes the cluster's CA
beside the application, mounts it into the replica, and the shop connects with
``sslmode=verify-full`` against that copy. A client trusting another authority
is refused.
"""

from __future__ import annotations

import os
import secrets as secrets_module
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from capabilities.postgresql import PgEndpoint
from harmony_py import Maestro, ScoreState, Secret
from harmony_py.report import RunReport
from harmony_py.scores import ApplicationScore, PostgreSQLDatabase
from tests.docker.conftest import QUIET_SHELL, Engine, _stop_process
from tests.postgres.conftest import PG_BIN
from tests.ssh.netns_hosts import APP_PAIR, two_hosts
from tests.ssh.sshd import make_user_key, start_server, stop_server, write_known_hosts
from topologies import ApplicationTopology, FailoverTopology, LinuxHostTopology
from topologies.app.containers import DEFAULT_ROOT
from topologies.postgres.tls import new_authority

from .conftest import free_port

import shop_app  # noqa: E402  (examples/ is on the path: conftest puts it there)

APP_HOST = "127.36.0.40"
PG_HOME = Path("/var/lib/postgresql")
APP = "tlsshop"
WEB = "tlsshop-web"
DB_PORT = 25470
"""On each database host, in its own network namespace: no other test listens there."""


@dataclass
class TlsShop:
    topology: ApplicationTopology
    score: ApplicationScore
    port: int
    engine: Engine

    def run(self, what: str) -> RunReport:
        async def closing() -> RunReport:
            maestro = Maestro(self.topology).add(self.score)
            try:
                report: RunReport = await (maestro.apply() if what == "apply" else maestro.plan())
                return report
            finally:
                await self.topology.aclose()

        return anyio.run(closing)

    def endpoint(self) -> PgEndpoint:
        database = self.score.database_score()
        assert database is not None

        async def closing() -> PgEndpoint:
            try:
                return await self.topology.postgresql().endpoint(database.config, APP)
            finally:
                await self.topology.aclose()

        return anyio.run(closing)

    def replicas(self) -> list[Any]:
        found: list[Any] = self.engine.client.containers.list(filters={"label": f"io.harmony.service={WEB}"})
        return found


@pytest.fixture(scope="module")
def tls_shop(engine: Engine, shop_image: str, pg_root: Path) -> Iterator[TlsShop]:
    root = pg_root / "tls-over-ssh"
    root.mkdir()
    root.chmod(0o755)
    user_key = make_user_key(root)
    app_server = None
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARMONY_SECRETS_DIR", str(root / "secrets"))
        # The image runs this interpreter (mounted from the host), which has psycopg.
        patch.setenv("PATH", f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '/usr/bin:/bin')}")
        try:
            with two_hosts(root, user_key, mount_point=PG_HOME, pair=APP_PAIR) as (db_a, db_b):
                app_server = start_server(APP_HOST, root / "app-host", user_key, extra_config=QUIET_SHELL)
                known_hosts = write_known_hosts(root / "known_hosts", [app_server, db_a.server, db_b.server])
                # Each apply connects to the three hosts afresh while a full suite loads the machine:
                # room for a slow handshake, which is not what this test is about.
                login: dict[str, Any] = {
                    "user": "root", "client_keys": (str(user_key.private_path),), "known_hosts": str(known_hosts),
                    "use_agent": False, "connect_timeout_s": 20.0,
                }  # fmt: skip

                def database_host(address: str, port: int) -> LinuxHostTopology:
                    return LinuxHostTopology(
                        address, port=port, postgres_listen=(address,), postgres_networks=(APP_PAIR.network,), **login
                    )

                runtime = LinuxHostTopology(
                    APP_HOST, port=app_server.port, docker_socket=engine.socket, balancer_root=str(root / "nginx"),
                    app_host_paths=shop_app.host_paths(), **login,
                )  # fmt: skip
                database = FailoverTopology[LinuxHostTopology](
                    database_host(APP_PAIR.address_a, db_a.server.port), database_host(APP_PAIR.address_b, db_b.server.port)
                )
                port = free_port(APP_HOST)
                score = ApplicationScore(
                    APP, image=shop_image, command=shop_app.COMMAND, replicas=1, port=port,
                    database=PostgreSQLDatabase(port=DB_PORT), secrets={"SHOP_API_KEY": Secret(secrets_module.token_urlsafe(8))},
                )  # fmt: skip
                yield TlsShop(ApplicationTopology(runtime=runtime, database=database), score, port, engine)
        finally:
            for container in engine.client.containers.list(all=True, filters={"label": f"io.harmony.service={WEB}"}):
                container.remove(force=True)
            pid_file = root / "nginx" / "nginx.pid"
            if pid_file.exists() and pid_file.read_text().strip().isdigit():
                _stop_process(int(pid_file.read_text().strip()))
            if app_server is not None:
                stop_server(app_server)
            shutil.rmtree(f"{DEFAULT_ROOT}/{WEB}", ignore_errors=True)


def psql(conninfo: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PG_BIN / "psql"), "-X", "-A", "-t", "-d", conninfo, "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],
        capture_output=True, text=True, timeout=30, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "PGPASSWORD": password},
    )  # fmt: skip


def test_an_application_on_another_host_verifies_its_database_with_the_ca_placed_beside_it(
    tls_shop: TlsShop, tmp_path: Path
) -> None:
    first = tls_shop.run("apply")
    assert first.ok, [s.message for s in first.scores]
    endpoint = tls_shop.endpoint()
    assert endpoint.sslmode == "verify-full" and endpoint.ca_certificate is not None  # on by default beyond loopback
    assert endpoint.sslrootcert is not None and not Path(endpoint.sslrootcert).exists(), "only on the database hosts"

    placed = Path(DEFAULT_ROOT) / WEB / "DATABASE_URL.root.crt"
    assert placed.read_text() == endpoint.ca_certificate and placed.stat().st_mode & 0o777 == 0o644
    [replica] = tls_shop.replicas()
    [url] = [line.partition("=")[2] for line in replica.attrs["Config"]["Env"] if line.startswith("DATABASE_URL=")]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["sslmode"] == ["verify-full"] and query["sslrootcert"] == [str(placed)]

    # The application answers through its database, and its own URL connects over TLS from inside the replica.
    with urllib.request.urlopen(f"http://{APP_HOST}:{tls_shop.port}/orders", timeout=10) as answer:
        assert answer.status == 200
    check = "import os, psycopg; c = psycopg.connect(os.environ['DATABASE_URL']); " + (
        "print(c.execute('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()').fetchone()[0])"
    )
    code, output = replica.exec_run([sys.executable, "-c", check])
    assert (code, output.decode().strip()) == (0, "True")

    # The same URL trusting another authority is refused; trusting the placed copy, it connects.
    password = urllib.parse.unquote(urllib.parse.urlsplit(url).password or "")
    other = tmp_path / "other.crt"
    other.write_text(new_authority("someone-else").certificate)
    base = f"host={endpoint.host} port={endpoint.port} dbname={APP} user={APP} sslmode=verify-full"
    assert psql(f"{base} sslrootcert={placed}", password).stdout.strip() == "t"
    refused = psql(f"{base} sslrootcert={other}", password)
    assert refused.returncode != 0 and "certificate verify failed" in refused.stderr, refused.stderr

    again = tls_shop.run("apply")
    assert [r.state for r in again.scores] == [ScoreState.UNCHANGED] * 3, "\n".join(
        f"{r.name}: {r.state.value}: {r.message}" for r in again.scores
    )  # each message whole: a list's repr is cut short in the failure line
    assert not tls_shop.run("plan").has_changes
