"""``sudo=True`` through the command session: one ``sudo`` per session where sudoers allows a shell, else one per command."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from capabilities.command_runner import CommandResult
from topologies import LinuxHostTopology

from .sshd import SshServer, UserKey, start_server, stop_server, write_known_hosts
from .test_session import is_reader

USER = "harmony-session-sudo"
SUDOERS = Path("/etc/sudoers.d/harmony-session-sudo")
ADDRESS = "127.33.0.13"

EVERYTHING = f"{USER} ALL=(ALL) NOPASSWD: ALL\n"
ONLY_WRAPPED_COMMANDS = (
    f"{USER} ALL=(ALL) NOPASSWD: /usr/bin/sh -c *, /bin/sh -c *, /usr/lib/openssh/sftp-server, /usr/lib/sftp-server\n"
)
"""A policy that lets the login run the wrapper (``sh -c ...``) and the SFTP server as root, but no shell reading stdin."""


@pytest.fixture(scope="module")
def server(user_key: UserKey) -> Iterator[SshServer]:
    """A server of its own whose authorized_keys a non-root login can read (sshd reads it as the user)."""
    directory = Path(tempfile.mkdtemp(prefix="harmony-session-sudo-sshd-"))
    directory.chmod(0o755)
    started = start_server(ADDRESS, directory, user_key)
    try:
        (directory / "authorized_keys").chmod(0o644)
        yield started
    finally:
        stop_server(started)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def sudo_user() -> Iterator[str]:
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", USER], check=True)
    try:
        # '*' rather than useradd's '!': without PAM, sshd refuses a locked account even with a key.
        subprocess.run(["usermod", "-p", "*", USER], check=True)
        yield USER
    finally:
        SUDOERS.unlink(missing_ok=True)
        subprocess.run(["userdel", "--remove", USER], check=False, capture_output=True)


def allow(policy: str) -> None:
    SUDOERS.write_text(policy)
    SUDOERS.chmod(0o440)
    subprocess.run(["visudo", "-c", "-f", str(SUDOERS)], check=True, capture_output=True)


@pytest.fixture
def login(server: SshServer, user_key: UserKey, tmp_path: Path, sudo_user: str) -> Iterator[Any]:
    known_hosts = write_known_hosts(tmp_path / "known_hosts", [server])

    def build() -> LinuxHostTopology:
        return LinuxHostTopology(
            server.address, port=server.port, user=sudo_user, client_keys=(str(user_key.private_path),),
            use_agent=False, known_hosts=str(known_hosts), connect_timeout_s=5.0, sudo=True,
        )  # fmt: skip

    yield build
    SUDOERS.unlink(missing_ok=True)


@dataclass(frozen=True)
class Seen:
    uid: CommandResult
    """``id -u`` of a command."""
    parent_is_reader: bool
    parent_owner: int
    grandparent_is_reader: bool


async def as_root_and_parents(host: LinuxHostTopology) -> Seen:
    """Who runs a command, and what its parent and grandparent are, seen while the session is open."""
    runner = host.command_runner()
    try:
        uid = await runner.run(["id", "-u"])
        # The grandparent is read by the command itself: a sudo in between is gone once it returns.
        script = 'echo "$PPID"; stat -c %u "/proc/$PPID"; cut -d " " -f 4 "/proc/$PPID/stat"'
        parent, owner, grandparent = (int(word) for word in (await runner.run(["sh", "-c", script])).stdout.split())
        return Seen(uid, is_reader(parent), owner, is_reader(grandparent))
    finally:
        await runner.aclose()


def test_sudo_runs_one_root_session_when_sudoers_allows_a_shell(login: Any) -> None:
    allow(EVERYTHING)
    seen = anyio.run(as_root_and_parents, login())
    assert seen.uid.stdout == b"0\n"
    assert seen.parent_is_reader and seen.parent_owner == 0, "the command's parent is a reader running as root"


def test_sudo_per_command_in_a_login_session_when_sudoers_refuses_a_shell_on_stdin(
    login: Any, caplog: pytest.LogCaptureFixture
) -> None:
    allow(ONLY_WRAPPED_COMMANDS)
    with caplog.at_level(logging.DEBUG, logger="topologies.host.ssh"):
        seen = anyio.run(as_root_and_parents, login())
    assert seen.uid.stdout == b"0\n", seen.uid
    assert not seen.parent_is_reader and seen.grandparent_is_reader, "sudo between the login's reader and the command"
    assert "with sudo per command" in caplog.text
