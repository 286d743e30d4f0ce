"""The benchmark's fleet: N real sshd hosts, each in its own mount namespace on its own loopback address.

Each host is Debian's OpenSSH server (tests/ssh/sshd.py) on 127.34.x.y, in a
mount namespace where the fleet's mount point shows a directory private to that
host, so each host has its own files as separate machines would. The servers
set ``SHLVL=1`` for their sessions (``SetEnv``): bash then skips this machine's
root ``.bashrc``, which runs ``pyenv init`` (~0.2 s of CPU per SSH command) —
no real host has that, and it would hide every other cost. :func:`check_hosts`
proves it per host before anything is timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from bench.fanout_measure import process_cpu
from tests.ssh.sshd import SshServer, UserKey, make_user_key, start_server, stop_server, write_known_hosts

NO_RC_FILES = "SetEnv SHLVL=1"
SLOW_TRUE_S = 0.1
"""An exec of ``true`` on an idle host takes ~10 ms; 0.1 s means the shell start-up is doing work (pyenv)."""


def addresses(count: int) -> list[str]:
    return [f"127.34.{n // 250}.{n % 250 + 1}" for n in range(count)]


@dataclass(frozen=True)
class Fleet:
    servers: tuple[SshServer, ...]
    key: UserKey
    known_hosts: Path
    mount: Path
    """The path under which every host sees its own private directory."""

    @property
    def listeners(self) -> list[int]:
        return [server.pid for server in self.servers]

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        return [(server.address, server.port) for server in self.servers]

    def views(self) -> list[Path]:
        views = []
        for server in self.servers:
            assert server.view is not None
            views.append(server.view)
        return views

    def reset(self) -> None:
        """Empty every host's private directory (the workload's files, Ansible's remote temporary files)."""
        for view in self.views():
            for entry in view.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()


@contextlib.contextmanager
def running_fleet(count: int, work: Path) -> Iterator[Fleet]:
    """Start ``count`` hosts; stop every one on exit, also on failure or Ctrl-C (their namespaces go with them)."""
    key = make_user_key(work)
    mount = work / "mnt"
    mount.mkdir()
    servers: list[SshServer] = []
    try:
        for index, address in enumerate(addresses(count)):
            servers.append(
                start_server(address, work / "hosts" / f"host{index}", key, mount_point=mount, extra_config=[NO_RC_FILES])
            )
        known_hosts = write_known_hosts(work / "known_hosts", servers)
        yield Fleet(tuple(servers), key, known_hosts, mount)
    finally:
        for server in servers:
            stop_server(server)


@dataclass(frozen=True)
class HostCheck:
    true_median_s: float
    true_max_s: float
    openssh_true_s: float
    """One ``ssh host true`` with the OpenSSH client (connect, exec, close), first host."""


def check_hosts(fleet: Fleet) -> HostCheck:
    """Time ``true`` over an exec channel on every host, and refuse hosts whose shell ran pyenv."""
    timings = asyncio.run(_time_true(fleet))
    slow = [f"{s.address} {t * 1000:.0f} ms" for s, t in zip(fleet.servers, timings, strict=True) if t > SLOW_TRUE_S]
    if slow:
        print(f"  warning: `true` took over {SLOW_TRUE_S * 1000:.0f} ms on {len(slow)} hosts: {', '.join(slow[:5])}")
    first = fleet.servers[0]
    started = time.monotonic()
    subprocess.run(
        [
            "ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={fleet.known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-i", str(fleet.key.private_path), "-p", str(first.port),
            f"root@{first.address}", "true",
        ],
        check=True,
    )
    openssh = time.monotonic() - started
    return HostCheck(statistics.median(timings), max(timings), openssh)


async def _time_true(fleet: Fleet) -> list[float]:
    limit = asyncio.Semaphore(20)

    async def connect(server: SshServer) -> asyncssh.SSHClientConnection:
        async with limit:
            return await asyncssh.connect(
                server.address, server.port, username="root", client_keys=[str(fleet.key.private_path)],
                known_hosts=str(fleet.known_hosts), agent_path=None,
            )

    connections = await asyncio.gather(*(connect(server) for server in fleet.servers))
    timings: list[float] = []
    try:
        for server, connection in zip(fleet.servers, connections, strict=True):
            started = time.monotonic()
            await connection.run("true", check=True)
            timings.append(time.monotonic() - started)
            # pyenv init exports PYENV_SHELL: its absence shows that bash read no rc file.
            shown = await connection.run('echo "${PYENV_SHELL-none}"', check=True)
            if str(shown.stdout).strip() != "none":
                raise SystemExit(f"host {server.address}: the login shell ran pyenv init (PYENV_SHELL is set); "
                                 f"the hosts must not read root's .bashrc")
    finally:
        for connection in connections:
            connection.close()
        await asyncio.gather(*(connection.wait_closed() for connection in connections))
    return timings


def stop_leftovers(marker: str) -> int:
    """Stop processes of ours that outlive a tool run (Ansible's ControlPersist ssh masters): their cmdline names ``marker``.

    Returns how many; their CPU time up to now goes to the caller through :func:`cpu_of_leftovers`.
    """
    stopped = 0
    for pid in _pids_with(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            stopped += 1
    return stopped


def cpu_of_leftovers(marker: str) -> float:
    return sum(process_cpu(pid, children=True) for pid in _pids_with(marker))


def _pids_with(marker: str) -> Sequence[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
    return found
