"""The shop example applied for real to a Linux host over SSH (``SHOP_TOPOLOGY=linux``), through the CLI.

The host is a real sshd on 127.36.0.10 with a private ``/var/lib/postgresql``
(its own mount namespace), so PostgreSQL lives on "the host" as on a
separate machine. Its Docker engine is the suite's own, reached only through
the socket the SSH connection forwards; its nginx balancer runs there,
driven over SSH. The application then answers through that balancer with a
row it wrote through ``DATABASE_URL``; a second apply changes nothing, a plan
after it is empty, and no secret value is printed or put in a label.
"""

from __future__ import annotations

import json
import os
import secrets as secrets_module
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from capabilities.postgresql import PgConfig
from harmony_py import Maestro, MissingCapabilityError
from harmony_py.errors import ScoreValueError
from harmony_py.scores import ApplicationScore
from tests.docker.conftest import QUIET_SHELL, Engine, _stop_process
from tests.postgres.conftest import free_port_pair
from tests.ssh.netns_hosts import stop_postgres_under
from tests.ssh.sshd import SshServer, make_user_key, start_server, stop_server, write_known_hosts
from topologies import LinuxHostTopology

from .conftest import Shop, free_port, switch_over_then_reapply

import shop_app  # noqa: E402  (examples/ is on the path: conftest puts it there, mypy_path names it)

HOST = "127.36.0.10"
DB_HOSTS = ("127.36.0.20", "127.36.0.21")
"""The database hosts of the failover case: each listens on its own address, all on one port."""
PG_HOME = Path("/var/lib/postgresql")
BACKEND_PORTS = range(20000, 21000)
"""Where the host's replicas listen (the runtime's default): the shop and its database stay out of it."""


def port_outside_backends(choose: Callable[[], int]) -> int:
    for _ in range(100):
        port = choose()
        if port not in BACKEND_PORTS and port + 1 not in BACKEND_PORTS:
            return port
    raise RuntimeError("no free port outside the backend ports")


@pytest.fixture
def linux_shop(
    engine: Engine,
    shop_image: str,
    pg_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> Iterator[Shop]:
    """The example's environment for an SSH host (and two database hosts for "failover"); all stopped afterwards."""
    database: str = request.param
    root = pg_root / f"linux-{database}"
    root.mkdir()
    root.chmod(0o755)
    user_key = make_user_key(root)
    balancer_root = root / "nginx"
    servers: list[SshServer] = []
    try:
        servers.append(server := start_server(HOST, root / "sshd", user_key, extra_config=QUIET_SHELL, mount_point=PG_HOME))
        if database == "failover":
            for index, address in enumerate(DB_HOSTS):
                servers.append(
                    start_server(address, root / f"db{index}", user_key, extra_config=QUIET_SHELL, mount_point=PG_HOME)
                )
            monkeypatch.setenv("SHOP_SSH_DB_HOSTS", " ".join(f"{s.address}:{s.port}" for s in servers[1:]))
            monkeypatch.setenv("SHOP_DB_NETWORK", "127.36.0.0/16")
        known_hosts = write_known_hosts(root / "known_hosts", servers)
        shop = Shop("linux", root, HOST, port_outside_backends(lambda: free_port(HOST)), secrets_module.token_urlsafe(16), capsys, engine)
        for key, value in {
            "SHOP_TOPOLOGY": "linux",
            "SHOP_ROOT": str(root),
            "SHOP_PORT": str(shop.port),
            "SHOP_DB_PORT": str(port_outside_backends(free_port_pair)),
            "SHOP_API_KEY": shop.api_key,
            "SHOP_SSH_HOST": HOST,
            "SHOP_SSH_PORT": str(server.port),
            "SHOP_SSH_USER": "root",
            "SHOP_SSH_KEY": str(user_key.private_path),
            "SHOP_SSH_KNOWN_HOSTS": str(known_hosts),
            "SHOP_DOCKER_SOCKET": engine.socket,
            "SHOP_BALANCER_ROOT": str(balancer_root),
            "HARMONY_SECRETS_DIR": str(root / "secrets"),
            # The image runs this interpreter (mounted from the host), which has psycopg.
            "PATH": f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        }.items():
            monkeypatch.setenv(key, value)
        yield shop
    finally:
        for container in engine.client.containers.list(all=True):
            container.remove(force=True)
        pid_file = balancer_root / "nginx.pid"
        if pid_file.exists() and pid_file.read_text().strip().isdigit():
            _stop_process(int(pid_file.read_text().strip()))
        for each in servers:
            assert each.view is not None
            stop_postgres_under(each.view)
            stop_server(each)


@pytest.mark.parametrize("linux_shop", ["host", "failover"], indirect=True)
def test_the_shop_runs_on_an_ssh_host_from_the_same_file(linux_shop: Shop) -> None:
    """Its database on the host itself, or a primary and a streaming replica on two other SSH hosts."""
    shop = linux_shop
    failover = shop.root.name.endswith("failover")
    code, planned = shop.cli("plan", "--detailed-exitcode")
    assert code == 2, planned
    assert "shop.db" in planned and "shop.web" in planned and "known after apply" in planned

    code, applied = shop.cli("apply", "--yes", "--json")
    assert code == 0, applied
    document = json.loads(applied)
    states = {score["identity"]: score["state"] for score in document["apply"]["scores"]}
    assert states == {"shop.contract": "unchanged", "shop.db": "changed", "shop.web": "changed"}, applied

    # Through the balancer on the host: the row went through DATABASE_URL to PostgreSQL there.
    created = shop.post("tea")
    assert {"id": created["id"], "item": "tea"} in shop.orders()
    replicas = shop_replicas(shop)
    assert len(replicas) == 2 and all(container.attrs["State"]["Health"]["Status"] == "healthy" for container in replicas)
    # PostgreSQL lives on its hosts: in their private /var/lib/postgresql, not this machine's.
    if failover:
        assert [bool(list(shop.root.glob(f"{db}/view/15/shop/data/PG_VERSION"))) for db in ("sshd", "db0", "db1")] == [False, True, True]
        assert (shop.root / "db1/view/15/shop/data/standby.signal").exists()
    else:
        assert list(shop.root.glob("sshd/view/15/shop/data/PG_VERSION"))
    database_host = DB_HOSTS[0] if failover else "127.0.0.1"

    code, again = shop.cli("apply", "--yes")
    assert code == 0, again
    assert "3 unchanged" in again, again
    code, replanned = shop.cli("plan", "--detailed-exitcode", "--json")
    assert code == 0, replanned

    traces = shop.traces()  # the containers' labels and logs
    assert "POST /orders" in traces
    shown = planned + applied + again + replanned + traces
    secrets = shop.secrets()
    assert len(secrets) >= 3, "the API key and the generated database passwords are searched for"
    for secret in secrets:
        assert secret not in shown
    for container in shop_replicas(shop):
        env = container.attrs["Config"]["Env"]
        assert f"SHOP_API_KEY={shop.api_key}" in env  # the secret reached the program, and only its environment
        [url] = [line for line in env if line.startswith("DATABASE_URL=postgresql://shop:")]
        assert f"@{database_host}:" in url  # the primary's address, or the host's loopback (adr/0066)

    if failover:
        switch_over_then_apply_again(shop, created)


def switch_over_then_apply_again(shop: Shop, created: dict[str, object]) -> None:
    """The primary moves to the other SSH host; applying the same file again points the application there."""
    applied, web = switch_over_then_reapply(shop)
    # A new DATABASE_URL is a new revision of the replicas: a rolling replacement behind the balancer.
    assert web["state"] == "changed" and all("replace replica" in change["summary"] for change in web["changes"]), web
    assert {"id": created["id"], "item": "tea"} in shop.orders()  # written before, read from the new primary
    shop.post("coffee")
    for container in shop_replicas(shop):
        assert any(line.startswith("DATABASE_URL=") and f"@{DB_HOSTS[1]}:" in line for line in container.attrs["Config"]["Env"])
    for secret in shop.secrets():
        assert secret not in applied


def shop_replicas(shop: Shop) -> list[Any]:
    assert shop.engine is not None
    found: list[Any] = shop.engine.client.containers.list(filters={"label": "io.harmony.service=shop-web"})
    return found


def test_a_host_without_a_docker_engine_is_refused_before_anything_changes(tmp_path: Path) -> None:
    """The capability check asks the engine (at ensure_ready): none, and the application is not applied."""
    user_key = make_user_key(tmp_path)
    server = start_server("127.36.0.11", tmp_path / "sshd", user_key, extra_config=QUIET_SHELL, mount_point=PG_HOME)
    try:
        known_hosts = write_known_hosts(tmp_path / "known_hosts", [server])
        host = LinuxHostTopology(
            server.address, port=server.port, user="root", client_keys=(str(user_key.private_path),),
            use_agent=False, known_hosts=str(known_hosts), docker_socket=str(tmp_path / "no-engine.sock"),
        )  # fmt: skip
        shop = ApplicationScore("shop", image=shop_app.IMAGE, command=shop_app.COMMAND)

        async def apply() -> None:
            async with Maestro(host).add(shop) as maestro:
                await maestro.apply()

        with pytest.raises(MissingCapabilityError, match="applications run in containers here, but no Docker engine"):
            anyio.run(apply)
        assert server.view is not None and not list(server.view.iterdir())  # no database made on the host
    finally:
        stop_server(server)


def test_the_host_s_database_settings_apply_once_and_bad_ones_are_named() -> None:
    """postgres_listen replaces loopback-only listening, postgres_networks adds to the score's; applied twice, the same."""
    host = LinuxHostTopology("192.0.2.20", postgres_listen=("192.0.2.20",), postgres_networks=("192.0.2.0/24",))
    default = PgConfig("shop")
    networked = host.postgresql().placement.config(default)
    assert networked.listen_addresses == ("192.0.2.20",)
    assert networked.allowed_networks == ("127.0.0.1/32", "192.0.2.0/24")
    assert host.postgresql().placement.config(networked) == networked
    assert host.postgresql().layout(default).host == "192.0.2.20"
    # A score that names where it listens keeps it.
    explicit = PgConfig("shop", listen_addresses=("*",))
    assert host.postgresql().placement.config(explicit).listen_addresses == ("*",)
    # Without settings, a host runs every config as written.
    assert LinuxHostTopology("192.0.2.21").postgresql().placement.config(default) == default

    with pytest.raises(ScoreValueError, match="postgres_listen: 'db one'"):
        LinuxHostTopology("192.0.2.22", postgres_listen=("db one",)).postgresql().placement.config(default)
    with pytest.raises(ScoreValueError, match="postgres_networks: '10.0.0.0/33'"):
        LinuxHostTopology("192.0.2.22", postgres_networks=("10.0.0.0/33",)).postgresql().placement.config(default)
    with pytest.raises(ScoreValueError, match="set app_address"):
        LinuxHostTopology("db.example").application_runtime()
