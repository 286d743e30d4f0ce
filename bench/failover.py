"""Write-unavailability of PostgreSQL failovers, with a committing client.

Not a test: run it by hand (as root) and record the figures in BENCHMARKS.md.

    python bench/failover.py --runs 5                 # manual: switchover and operator failover
    python bench/failover.py --over-ssh --runs 5      # the same, the two members LinuxHostTopology hosts over SSH
    python bench/failover.py --automatic --runs 10    # automatic: host crash, harmony_py vs pg_auto_failover

Manual mode: two PostgreSQL 15 servers on this machine (two directories, two
ports) form a FailoverTopology with synchronous replication and no witness. A
client commits a numbered row every 3 ms through libpq's multi-host list
(target_session_attrs=read-write). For each run the window is the longest gap
between two consecutive acknowledged commits around the operation: from the
last commit acknowledged by the old primary to the first one acknowledged by
the new primary. After each run every acknowledged row is looked up on the new
primary; the number missing must be 0. The failover run kills the primary's
postmaster with SIGKILL and then applies PostgreSQLFailoverScore at once
(detection time, which depends on a monitor's TTL, is not part of the figure);
the fenced member is rejoined (pg_rewind) before the next run.

With ``--over-ssh`` the same runs go to two LinuxHostTopology hosts reached
over SSH (bench/failover_ssh.py: an sshd of the benchmark's own on 127.37.0.1
and 127.37.0.2, each with its own /var/lib/postgresql); the client commits over
TCP to the hosts' addresses. It also prints what the operation sent the hosts:
commands into the long-lived sessions, exec channels and SFTP requests.

Automatic mode (bench/ha_crash.py): a host crash of the primary member — SIGKILL
of its engine, postmaster, backends and etcd member together — with no operator
action, timed from the kill to the first commit acknowledged by the other member,
acknowledged commits lost counted in every run. harmony_py's side is
``FailoverTopology(LocalInstance, LocalInstance, witness=LocalInstance)`` with
PostgreSQLScore (bench/ha_harmony.py); the peer engine, pg_auto_failover 2.0 with
its fastest safe settings, is measured in the same run (bench/paf_peer.py; the
benchmark installs Debian's postgresql-15-auto-failover when it is missing) and
the ratio harmony_py / peer is printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from capabilities.postgresql import PgUser  # noqa: E402
from harmony_py import Maestro  # noqa: E402
from harmony_py.scores import PostgreSQLFailoverScore, PostgreSQLScore, PostgreSQLSwitchoverScore  # noqa: E402
from bench import ha_crash  # noqa: E402
from bench.ha_harmony import HarmonyCluster  # noqa: E402
from bench.paf_peer import SETTINGS_SUMMARY, PafPeer  # noqa: E402
from tests import ports  # noqa: E402
from tests.postgres.committer import Committer  # noqa: E402
from topologies import FailoverTopology, LinuxHostTopology, LocalInstance  # noqa: E402

PG_CTL = "/usr/lib/postgresql/15/bin/pg_ctl"


def free_port() -> int:
    """A port P with P and P+1 free, below the ephemeral range other programs' connections use."""
    return ports.free_ports(2).start


Members = FailoverTopology[LocalInstance] | FailoverTopology[LinuxHostTopology]


def apply(topology: Members, *scores: object) -> None:
    async def closing() -> Any:
        # Closes the SSH connections (if any) inside the loop that opened them.
        async with Maestro(topology).add(*scores) as maestro:  # type: ignore[arg-type]
            return await maestro.apply()

    report = anyio.run(closing)
    if not report.ok:
        raise SystemExit(f"apply failed: {[s.message for s in report.scores]}")


def primary_label(topology: Members, score: PostgreSQLScore) -> str:
    async def closing() -> str:
        async with Maestro(topology):
            status = await topology.postgresql().status(score.config)
            return status.primaries[0].label

    return anyio.run(closing)


def window(committer: Committer, since: float) -> float:
    times = [t for t in committer.ack_times]
    before = [t for t in times if t <= since]
    after = [t for t in times if t > since]
    edges = ([before[-1]] if before else []) + after
    return max(b - a for a, b in zip(edges, edges[1:]))


def endpoints_of(topology: Members, score: PostgreSQLScore) -> list[Any]:
    async def closing() -> list[Any]:
        async with Maestro(topology):
            return [await m.postgresql().endpoint(score.config, "app") for m in topology.members]

    return anyio.run(closing)


Run = tuple[float, float, int]
"""The window (s), the operation's wall time (s), and the acknowledged commits lost."""


def one_run(
    topology: Members, score: PostgreSQLScore, kind: str, kill_primary: Callable[[str], None],
    trips: Callable[[], Counter[str]] | None = None,
) -> tuple[Run, Counter[str]]:
    """One switchover or failover under a committing client; with ``trips``, what the operation alone sent."""
    endpoints = endpoints_of(topology, score)
    committer = Committer(endpoints, table=f"bench_{kind}_{int(time.time() * 1000)}")
    committer.create_table()
    committer.start()
    try:
        committer.wait_for_acks(200)
        current = primary_label(topology, score)
        other = "replica" if current == "primary" else "primary"
        if trips is not None:
            trips()
        started = time.monotonic()
        if kind == "failover":
            kill_primary(current)
            apply(topology, PostgreSQLFailoverScore(score, to=other))
        else:
            apply(topology, PostgreSQLSwitchoverScore(score, to=other))
        operation_s = time.monotonic() - started
        sent = trips() if trips is not None else Counter[str]()
        committer.wait_for_acks(200)
    finally:
        committer.stop()
    lost = len(committer.missing_from(endpoints))
    if kind == "failover":
        apply(topology, score)  # rejoin the fenced member before the next run
    return (window(committer, started), operation_s, lost), sent


def kill_postmaster(data_dir: Path) -> None:
    os.kill(int((data_dir / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)


def measure(
    topology: Members, score: PostgreSQLScore, runs: int, kill_primary: Callable[[str], None],
    trips: Callable[[], Counter[str]] | None = None,
) -> None:
    """Deploy, then ``runs`` switchovers and failovers alternating; one line per run, then the medians."""
    apply(topology, score)
    results: dict[str, list[Run]] = {"switchover": [], "failover": []}
    sent: dict[str, list[Counter[str]]] = {"switchover": [], "failover": []}
    for run in range(runs):
        for kind in ("switchover", "failover"):
            outcome, counts = one_run(topology, score, kind, kill_primary, trips)
            results[kind].append(outcome)
            extra = ""
            if trips is not None:
                sent[kind].append(counts)
                extra = ", sent " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
            print(
                f"run {run + 1} {kind}: window {outcome[0]:.3f} s, operation {outcome[1]:.3f} s, lost {outcome[2]}"
                f"{extra} (load1 {os.getloadavg()[0]:.1f})", flush=True,
            )  # fmt: skip
    for kind, rows in results.items():
        windows = [r[0] for r in rows]
        print(
            f"{kind}: window median {statistics.median(windows):.3f} s (min {min(windows):.3f}, "
            f"max {max(windows):.3f}), operation median {statistics.median(r[1] for r in rows):.3f} s, "
            f"acknowledged commits lost {sum(r[2] for r in rows)} over {len(rows)} runs"
        )
        if sent[kind]:
            kinds = sorted({what for counts in sent[kind] for what in counts})
            print(f"  sent per {kind} (median): " + ", ".join(
                f"{statistics.median(c[what] for c in sent[kind]):g} {what}" for what in kinds))
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def manual(runs: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="harmony-bench-pg-"))
    root.chmod(0o755)
    os.environ["HARMONY_SECRETS_DIR"] = str(root / "secrets")
    port = free_port()
    topology = FailoverTopology[LocalInstance](
        LocalInstance("a", root=str(root / "a")), LocalInstance("b", root=str(root / "b"), port_shift=1)
    )
    score = PostgreSQLScore("app", port=port, databases=["app"], users=[PgUser("app", databases=("app",))])

    def kill_primary(label: str) -> None:
        member = topology.primary if label == "primary" else topology.replica
        kill_postmaster(Path(member.postgresql().layout(score.config).data_dir))

    try:
        measure(topology, score, runs, kill_primary)
    finally:
        for pidfile in root.glob("*/15/app/data/postmaster.pid"):
            subprocess.run(["runuser", "-u", "postgres", "--", PG_CTL, "stop", "-D", str(pidfile.parent), "-m", "immediate"],
                           capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def over_ssh(runs: int, trace: bool = False) -> None:
    """The manual runs with both members LinuxHostTopology hosts over SSH (bench/failover_ssh.py)."""
    from bench.failover_ssh import ADDRESSES, RoundTrips, ssh_members

    root = Path(tempfile.mkdtemp(prefix="harmony-bench-pg-ssh-"))
    root.chmod(0o755)
    os.environ["HARMONY_SECRETS_DIR"] = str(root / "secrets")
    port = ports.free_port(*ADDRESSES)
    score = PostgreSQLScore("app", port=port, databases=["app"], users=[PgUser("app", databases=("app",))])
    try:
        with ssh_members(root) as members, RoundTrips(trace=trace).installed() as trips:
            measure(
                members.topology, score, runs, lambda label: kill_postmaster(members.data_dir(label, "app")), trips.take
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def engine_port() -> int:
    """A PostgreSQL port P for three members (P, P+1, P+2) whose engine ports (REST API P+2000, etcd P+3000 and
    P+4000, each moved by the member's shift) are free too."""
    for _ in range(100):
        first = ports.free_ports(3).start
        others = [first + offset + shift for offset in (2000, 3000, 4000) for shift in range(3)]
        if all(port < 32768 and ports.port_is_free(port) for port in others):
            return first
    raise SystemExit("no free ports for three members and their engines")


def automatic(runs: int, engines: list[str]) -> None:
    root = Path(tempfile.mkdtemp(prefix="harmony-bench-ha-"))
    root.chmod(0o755)
    os.environ["HARMONY_SECRETS_DIR"] = str(root / "secrets")
    print(f"host crash of the primary member, {runs} runs per engine, load1 {os.getloadavg()[0]:.1f}", flush=True)
    medians: dict[str, float | None] = {}
    lines: list[str] = []
    try:
        if "harmony" in engines:
            harmony = HarmonyCluster(root / "harmony", engine_port())
            try:
                harmony.deploy()
                results = ha_crash.crash_runs(harmony, runs)
            finally:
                harmony.destroy()
            medians["harmony"] = ha_crash.median_s(results)
            lines.append(ha_crash.summary(harmony.name, results))
        if "peer" in engines:
            peer = PafPeer(root / "paf", ports.free_ports(3).start)
            try:
                peer.create()
                print(f"{peer.name} settings: {SETTINGS_SUMMARY}", flush=True)
                results = ha_crash.crash_runs(peer, runs)
            finally:
                peer.stop_all()
            medians["peer"] = ha_crash.median_s(results)
            lines.append(ha_crash.summary(peer.name, results))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for line in lines:
        print(line)
    ours, theirs = medians.get("harmony"), medians.get("peer")
    if ours is not None and theirs is not None:
        print(f"ratio harmony_py / pg_auto_failover (median kill -> first acknowledged commit): {ours / theirs:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=None, help="runs per kind (default 5 manual, 10 automatic)")
    parser.add_argument("--over-ssh", action="store_true", help="manual mode, the members LinuxHostTopology hosts over SSH")
    parser.add_argument("--trace", action="store_true", help="--over-ssh: print every request the hosts were sent")
    parser.add_argument("--automatic", action="store_true", help="host crash, no operator action, against the peer engine")
    parser.add_argument("--engines", default="harmony,peer", help="automatic mode: which of harmony,peer to measure")
    args = parser.parse_args()
    if args.automatic:
        automatic(args.runs or 10, args.engines.split(","))
    elif args.over_ssh:
        over_ssh(args.runs or 5, args.trace)
    else:
        manual(args.runs or 5)


if __name__ == "__main__":
    main()
