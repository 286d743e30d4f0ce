"""Docker and the nginx balancer on a LinuxHostTopology: the suite's engine reached only through SSH.

Each host is a real sshd on its own 127.35.0.N address. The topology is
given the engine's socket as a path *on the host*; the docker SDK only ever
sees a forwarded local socket in a private directory, which the SSH
connection carries to it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from harmony_py import Maestro, MissingCapabilityError, RunReport, ScoreState
from harmony_py.scores import ContainerScore, ReplicatedServiceScore, UpdatePolicy
from tests.ssh.sshd import SshServer, free_port as sshd_free_port, UserKey, make_user_key, start_server, stop_server, write_known_hosts
from topologies import LinuxHostTopology, linux_hosts

from .conftest import IMAGE, QUIET_SHELL, Engine, _stop_process, free_port, free_range
from .load import LoadClient, get
from .test_docker_topology import web

HOST = "127.35.0.1"
NO_FORWARDING_HOST = "127.35.0.2"


@dataclass(frozen=True)
class SshHosts:
    user_key: UserKey
    known_hosts: Path
    engine_socket: str
    balancer_root: str
    open: SshServer
    no_forwarding: SshServer

    def host(self, server: SshServer, **options: Any) -> LinuxHostTopology:
        settings: dict[str, Any] = {
            "port": server.port,
            "user": "root",
            "client_keys": (str(self.user_key.private_path),),
            "use_agent": False,
            "known_hosts": str(self.known_hosts),
            "connect_timeout_s": 5.0,
            "docker_socket": self.engine_socket,
            "balancer_root": self.balancer_root,
            **options,
        }
        return LinuxHostTopology(server.address, **settings)


@pytest.fixture(scope="module")
def ssh_hosts(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshHosts]:
    root = tmp_path_factory.mktemp("docker-ssh")
    user_key = make_user_key(root)
    balancer_root = root / "nginx"
    servers: list[SshServer] = []
    try:
        servers.append(start_server(HOST, root / "open", user_key, extra_config=QUIET_SHELL))
        servers.append(
            start_server(NO_FORWARDING_HOST, root / "closed", user_key, extra_config=[*QUIET_SHELL, "AllowStreamLocalForwarding no"])
        )
        known_hosts = write_known_hosts(root / "known_hosts", servers)
        yield SshHosts(user_key, known_hosts, engine.socket, str(balancer_root), servers[0], servers[1])
    finally:
        pid_file = balancer_root / "nginx.pid"
        if pid_file.exists() and pid_file.read_text().strip().isdigit():
            _stop_process(int(pid_file.read_text().strip()))
        for server in servers:
            stop_server(server)


def states(report: RunReport) -> list[ScoreState]:
    for score in report.scores:
        print(f"{score.name}: {score.state}: {score.message}")  # shown when a test fails
    return [score.state for score in report.scores]


def test_container_score_through_the_forwarded_socket(ssh_hosts: SshHosts, clean_engine: Engine) -> None:
    host = ssh_hosts.host(ssh_hosts.open)
    port = free_port()
    score = ContainerScore(web("over-ssh", port), ready_timeout_s=30)

    async def main() -> None:
        async with Maestro(host).add(score) as maestro:
            assert states(await maestro.apply()) == [ScoreState.CHANGED]
            assert maestro.topology is host
            ready = await host.ensure_ready()
            assert ready.facts["docker.version"]
            assert states(await maestro.apply()) == [ScoreState.UNCHANGED]
            assert (await maestro.plan()).scores[0].changes == ()
            # The SDK speaks to a private local socket, never to the engine's own.
            url = await host.docker().address.url()
            assert url is not None and host.docker() is host.docker()
            local = url.removeprefix("unix://")
            assert local != clean_engine.socket and stat.S_ISSOCK(os.stat(local).st_mode)
            assert stat.S_IMODE(os.stat(os.path.dirname(local)).st_mode) == 0o700
        # Closing the topology closes the forward and removes its directory.
        assert not os.path.exists(os.path.dirname(local))

    anyio.run(main)
    assert clean_engine.client.containers.get("over-ssh").status == "running"

    async def again() -> RunReport:
        async with Maestro(host).add(score) as maestro:
            return await maestro.apply()

    # A new connection forwards again and still finds nothing to change.
    assert states(anyio.run(again)) == [ScoreState.UNCHANGED]


def test_rolling_update_and_rollback_behind_nginx_on_the_ssh_host(ssh_hosts: SshHosts, clean_engine: Engine) -> None:
    host = ssh_hosts.host(ssh_hosts.open)
    port, ports = sshd_free_port(HOST), free_range(10)

    def service(tag: str, start_period_s: float = 30.0) -> ReplicatedServiceScore:
        return ReplicatedServiceScore(
            "sshweb",
            f"{IMAGE}:{tag}",
            2,
            port,
            address=HOST,  # nginx listens on the host's address
            backend_ports=ports,
            health_interval_s=0.2,
            health_start_period_s=start_period_s,
            stop_grace_s=2,
            update=UpdatePolicy(monitor_s=10, drain_timeout_s=5),
        )

    async def run(score: ReplicatedServiceScore, plan: bool = False) -> RunReport:
        async with Maestro(host).add(score) as maestro:
            return await (maestro.plan() if plan else maestro.apply())

    try:
        assert states(anyio.run(run, service("v1"))) == [ScoreState.CHANGED]
        assert get(port, address=HOST) == (200, "v1")
        with LoadClient(port, HOST) as load:
            assert states(anyio.run(run, service("v2"))) == [ScoreState.CHANGED]
        assert load.failures == [] and load.requests > 0
        assert {get(port, address=HOST) for _ in range(8)} == {(200, "v2")}
        assert states(anyio.run(run, service("v2"))) == [ScoreState.UNCHANGED]
        assert anyio.run(run, service("v2"), True).scores[0].changes == ()
        # v3 never turns healthy: rolled back, and the clients never noticed.
        with LoadClient(port, HOST) as load:
            failed = anyio.run(run, service("v3", start_period_s=1))  # found unhealthy 1.6 s after its start
        assert states(failed) == [ScoreState.FAILED] and "rolled back" in failed.scores[0].message
        assert load.failures == [] and set(load.answers) == {"v2"}
        assert states(anyio.run(run, service("v2"))) == [ScoreState.UNCHANGED]
    finally:

        async def stop_serving() -> None:
            async with Maestro(host):
                await host.load_balancer().remove("sshweb", drain_timeout_s=2)

        anyio.run(stop_serving)


@pytest.mark.parametrize(
    ("server", "options", "reason"),
    [
        ("open", {"docker_socket": "/nonexistent/docker.sock"}, "/nonexistent/docker.sock does not exist"),
        ("no_forwarding", {}, "the SSH server would not connect to"),
    ],
)
def test_a_host_without_a_reachable_engine_is_refused_by_name(
    ssh_hosts: SshHosts, server: str, options: dict[str, Any], reason: str
) -> None:
    host = ssh_hosts.host(getattr(ssh_hosts, server), **options)
    maestro = Maestro(host).add(ContainerScore(web("never", 1)))

    async def main() -> None:
        async with maestro:
            with pytest.raises(MissingCapabilityError) as refused:
                await maestro.apply()
            message = str(refused.value)
            print(message)
            assert "requires capability Docker" in message and f"topology {host.name}" in message
            assert reason in message
            # The host itself is fine for scores that need no engine.
            assert "docker.version" not in (await host.ensure_ready()).facts

    anyio.run(main)


def test_in_a_group_only_the_host_without_an_engine_is_refused(ssh_hosts: SshHosts, clean_engine: Engine) -> None:
    # Members' classes are checked before anyone connects; each member's engine once it is ready.
    group = linux_hosts(
        [f"{HOST}:{ssh_hosts.open.port}", f"{NO_FORWARDING_HOST}:{ssh_hosts.no_forwarding.port}"],
        like=ssh_hosts.host(ssh_hosts.open),
    )
    score = ContainerScore(web("in-group", free_port()), ready_timeout_s=30)

    async def main() -> RunReport:
        async with Maestro(group).add(score) as maestro:
            return await maestro.apply()

    report = anyio.run(main)
    with_engine, without = report.hosts
    assert states(with_engine) == [ScoreState.CHANGED] and with_engine.error is None
    assert without.error is not None and "requires capability Docker" in without.error
    assert "would not connect to" in without.error
    assert clean_engine.client.containers.get("in-group").status == "running"
