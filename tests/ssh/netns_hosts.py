"""Two separate machines on this one: each an sshd in its own network namespace and private mount.

Each host has its own network stack (its own loopback, so PostgreSQL on each may
listen on ``*`` and the same port) and its own ``mount_point`` (so each has its
own ``/var/lib/postgresql``). The test process reaches each host over a veth
pair; the two hosts reach each other over a third veth pair between them, with
a host route to the other's address, as two machines on one network would.

    test process --veth-- host A (ADDRESS_A)  --veth--  host B (ADDRESS_B) --veth-- test process

Everything is torn down afterwards, also on failure: PostgreSQL servers under
each host's private directory are shut down (SIGQUIT, what ``pg_ctl stop -m
immediate`` sends), every process left in the namespaces is killed, and the
namespaces (with their veth pairs) are deleted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .sshd import SshServer, UserKey, start_server, stop_server

PREFIX = 30


@dataclass(frozen=True)
class PairAddresses:
    """One /28 of the ssh area's 10.231.0.0/24 for a pair: three /30s (the test process to each host, and the wire
    between the hosts). Two test files that run at once on different workers need different pairs."""

    outside_a: str
    address_a: str
    outside_b: str
    address_b: str
    link_a: str
    link_b: str
    network: str
    """Every address above."""


SSH_PAIR = PairAddresses(
    "10.231.0.193", "10.231.0.194", "10.231.0.197", "10.231.0.198", "10.231.0.201", "10.231.0.202", "10.231.0.192/28"
)
"""tests/ssh's pair (test_postgres_failover.py, test_ha_install_refused.py: one unit of work, tests/conftest.py)."""
APP_PAIR = PairAddresses(
    "10.231.0.209", "10.231.0.210", "10.231.0.213", "10.231.0.214", "10.231.0.217", "10.231.0.218", "10.231.0.208/28"
)
"""tests/app's pair (another unit of work, so it may run while the ssh pair does)."""
OUTSIDE_A, ADDRESS_A = SSH_PAIR.outside_a, SSH_PAIR.address_a
OUTSIDE_B, ADDRESS_B = SSH_PAIR.outside_b, SSH_PAIR.address_b
NETWORK = SSH_PAIR.network


@dataclass(frozen=True)
class NetnsHost:
    server: SshServer
    netns: str

    @property
    def view(self) -> Path:
        """The host's private ``mount_point``, seen from the test process."""
        assert self.server.view is not None
        return self.server.view


def ip(*args: str) -> None:
    """One ``ip`` command; raises when it fails."""
    subprocess.run(["ip", *args], check=True, capture_output=True)


def link_namespace(
    netns: str, outside: str, inside: str, outside_address: str | None, inside_address: str, prefix: int, *, bridge: str | None = None
) -> None:
    """Give the existing namespace ``netns`` a veth pair to this one: ``outside`` here, ``inside`` there, both up (and its lo).

    With ``bridge``, ``outside`` is a port of that bridge (which holds this side's address) and gets none itself.
    """
    ip("link", "add", outside, "type", "veth", "peer", "name", inside)
    ip("link", "set", inside, "netns", netns)
    if bridge is not None:
        ip("link", "set", outside, "master", bridge)
    if outside_address is not None:
        ip("addr", "add", f"{outside_address}/{prefix}", "dev", outside)
    ip("link", "set", outside, "up")
    ip("-n", netns, "addr", "add", f"{inside_address}/{prefix}", "dev", inside)
    ip("-n", netns, "link", "set", inside, "up")
    ip("-n", netns, "link", "set", "lo", "up")


@contextlib.contextmanager
def two_hosts(
    directory: Path, user_key: UserKey, *, mount_point: Path, pair: PairAddresses = SSH_PAIR
) -> Iterator[tuple[NetnsHost, NetnsHost]]:
    tag = f"pg{os.getpid() % 100000}"
    names = {"a": f"{tag}a", "b": f"{tag}b"}
    hosts: list[NetnsHost] = []
    try:
        for side, outside, inside in (("a", pair.outside_a, pair.address_a), ("b", pair.outside_b, pair.address_b)):
            netns = names[side]
            ip("netns", "add", netns)
            link_namespace(netns, f"{netns}o", f"{netns}i", outside, inside, PREFIX)
        # The wire between the two hosts, and a route on each to the other's address.
        ip("-n", names["a"], "link", "add", f"{tag}ab", "type", "veth", "peer", "name", f"{tag}ba", "netns", names["b"])
        for side, own, other, peer in (
            ("a", pair.link_a, pair.address_b, pair.link_b),
            ("b", pair.link_b, pair.address_a, pair.link_a),
        ):
            device = f"{tag}{side}{'b' if side == 'a' else 'a'}"
            ip("-n", names[side], "addr", "add", f"{own}/{PREFIX}", "dev", device)
            ip("-n", names[side], "link", "set", device, "up")
            ip("-n", names[side], "route", "add", f"{other}/32", "via", peer)
        for side, address in (("a", pair.address_a), ("b", pair.address_b)):
            server = start_server(
                address, directory / f"pg-host-{side}", user_key, netns=names[side], mount_point=mount_point
            )
            hosts.append(NetnsHost(server, names[side]))
        yield hosts[0], hosts[1]
    finally:
        for host in hosts:
            stop_postgres_under(host.view)
            stop_server(host.server)
        for netns in names.values():
            _kill_everything_in(netns)
            subprocess.run(["ip", "netns", "del", netns], check=False, capture_output=True)
            # Deleting a namespace deletes its veth pairs; this is for a half-made one.
            subprocess.run(["ip", "link", "del", f"{netns}o"], check=False, capture_output=True)


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def stop_postgres_under(root: Path, timeout_s: float = 30.0) -> None:
    """Shut down every PostgreSQL server whose data directory is under ``root``."""
    for pidfile in root.glob("**/data/postmaster.pid"):
        pid = postmaster_pid(pidfile.parent)
        if pid is None:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + timeout_s
        while pidfile.exists() and _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill_everything_in(netns: str) -> None:
    found = subprocess.run(["ip", "netns", "pids", netns], check=False, capture_output=True, text=True)
    for word in found.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(word), signal.SIGKILL)
