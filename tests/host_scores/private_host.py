"""A throw-away Linux host on this machine: sshd in its own network namespace, with private copies of system state.

The host scores change what a machine has: users and groups (/etc), cron
tables (/var/spool/cron), kernel parameters (per network namespace for
``net.*``), services (/etc/sv, processes), apt sources and installed packages
(/etc/apt, /var/lib/dpkg, /var/lib/apt, /var/cache/apt). The tests must never
change this machine's own. So the host's sshd runs in:

- its own network namespace, reached over a veth pair (``net.*`` sysctls and
  listening ports are its own);
- its own mount namespace, where these directories are bind mounts of
  copies made for the test (or of empty directories): /etc, /home, /srv,
  /var/lib/dpkg, /var/lib/apt, /var/cache/apt, /var/log, /var/spool/cron.
  The copy of /etc has no apt sources, so apt sees only what tests add.

Everything a command over SSH does happens there. At the end every process
in the namespace is killed (services, runsv), the namespace is deleted, and
the copies are removed with the test's temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.ssh.netns_hosts import ip, link_namespace
from tests.ssh.sshd import SshServer, UserKey, start_server, stop_server

# A /30 of the ssh area's 10.231.0.0/24 that no other test uses (test_netns .36/30, netns_hosts .192/28).
OUTSIDE, INSIDE, PREFIX = "10.231.0.81", "10.231.0.82", 30

COPIED = ("/etc", "/var/lib/dpkg", "/var/spool/cron")
"""Directories the host starts with as this machine has them (copies)."""
EMPTY = ("/home", "/srv", "/var/lib/apt", "/var/cache/apt", "/var/log")
"""Directories the host starts with empty (apt makes its own layout in them)."""
SUDO_USER = "hztsudo"


@dataclass(frozen=True)
class PrivateHost:
    server: SshServer
    netns: str
    root: Path
    """Where the host's private directories live, seen from the test process."""
    outside_address: str
    """This machine's address as the host sees it: serve files to the host there."""
    key: UserKey
    """The key every login of the host accepts."""

    def path(self, inside: str) -> Path:
        """Where the host's ``inside`` path lies, seen from the test process (for the private directories)."""
        for directory in (*COPIED, *EMPTY):
            if inside == directory or inside.startswith(directory + "/"):
                return self.root / directory.lstrip("/") / os.path.relpath(inside, directory)
        raise ValueError(f"{inside} is not under a private directory of the host")

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command inside the host (its namespaces), from the test process."""
        command = ["nsenter", "-t", str(self.server.pid), "-m", "-n", "--", *argv]
        return subprocess.run(command, check=check, capture_output=True, text=True)


def _prepare(root: Path) -> None:
    for directory in COPIED:
        copy = root / directory.lstrip("/")
        copy.parent.mkdir(parents=True, exist_ok=True)
        # --archive keeps modes and owners (/etc/shadow stays 0640 root:shadow in the copy).
        subprocess.run(["cp", "-a", directory, str(copy)], check=True)
    for directory in EMPTY:
        (root / directory.lstrip("/")).mkdir(parents=True)
    etc = root / "etc"
    (etc / "apt" / "sources.list").unlink(missing_ok=True)
    for source in (etc / "apt" / "sources.list.d").iterdir():
        source.unlink()
    for directory in ("var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/log/apt"):
        (root / directory).mkdir(parents=True)
    (etc / "apt" / "keyrings").mkdir(exist_ok=True)


def _bind_all(pid: int, root: Path) -> None:
    binds = " && ".join(f'mount --bind "$1"{d} {d}' for d in (*COPIED, *EMPTY))
    subprocess.run(["nsenter", "-t", str(pid), "-m", "--", "sh", "-c", binds, "sh", str(root)], check=True, capture_output=True)


def _add_sudo_login(host: PrivateHost) -> None:
    """A login with passwordless sudo, in the host's own /etc (the server accepts the suite's key for any user)."""
    host.run("useradd", "--create-home", "--shell", "/bin/sh", SUDO_USER)
    # '*' rather than useradd's '!': without PAM, sshd refuses a locked account even with a key.
    host.run("usermod", "-p", "*", SUDO_USER)
    sudoers = host.path("/etc/sudoers.d") / SUDO_USER
    sudoers.write_text(f"{SUDO_USER} ALL=(ALL) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)


@contextlib.contextmanager
def private_host(directory: Path, user_key: UserKey) -> Iterator[PrivateHost]:
    tag = f"hzt{os.getpid() % 100000}"
    netns, outside, inside = f"{tag}ns", f"{tag}o", f"{tag}i"
    root = directory / "root"
    root.mkdir(parents=True)
    server = None
    ip("netns", "add", netns)
    try:
        link_namespace(netns, outside, inside, OUTSIDE, INSIDE, PREFIX)
        _prepare(root)
        # mount_point: start_server puts sshd in a mount namespace of its own; the binds go into it.
        (directory / "mount").mkdir()
        server = start_server(INSIDE, directory / "sshd", user_key, netns=netns, mount_point=directory / "mount")
        _bind_all(server.pid, root)
        host = PrivateHost(server, netns, root, OUTSIDE, user_key)
        _add_sudo_login(host)
        # sshd reads the user's authorized_keys file as that user: let it.
        (directory / "sshd").chmod(0o755)
        (directory / "sshd" / "authorized_keys").chmod(0o644)
        yield host
    finally:
        if server is not None:
            stop_server(server)
        _kill_everything_in(netns)
        subprocess.run(["ip", "netns", "del", netns], check=False, capture_output=True)
        # Deleting the namespace deletes the veth pair; this is for a half-made one.
        subprocess.run(["ip", "link", "del", outside], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _kill_everything_in(netns: str) -> None:
    """Every process left in the namespace (services, their runsv) is killed: nothing outlives the tests."""
    found = subprocess.run(["ip", "netns", "pids", netns], check=False, capture_output=True, text=True)
    for word in found.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(word), signal.SIGKILL)
