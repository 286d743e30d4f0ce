"""Fixtures of the host score tests: a throw-away SSH host (as root and through sudo), this machine, and a web server.

Tests that use ``private`` start servers and network namespaces: run this
directory under ``flock /tmp/harmony-servers.lock``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from topologies import LocalhostTopology
from topologies import LinuxHostTopology

from tests.ssh.sshd import make_user_key, write_known_hosts

from .private_host import SUDO_USER, PrivateHost, private_host
from .web import WebServer, serving

TopologyFactory = Callable[[], Any]
"""Builds a fresh topology for one run (an SSH topology holds its connection until the maestro closes it)."""


@pytest.fixture(scope="session")
def host_dir() -> Iterator[Path]:
    # Not under pytest's 0700 tmp: sshd reads the sudo login's authorized_keys as that user.
    directory = Path(tempfile.mkdtemp(prefix="harmony-host-scores-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def private(host_dir: Path) -> Iterator[PrivateHost]:
    with private_host(host_dir / "host", make_user_key(host_dir)) as host:
        yield host


@pytest.fixture(scope="session")
def known_hosts(private: PrivateHost, host_dir: Path) -> Path:
    return write_known_hosts(host_dir / "known_hosts", [private.server])


def _ssh(private: PrivateHost, known_hosts: Path, **options: Any) -> LinuxHostTopology:
    return LinuxHostTopology(
        private.server.address, port=private.server.port, client_keys=(str(private.key.private_path),),
        use_agent=False, known_hosts=str(known_hosts), connect_timeout_s=5.0, **options,
    )  # fmt: skip


@pytest.fixture
def as_root(private: PrivateHost, known_hosts: Path) -> TopologyFactory:
    return lambda: _ssh(private, known_hosts, user="root")


@pytest.fixture
def as_sudo(private: PrivateHost, known_hosts: Path) -> TopologyFactory:
    return lambda: _ssh(private, known_hosts, user=SUDO_USER, sudo=True)


@pytest.fixture(params=["root", "sudo"])
def ssh_login(request: pytest.FixtureRequest, private: PrivateHost, known_hosts: Path) -> TopologyFactory:
    """The throw-away host over SSH, as root and as a login that becomes root with sudo."""
    if request.param == "root":
        return lambda: _ssh(private, known_hosts, user="root")
    return lambda: _ssh(private, known_hosts, user=SUDO_USER, sudo=True)


@pytest.fixture(params=["localhost", "ssh-root", "ssh-sudo"])
def anywhere(request: pytest.FixtureRequest) -> TopologyFactory:
    """This machine, and the throw-away host as root and through sudo: file scores behave alike on all three.

    Paths under /srv are private to the SSH host; on this machine tests use their tmp_path.
    """
    if request.param == "localhost":
        return LocalhostTopology
    private: PrivateHost = request.getfixturevalue("private")
    known: Path = request.getfixturevalue("known_hosts")
    if request.param == "ssh-root":
        return lambda: _ssh(private, known, user="root")
    return lambda: _ssh(private, known, user=SUDO_USER, sudo=True)


@dataclass(frozen=True)
class Workdir:
    """A fresh directory for one test: its path on the topology, and the same directory seen from the test."""

    inside: str
    outside: Path

    def at(self, name: str) -> tuple[str, Path]:
        return f"{self.inside}/{name}", self.outside / name


@pytest.fixture
def workdir(request: pytest.FixtureRequest, tmp_path: Path) -> Workdir:
    """In the file system of ``anywhere``'s topology: tmp_path here, a directory under /srv on the SSH host."""
    callspec = getattr(request.node, "callspec", None)
    kind = callspec.params.get("anywhere", "localhost") if callspec is not None else "localhost"
    if kind == "localhost":
        return Workdir(str(tmp_path), tmp_path)
    private: PrivateHost = request.getfixturevalue("private")
    inside = f"/srv/tests/{request.node.name.translate(str.maketrans('[]/', '___'))}"
    outside = private.path(inside)
    outside.mkdir(parents=True)
    return Workdir(inside, outside)


@pytest.fixture(scope="session")
def web(host_dir: Path, private: PrivateHost) -> Iterator[WebServer]:
    """Files served on this machine's address as the private host sees it (this machine reaches it too)."""
    root = host_dir / "www"
    root.mkdir()
    with serving(root, private.outside_address) as server:
        yield server
