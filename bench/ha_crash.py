"""The host-crash scenario of the automatic-failover benchmark, the same for every engine.

Each run: wait until the cluster has a primary and a healthy standby; start a
client committing numbered rows through the cluster's multi-host URL; SIGKILL
every process of the primary's host at once (engine, postmaster, backends, its
etcd member and supervisor where it has them); time from the moment the kill
returned to the first commit acknowledged by the *other* member, with no
operator action; stop the client and look every acknowledged row up on the
new primary (the number missing must be 0); then restart the crashed host's
processes and wait until the engine has rejoined it as a standby.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from typing import Protocol

from tests.postgres.acked_writer import AckedWriter, missing_acked

FAILOVER_TIMEOUT_S = 180.0
HEALTHY_TIMEOUT_S = 300.0


class HaCluster(Protocol):
    """What the scenario needs from an engine's two-member cluster."""

    name: str

    @property
    def conninfo(self) -> str:
        """libpq multi-host URL (target_session_attrs=read-write), no password in it."""
        ...

    @property
    def password(self) -> str: ...

    def server(self, member: str) -> str:
        """``host:port`` of a member, as the client records who acknowledged a commit."""
        ...

    def primary(self) -> str:
        """The member that is primary now."""
        ...

    def wait_healthy(self, timeout_s: float) -> float:
        """Block until one primary and one streaming standby; the seconds it took."""
        ...

    def crash(self, member: str) -> None:
        """SIGKILL every process of the member's host at once."""
        ...

    def restart(self, member: str) -> None:
        """The crashed host comes back: start its processes as its boot would."""
        ...


@dataclass(frozen=True)
class CrashRun:
    crashed: str
    kill_to_first_ack_s: float | None
    acked: int
    lost: int
    acked_by_crashed_after_kill: int
    """Responses already on their way when the kill returned (at most one is expected)."""
    unreplicated: int
    rejoin_s: float
    load1: float

    def line(self) -> str:
        took = "no commit" if self.kill_to_first_ack_s is None else f"{self.kill_to_first_ack_s:.2f} s"
        return (
            f"kill {self.crashed} -> first acknowledged commit on the other member {took}; "
            f"acknowledged {self.acked}, lost {self.lost}, rejoined in {self.rejoin_s:.1f} s, load1 {self.load1:.1f}"
            + (f", in flight on the crashed member {self.acked_by_crashed_after_kill}" if self.acked_by_crashed_after_kill else "")
            + (f", sync-wait cancelled {self.unreplicated}" if self.unreplicated else "")
        )


def crash_once(cluster: HaCluster, tag: str) -> CrashRun:
    cluster.wait_healthy(HEALTHY_TIMEOUT_S)
    time.sleep(2)  # synchronous replication settles after a rejoin
    old = cluster.primary()
    old_server = cluster.server(old)
    writer = AckedWriter(cluster.conninfo, cluster.password, tag=tag, first_n=time.time_ns() // 1000)
    writer.create_table()
    writer.start()
    try:
        writer.wait_for_acks(50)
        cluster.crash(old)
        # Taken once the kill returned: a commit acknowledged while it was being prepared is a legitimate ack.
        killed = time.monotonic()
        first = writer.wait_for_ack(killed, FAILOVER_TIMEOUT_S, not_server=old_server)
        time.sleep(2)
    finally:
        writer.stop()
    lost = missing_acked(cluster.conninfo, cluster.password, writer)
    load1 = os.getloadavg()[0]
    cluster.restart(old)
    rejoin = cluster.wait_healthy(HEALTHY_TIMEOUT_S)
    return CrashRun(
        crashed=old,
        kill_to_first_ack_s=None if first is None else first.at - killed,
        acked=len(writer.acks),
        lost=len(lost),
        acked_by_crashed_after_kill=len(writer.acks_after(killed, server=old_server)),
        unreplicated=len(writer.unreplicated),
        rejoin_s=rejoin,
        load1=load1,
    )


def crash_runs(cluster: HaCluster, runs: int) -> list[CrashRun]:
    results = []
    for run in range(runs):
        result = crash_once(cluster, f"crash-{run}-{time.time_ns()}")
        print(f"{cluster.name} run {run + 1}: {result.line()}", flush=True)
        results.append(result)
    return results


def summary(name: str, results: list[CrashRun]) -> str:
    times = [r.kill_to_first_ack_s for r in results if r.kill_to_first_ack_s is not None]
    if not times:
        return f"{name}: no failover in {len(results)} runs"
    failed = len(results) - len(times)
    return (
        f"{name}: kill -> first acknowledged commit median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}, {len(times)} runs"
        + (f", {failed} without failover" if failed else "")
        + f"), acknowledged commits lost {sum(r.lost for r in results)} "
        f"(per run: {', '.join(str(r.lost) for r in results)})"
    )


def median_s(results: list[CrashRun]) -> float | None:
    times = [r.kill_to_first_ack_s for r in results if r.kill_to_first_ack_s is not None]
    return statistics.median(times) if times else None
