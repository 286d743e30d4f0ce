"""Three separate machines on this one for the automatic-failover tests: two database hosts and a witness.

Each host is an sshd in its own network namespace and its own mount namespace,
with private ``/var/lib/postgresql`` (PostgreSQL, Patroni's and etcd's data)
and private runit directories ``/etc/sv`` and ``/etc/service`` (the engine's
services have the same names on every host, as they would on real machines).
The hosts hang off one bridge in the test process's namespace, which holds the
bridge's address: the test process reaches every host, and every host reaches
the others, over the same wire:

    db1 (.162) --veth--+
    db2 (.163) --veth--+-- bridge (.161, the test process) in 10.231.0.160/27
    witness (.164) ----+

``cut(name)`` takes a host's link down (a network partition: that host reaches
nobody and nobody reaches it; its own processes keep running); ``heal(name)``
brings it back. ``crash(name)`` SIGKILLs every process of a host at once except
its sshd listener (which only lets the test reach it), as a power cut would, and
``boot(name)`` starts again what its supervisor (runsvdir) would start at boot:
a ``runsv`` for each enabled service.

Everything is torn down afterwards, also on failure: supervisors and engines
are killed first (so nothing restarts PostgreSQL), PostgreSQL servers under each
host's private directory are shut down (SIGQUIT, what ``pg_ctl stop -m
immediate`` sends), every process left in the namespaces is killed, and the
namespaces and the bridge are deleted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .netns_hosts import _kill_everything_in, ip, link_namespace, stop_postgres_under
from .sshd import SshServer, UserKey, private_view, start_server, stop_server

# A /27 of the ssh area's 10.231.0.0/24 that nothing else uses (test_netns .36/30, private_host .80/30,
# netns_hosts .192/28; the issue-13 research scripts used .224/27).
NETWORK = "10.231.0.160/27"
PREFIX = 27
BRIDGE_ADDRESS = "10.231.0.161"
ADDRESSES = {"db1": "10.231.0.162", "db2": "10.231.0.163", "witness": "10.231.0.164"}
PG_HOME = Path("/var/lib/postgresql")
RUNIT = (Path("/etc/sv"), Path("/etc/service"))
"""Private on each host: where the runit supervisor keeps service definitions and their enabled links."""


@dataclass(frozen=True)
class TrioHost:
    name: str
    server: SshServer
    netns: str
    link: str
    """This host's veth end on the bridge (taking it down cuts the host off)."""

    @property
    def address(self) -> str:
        return self.server.address

    @property
    def view(self) -> Path:
        """The host's private ``/var/lib/postgresql``, seen from the test process."""
        assert self.server.view is not None
        return self.server.view

    def private(self, path: Path) -> Path:
        """The host's private copy of one of :data:`RUNIT`, seen from the test process."""
        return private_view(self.server.directory, path)

    def processes(self) -> list[int]:
        """Every process running on this host except its sshd listener."""
        found = subprocess.run(["ip", "netns", "pids", self.netns], check=False, capture_output=True, text=True)
        return [int(word) for word in found.stdout.split() if word.isdigit() and int(word) != self.server.pid]


@dataclass
class Trio:
    hosts: dict[str, TrioHost]
    killed_supervisors: dict[str, list[str]] = field(default_factory=dict)
    """Per host, the service directories whose runsv a crash killed (what its boot starts again)."""

    def __getitem__(self, name: str) -> TrioHost:
        return self.hosts[name]

    def cut(self, name: str) -> None:
        ip("link", "set", self.hosts[name].link, "down")

    def heal(self, name: str) -> None:
        ip("link", "set", self.hosts[name].link, "up")

    def crash(self, name: str) -> list[int]:
        """SIGKILL every process of the host at once (engine, PostgreSQL, etcd, supervisors); return their pids."""
        host = self.hosts[name]
        pids = host.processes()
        self.killed_supervisors[name] = [args[1] for args in map(_cmdline, pids) if args[:1] == ["runsv"] and len(args) > 1]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.01)
        return pids

    def boot_script(self, name: str) -> str:
        """The shell a host runs at boot, as runsvdir would: one runsv for each service a crash took down."""
        directories = " ".join(f"'{d}'" for d in self.killed_supervisors.get(name, []))
        return f'for d in {directories}; do setsid -f runsv "$d" </dev/null >/dev/null 2>&1; done'


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return [part.decode(errors="replace") for part in handle.read().split(b"\0") if part]
    except OSError:
        return []


def _running(pid: int) -> bool:
    """Not gone yet (a zombie, whose reaper has not collected it, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:
        return ""


@contextlib.contextmanager
def three_hosts(directory: Path, user_key: UserKey) -> Iterator[Trio]:
    tag = f"ha{os.getpid() % 100000}"
    bridge = f"{tag}br"
    names = {"db1": f"{tag}d1", "db2": f"{tag}d2", "witness": f"{tag}w"}
    made: list[str] = []
    hosts: dict[str, TrioHost] = {}
    try:
        ip("link", "add", bridge, "type", "bridge")
        ip("addr", "add", f"{BRIDGE_ADDRESS}/{PREFIX}", "dev", bridge)
        ip("link", "set", bridge, "up")
        for name, address in ADDRESSES.items():
            netns = names[name]
            ip("netns", "add", netns)
            made.append(netns)
            link_namespace(netns, f"{netns}o", f"{netns}i", None, address, PREFIX, bridge=bridge)
        for name, address in ADDRESSES.items():
            server = start_server(
                address,
                directory / f"trio-{name}",
                user_key,
                netns=names[name],
                mount_point=PG_HOME,
                more_private=RUNIT,
                extra_config=["SetEnv SHLVL=1"],  # root's .bashrc would run pyenv init for every command
            )
            hosts[name] = TrioHost(name, server, names[name], f"{names[name]}o")
        yield Trio(hosts)
    finally:
        for host in hosts.values():
            _stop_host(host)
        for netns in made:
            _kill_everything_in(netns)
            subprocess.run(["ip", "netns", "del", netns], check=False, capture_output=True)
            subprocess.run(["ip", "link", "del", f"{netns}o"], check=False, capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], check=False, capture_output=True)


def _stop_host(host: TrioHost) -> None:
    """Kill supervisors and engines first (nothing may restart PostgreSQL), then shut PostgreSQL down, then sshd."""
    subprocess.run(["ip", "link", "set", host.link, "up"], check=False, capture_output=True)
    for pid in host.processes():
        if _comm(pid) != "postgres":
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    stop_postgres_under(host.view)
    stop_server(host.server)
