"""The three namespace hosts the automatic-failover tests run on: reachable, private, cut off and crashed on demand.

Starts sshd servers in network namespaces: run under the server lock
(``flock /tmp/harmony-servers.lock``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from capabilities.command_runner import CommandResult
from topologies import LinuxHostTopology

from .netns_trio import ADDRESSES, RUNIT, Trio, three_hosts
from .sshd import UserKey, write_known_hosts


@pytest.fixture(scope="module")
def trio(ssh_root: Path, user_key: UserKey) -> Iterator[Trio]:
    with three_hosts(ssh_root / "trio-self-test", user_key) as hosts:
        yield hosts


def run_on(trio: Trio, name: str, ssh_root: Path, user_key: UserKey, *argv: str) -> CommandResult:
    known_hosts = write_known_hosts(ssh_root / "trio_known_hosts", [h.server for h in trio.hosts.values()])
    host = LinuxHostTopology(
        trio[name].address, port=trio[name].server.port, user="root", client_keys=(str(user_key.private_path),),
        use_agent=False, known_hosts=str(known_hosts), connect_timeout_s=3.0,
    )  # fmt: skip

    async def once() -> CommandResult:
        try:
            return await host.command_runner().run(list(argv))
        finally:
            await host.aclose()

    return anyio.run(once)


def reaches(trio: Trio, source: str, target: str, ssh_root: Path, user_key: UserKey) -> bool:
    """Whether ``source`` opens a TCP connection to ``target``'s sshd within 2 s."""
    probe = f"exec 3<>/dev/tcp/{ADDRESSES[target]}/{trio[target].server.port}"
    return run_on(trio, source, ssh_root, user_key, "timeout", "2", "bash", "-c", probe).ok


def test_every_host_reaches_the_others(trio: Trio, ssh_root: Path, user_key: UserKey) -> None:
    for source in ADDRESSES:
        for target in ADDRESSES:
            if source != target:
                assert reaches(trio, source, target, ssh_root, user_key), (source, target)


def test_each_host_has_its_own_postgresql_home_and_runit_directories(trio: Trio, ssh_root: Path, user_key: UserKey) -> None:
    for name in ADDRESSES:
        for directory in ("/var/lib/postgresql", *map(str, RUNIT)):
            assert run_on(trio, name, ssh_root, user_key, "touch", f"{directory}/only-on-{name}").ok
    for name, host in trio.hosts.items():
        assert sorted(p.name for p in host.view.iterdir() if p.name.startswith("only-on-")) == [f"only-on-{name}"]
        for runit_dir in RUNIT:
            mine = sorted(p.name for p in host.private(runit_dir).iterdir() if p.name.startswith("only-on-"))
            assert mine == [f"only-on-{name}"]
            assert not (runit_dir / f"only-on-{name}").exists()


def test_a_cut_host_reaches_nobody_until_healed(trio: Trio, ssh_root: Path, user_key: UserKey) -> None:
    trio.cut("db1")
    try:
        assert not reaches(trio, "db2", "db1", ssh_root, user_key)
        assert not reaches(trio, "witness", "db1", ssh_root, user_key)
        assert reaches(trio, "db2", "witness", ssh_root, user_key)
    finally:
        trio.heal("db1")
    assert reaches(trio, "db2", "db1", ssh_root, user_key)
    assert reaches(trio, "db1", "witness", ssh_root, user_key)


def test_a_crash_kills_every_process_but_the_ssh_listener_and_boot_restarts_supervisors(
    trio: Trio, ssh_root: Path, user_key: UserKey
) -> None:
    service = RUNIT[0] / "trio-sleeper"
    script = f"mkdir -p {service} && printf '#!/bin/sh\\nexec sleep 600\\n' > {service}/run && chmod +x {service}/run"
    assert run_on(trio, "db2", ssh_root, user_key, "sh", "-c", script).ok
    assert run_on(trio, "db2", ssh_root, user_key, "sh", "-c", f"setsid -f runsv {service} </dev/null >/dev/null 2>&1").ok
    assert _eventually(lambda: run_on(trio, "db2", ssh_root, user_key, "sv", "status", str(service)).stdout_text.startswith("run:"))

    killed = trio.crash("db2")
    assert killed and not any(_state(pid) not in ("Z", "gone") for pid in killed)
    assert trio.killed_supervisors["db2"] == [str(service)]
    assert reaches(trio, "db1", "db2", ssh_root, user_key)  # its sshd listener is still there

    assert run_on(trio, "db2", ssh_root, user_key, "sh", "-c", trio.boot_script("db2")).ok
    assert _eventually(lambda: run_on(trio, "db2", ssh_root, user_key, "sv", "status", str(service)).stdout_text.startswith("run:"))


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return "gone"


def _eventually(check: Callable[[], bool], attempts: int = 50) -> bool:
    for _ in range(attempts):
        if check():
            return True
        anyio.run(anyio.sleep, 0.1)
    return False
