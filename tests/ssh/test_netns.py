"""One host in its own network namespace, reached over a veth pair: a separate machine on the network."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from harmony_py import Maestro, ScoreState
from harmony_py.scores import CommandScore, FileScore

from .conftest import HostFactory
from .netns_hosts import ip, link_namespace
from .sshd import SshServer, UserKey, start_server, stop_server, write_known_hosts

# A /30 inside 10.231.0.0/24: the most specific route, so other tests' namespaces cannot take it.
OUTSIDE, INSIDE, PREFIX = "10.231.0.37", "10.231.0.38", 30


@pytest.fixture(scope="module")
def namespaced_server(ssh_root: Path, user_key: UserKey) -> Iterator[SshServer]:
    tag = f"hs{os.getpid() % 100000}"
    netns, outside, inside = f"{tag}ns", f"{tag}o", f"{tag}i"
    ip("netns", "add", netns)
    server = None
    try:
        link_namespace(netns, outside, inside, OUTSIDE, INSIDE, PREFIX)
        server = start_server(INSIDE, ssh_root / "netns-host", user_key, netns=netns)
        yield server
    finally:
        if server is not None:
            stop_server(server)
        # Deleting the namespace deletes the veth pair with it.
        subprocess.run(["ip", "netns", "del", netns], check=False)
        subprocess.run(["ip", "link", "del", outside], check=False, capture_output=True)


def test_scores_reach_a_host_in_another_network_namespace(
    make_host: HostFactory, namespaced_server: SshServer, ssh_root: Path, tmp_path: Path
) -> None:
    known_hosts = write_known_hosts(tmp_path / "known_hosts", [namespaced_server])
    host = make_host(namespaced_server, known_hosts=str(known_hosts))
    seen = tmp_path / "seen-from-host"
    scores = (
        FileScore(str(tmp_path / "greeting"), "hello across namespaces\n"),
        # The remote side reports its own addresses: proof it runs in the other namespace.
        CommandScore(["sh", "-c", f"ip -o -4 addr show > {seen}"], creates=str(seen)),
    )

    async def run() -> None:
        async with Maestro(host).add(*scores) as maestro:
            first = await maestro.apply()
            assert first.ok and first.count(ScoreState.CHANGED) == 2, first
            second = await maestro.apply()
            assert second.count(ScoreState.UNCHANGED) == 2

    anyio.run(run)
    assert (tmp_path / "greeting").read_text() == "hello across namespaces\n"
    addresses = seen.read_text()
    assert INSIDE in addresses and OUTSIDE not in addresses
