"""A Docker engine and an nginx balancer of the suite's own, and the images the tests run.

The engine is started as DESIGN.md describes (vfs storage, no iptables, no
bridge, its own data root and socket), so it touches nothing of the
machine's. No registry is reachable: the images are a busybox-static root
filesystem imported with ``docker import``: ``httpd`` serves ``/www``,
whose ``version`` file names the image and whose ``health`` file answers
the health check (v3 has none, so its health check fails).
"""

from __future__ import annotations

from tests.ports import free_port, free_ports

import io
import os
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from topologies import DockerTopology, LocalhostTopology
from topologies.docker.engine import close_clients

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "httpd", "wget", "cat", "sleep", "test", "true", "false", "echo")
HTTPD = 'exec httpd -f -v -p 127.0.0.1:"$PORT" -h /www'
IMAGE = "harmony-test/web"
QUIET_SHELL = ["SetEnv SHLVL=1"]
"""bash sources ~/.bashrc for a command sshd starts only at shell level 1; this machine's root
.bashrc runs `pyenv init`, which costs ~0.3 s per command. The hosts are test hosts, not this
machine's login: starting bash at level 2 skips it."""


@dataclass(frozen=True)
class Engine:
    socket: str
    client: Any

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"


def _wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _stop_process(pid: int, timeout_s: float = 20.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if Path(f"/proc/{pid}").exists():
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    dockerd = shutil.which("dockerd")
    assert dockerd, "dockerd is missing: install Debian's docker.io (scripts/apt-packages.txt)"
    # A short path: unix socket paths are limited to 108 bytes.
    root = Path(tmp_path_factory.mktemp("dockerd"))
    sock = root / "docker.sock"
    log = open(root / "dockerd.log", "wb")
    process = subprocess.Popen(
        [
            dockerd,
            "--storage-driver=vfs",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            f"--data-root={root}/root",
            f"--exec-root={root}/exec",
            f"-H=unix://{sock}",
            f"--pidfile={root}/pid",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    import docker

    client: Any = None
    try:
        _wait_for(lambda: sock.exists() or process.poll() is not None, 60, "dockerd's socket")
        assert process.poll() is None, f"dockerd exited: {(root / 'dockerd.log').read_text()[-2000:]}"
        client = docker.DockerClient(base_url=f"unix://{sock}")
        _wait_for(lambda: _pings(client), 30, "dockerd to answer")
        _build_images(client, root)
        yield Engine(str(sock), client)
    finally:
        if client is not None:
            for container in client.containers.list(all=True):
                container.remove(force=True)
            client.close()
        close_clients()
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


def _unmount_under(root: Path) -> None:
    """dockerd leaves its network namespace file bind-mounted under the exec root."""
    prefix = f"{root}/"
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def _build_images(client: Any, root: Path) -> None:
    assert BUSYBOX.exists(), "busybox is missing: install Debian's busybox-static (scripts/apt-packages.txt)"
    for tag, health in (("v1", True), ("v2", True), ("v3", False)):
        data = _rootfs_tar(tag, health)
        client.api.import_image_from_data(
            data, repository=IMAGE, tag=tag, changes=[f'CMD ["/bin/sh", "-c", {_json(HTTPD)}]']
        )


def _json(text: str) -> str:
    import json

    return json.dumps(text)


def _rootfs_tar(version: str, healthy: bool) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "www", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        tar.add(str(BUSYBOX), arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        files = {"www/version": f"{version}\n"}
        if healthy:
            files["www/health"] = "ok\n"
        for name, text in files.items():
            content = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def free_range(size: int) -> range:
    """``size`` consecutive ports nothing listens on now (this xdist worker's own: see tests/ports.py)."""
    return free_ports(size)


__all__ = ["free_port", "free_range"]




@pytest.fixture(scope="session")
def balancer_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("nginx")
    yield str(root)
    pid_file = root / "nginx.pid"
    if pid_file.exists() and pid_file.read_text().strip().isdigit():
        _stop_process(int(pid_file.read_text().strip()))


@pytest.fixture(scope="session")
def host(engine: Engine, balancer_root: str) -> LocalhostTopology:
    """This machine, with the suite's engine and balancer."""
    return LocalhostTopology(docker_host=engine.socket, balancer_root=balancer_root)


@pytest.fixture(scope="session")
def docker_topology(engine: Engine) -> DockerTopology:
    return DockerTopology(engine.url)


@pytest.fixture
def clean_engine(engine: Engine) -> Iterator[Engine]:
    """The engine, emptied of containers after the test."""
    yield engine
    for container in engine.client.containers.list(all=True):
        container.remove(force=True)
