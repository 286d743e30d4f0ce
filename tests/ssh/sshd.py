"""Real OpenSSH servers the tests (and bench/fanout.py) own: one sshd process per host address.

Each server listens on its own loopback address (every 127.x.y.z is a distinct
address on Linux), with its own generated host key, and accepts one generated
user key for the current user. Nothing outside the given directory is touched
except /run/sshd, which Debian's sshd needs for privilege separation.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from tests.ports import free_port as free_port  # re-exported: callers pick host ports here too

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SSH_PORT = 2222
START_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class SshServer:
    address: str
    port: int
    directory: Path
    host_public_key: str
    pid: int
    view: Path | None = None
    """Where this host's private copy of the group's mount point lives, seen from outside."""

    @property
    def known_hosts_line(self) -> str:
        return f"[{self.address}]:{self.port} {self.host_public_key}\n"


@dataclass(frozen=True)
class UserKey:
    private_path: Path
    public_line: str


def make_user_key(directory: Path) -> UserKey:
    key = asyncssh.generate_private_key("ssh-ed25519")
    private_path = directory / "id_ed25519"
    key.write_private_key(str(private_path))
    private_path.chmod(0o600)
    public_line = key.export_public_key("openssh").decode("ascii").strip()
    return UserKey(private_path, public_line)


def start_server(
    address: str,
    directory: Path,
    user_key: UserKey,
    *,
    port: int | None = None,
    netns: str | None = None,
    extra_config: Sequence[str] = (),
    mount_point: Path | None = None,
    more_private: Sequence[Path] = (),
) -> SshServer:
    """Start one sshd on ``address``; return once it listens (its pid file exists).

    With ``mount_point``, the server runs in its own mount namespace where
    ``mount_point`` shows a directory private to this host (``SshServer.view``):
    hosts that share this machine's file system then still each have their own
    files under it, as separate machines would. Each of ``more_private`` is made
    private the same way, from ``private_view(directory, path)``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    if port is None:
        # A free port of this xdist worker's own (tests/ports.py): another worker's server cannot take it.
        port = SSH_PORT if netns is not None else free_port(address)
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    host_key_path = directory / "host_ed25519"
    host_key.write_private_key(str(host_key_path))
    host_key_path.chmod(0o600)
    (directory / "authorized_keys").write_text(user_key.public_line + "\n")
    pid_file = directory / "sshd.pid"
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                f"ListenAddress {address}",
                f"HostKey {host_key_path}",
                f"PidFile {pid_file}",
                f"AuthorizedKeysFile {directory / 'authorized_keys'}",
                "UsePAM no",
                "StrictModes no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "Subsystem sftp internal-sftp",
                "MaxSessions 10",
                "LogLevel ERROR",
                *extra_config,
            ]
        )
        + "\n"
    )
    command = [SSHD, "-f", str(config), "-E", str(directory / "sshd.log")]
    view = None
    if mount_point is not None:
        view = directory / "view"
        binds = [(view, mount_point), *((private_view(directory, path), path) for path in more_private)]
        for source, target in binds:
            source.mkdir(exist_ok=True)
            target.mkdir(parents=True, exist_ok=True)  # a bind needs its target to exist
        bind = 'while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 1; shift 2; done; shift; exec "$@"'
        pairs = [str(part) for pair in binds for part in pair]
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", bind, "sh", *pairs, "--", *command]
    if netns is not None:
        command = ["ip", "netns", "exec", netns, *command]
    # The parent exits 0 even when the address is taken; the pid file appears
    # only once the daemon listens, so that is what we wait for.
    subprocess.run(command, check=True)
    pid = _wait_for_pid(pid_file, directory / "sshd.log")
    public = host_key.export_public_key("openssh").decode("ascii").strip()
    return SshServer(address, port, directory, public, pid, view)


def private_view(directory: Path, path: Path) -> Path:
    """Where a server started in ``directory`` keeps its private copy of ``path`` (see ``more_private``)."""
    return directory / ("view" + str(path).replace("/", "-"))


def _wait_for_pid(pid_file: Path, log: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int(pid_file.read_text().strip())
        time.sleep(0.01)
    detail = log.read_text() if log.exists() else "no log"
    raise RuntimeError(f"sshd did not start within {START_TIMEOUT_S} s: {detail}")


def stop_server(server: SshServer) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(server.pid):
        time.sleep(0.01)
    if not _alive(server.pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(server.pid, signal.SIGKILL)


def drop_connections(server: SshServer) -> int:
    """Kill the processes serving this server's open connections (its listener's children), as a crash or a cut link would.

    Returns how many were killed; the listener itself keeps accepting new connections.
    """
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == server.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
    return killed


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rpartition(")")[2].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def write_known_hosts(path: Path, servers: Sequence[SshServer]) -> Path:
    path.write_text("".join(server.known_hosts_line for server in servers))
    return path


@contextlib.contextmanager
def running_servers(
    addresses: Sequence[str], directory: Path, user_key: UserKey, *, mount_point: Path | None = None
) -> Iterator[list[SshServer]]:
    """Start one server per address; stop them all on exit, also on failure."""
    servers: list[SshServer] = []
    if mount_point is not None:
        mount_point.mkdir(parents=True, exist_ok=True)
    try:
        for index, address in enumerate(addresses):
            servers.append(start_server(address, directory / f"host{index}", user_key, mount_point=mount_point))
        yield servers
    finally:
        for server in servers:
            stop_server(server)
