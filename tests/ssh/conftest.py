"""Real sshd servers for the SSH tests: session-scoped, each on its own 127.33.0.N address."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from topologies import LinuxHostTopology

from .sshd import SshServer, UserKey, make_user_key, running_servers, write_known_hosts

HOST_COUNT = 3
ADDRESSES = [f"127.33.0.{n}" for n in range(1, HOST_COUNT + 1)]
UNUSED_ADDRESS = "127.33.0.250"
"""An address nothing listens on: connections to it are refused."""


@pytest.fixture(scope="session")
def ssh_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ssh")


@pytest.fixture(scope="session")
def user_key(ssh_root: Path) -> UserKey:
    return make_user_key(ssh_root)


@pytest.fixture(scope="session")
def group_mount(ssh_root: Path) -> Path:
    """A path each test host sees as its own directory (see ``start_server(mount_point=...)``)."""
    return ssh_root / "data"


@pytest.fixture(scope="session")
def ssh_servers(ssh_root: Path, user_key: UserKey, group_mount: Path) -> Iterator[list[SshServer]]:
    with running_servers(ADDRESSES, ssh_root, user_key, mount_point=group_mount) as servers:
        yield servers


@pytest.fixture(scope="session")
def known_hosts(ssh_root: Path, ssh_servers: list[SshServer]) -> Path:
    return write_known_hosts(ssh_root / "known_hosts", ssh_servers)


HostFactory = Callable[..., LinuxHostTopology]


@pytest.fixture
def make_host(user_key: UserKey, known_hosts: Path) -> Iterator[HostFactory]:
    """Build LinuxHostTopology objects for the test servers (or any address); close them after the test."""

    def build(server: SshServer | None = None, **options: Any) -> LinuxHostTopology:
        settings: dict[str, Any] = {
            "user": "root",
            "client_keys": (str(user_key.private_path),),
            "use_agent": False,
            "known_hosts": str(known_hosts),
            "connect_timeout_s": 5.0,
        }
        if server is not None:
            settings["host"], settings["port"] = server.address, server.port
        settings.update(options)
        return LinuxHostTopology(**settings)

    yield build


@pytest.fixture
def remote_dir(tmp_path: Path) -> Path:
    """A directory the tests write to through SSH (the servers run on this machine)."""
    directory = tmp_path / "remote"
    directory.mkdir()
    return directory

