"""What the SSH connect gate costs on a fleet of distinct hosts: connecting N hosts with the gate's bound and without (adr/0107).

    flock /tmp/harmony-servers.lock python bench/connect_gate.py --hosts 50 --rounds 3

Starts N real sshd hosts (bench/fanout_hosts.py), then, alternating, connects a
TopologyGroup of them (``ensure_ready``: handshake, SFTP, the OS facts) once with
the gate's default bound (``CONNECT_CONCURRENCY``) and once with a bound above N
(no bound in effect), closing the connections after each. Prints the wall time
of each and the medians, with the load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fanout_hosts import running_fleet  # noqa: E402
from harmony_py import Maestro, TopologyGroup  # noqa: E402
from topologies import LinuxHostTopology  # noqa: E402
from topologies.host.ssh import connect_gate  # noqa: E402


async def connect_all(hosts: list[LinuxHostTopology], concurrency: int) -> float:
    connect_gate._gates.clear()
    gate = connect_gate.connect_gate()
    gate.limiter.total_tokens = concurrency
    started = time.monotonic()
    async with Maestro(TopologyGroup(hosts)) as maestro:
        report = await maestro.plan()
    elapsed = time.monotonic() - started
    failed = [host.topology for host in report.hosts if not host.ok]
    if failed:
        raise SystemExit(f"hosts failed: {failed}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    gated: list[float] = []
    free: list[float] = []
    with tempfile.TemporaryDirectory(prefix="harmony-connect-gate-") as work, running_fleet(args.hosts, Path(work)) as fleet:
        hosts = [
            LinuxHostTopology(
                server.address, port=server.port, user="root", client_keys=(str(fleet.key.private_path),),
                use_agent=False, known_hosts=str(fleet.known_hosts),
            )  # fmt: skip
            for server in fleet.servers
        ]
        for round_no in range(args.rounds):
            order = [(connect_gate.CONNECT_CONCURRENCY, gated), (args.hosts + 1, free)]
            for concurrency, figures in order if round_no % 2 == 0 else reversed(order):
                figures.append(anyio.run(connect_all, hosts, concurrency))
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load: {load}")
    print(f"connect {args.hosts} hosts, gate {connect_gate.CONNECT_CONCURRENCY}: {', '.join(f'{v:.2f}' for v in gated)} s (median {statistics.median(gated):.2f})")
    print(f"connect {args.hosts} hosts, no bound:  {', '.join(f'{v:.2f}' for v in free)} s (median {statistics.median(free):.2f})")


if __name__ == "__main__":
    main()
