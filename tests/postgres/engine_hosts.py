"""A Patroni cluster of LocalInstance members on this machine, for the engine's tests.

Three participants under the test's own root (``a`` and ``b`` database members,
``w`` the witness), on ports no other test holds; and everything they start taken
down at the end: Patroni first (its PostgreSQL survives a SIGTERM sent to itself
only), then any postmaster left, then etcd, then the runit service directories.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio

from capabilities.postgresql import PgEndpoint, PgUser
from harmony_py import Maestro
from harmony_py.report import RunReport
from harmony_py.scores import PostgreSQLScore
from harmony_py.scores.supervisors import RUNIT_ENABLED, RUNIT_SERVICES
from tests.ports import free_ports, port_is_free
from tests.processes import children_of, end_leftovers, processes_mentioning
from topologies import FailoverTopology, LocalInstance, MultisiteTopology
from topologies.postgres.patroni.cluster import PatroniCluster
from topologies.postgres.patroni.deploy import Engine
from topologies.postgres.patroni.layout import ETCD_CLIENT_OFFSET, ETCD_PEER_OFFSET, REST_OFFSET, Participant
from topologies.postgres.patroni.view import EngineView, cluster_view

from .conftest import PG_BIN

OFFSETS = (0, REST_OFFSET, ETCD_CLIENT_OFFSET, ETCD_PEER_OFFSET)


def engine_port(members: int = 3) -> int:
    """A PostgreSQL port P such that P+shift+offset is free for every shift and offset (all below 32768)."""
    for _ in range(200):
        base = free_ports(members).start
        wanted = [base + shift + offset for shift in range(members) for offset in OFFSETS]
        if max(wanted) < 32768 and all(port_is_free(port) for port in wanted):
            return base
    raise RuntimeError("no free ports for a Patroni cluster")


@dataclass
class EngineCluster:
    root: Path
    topology: FailoverTopology[LocalInstance] | MultisiteTopology[LocalInstance]
    score: PostgreSQLScore

    @property
    def service(self) -> PatroniCluster:
        service = self.topology.postgresql()
        assert isinstance(service, PatroniCluster)
        return service

    @property
    def engine(self) -> Engine:
        return self.service.engine(self.score.config)

    def participant(self, label: str) -> Participant:
        return next(p for p in self.engine.participants if p.label == label)

    def participant_named(self, name: str) -> Participant:
        """The participant Patroni and etcd call ``name`` (``site[0]`` is ``site_0``)."""
        return next(p for p in self.engine.participants if p.name == name)

    def apply(self) -> RunReport:
        return anyio.run(Maestro(self.topology).add(self.score).apply)

    def plan(self) -> RunReport:
        return anyio.run(Maestro(self.topology).add(self.score).plan)

    def view(self) -> EngineView | None:
        return anyio.run(cluster_view, self.engine.databases)

    def endpoint(self) -> PgEndpoint:
        return anyio.run(self.service.endpoint, self.score.config, "app")

    def endpoints(self) -> list[PgEndpoint]:
        """The endpoint once per member (the committer's form of a multi-host list)."""
        found = self.endpoint()
        return [dataclasses.replace(found, host=host, port=port, members=()) for host, port in found.members]

    def wait(self, what: str, done: Callable[[EngineView], bool], timeout_s: float = 180.0) -> EngineView:
        deadline = time.monotonic() + timeout_s
        view = None
        while time.monotonic() < deadline:
            view = self.view()
            if view is not None and done(view):
                return view
            time.sleep(0.5)
        raise AssertionError(f"no {what} within {timeout_s} s: {view.summary() if view else 'no answer'}")

    def leader(self) -> str:
        view = self.view()
        assert view is not None and view.leader is not None, view
        return view.leader.name


def make_cluster(root: Path, name: str = "hae") -> EngineCluster:
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    port = engine_port()
    a, b = (LocalInstance(f"pg-{label}", root=str(root / label), port_shift=shift) for shift, label in enumerate("ab"))
    witness = LocalInstance("pg-w", root=str(root / "w"), port_shift=2)
    topology = FailoverTopology[LocalInstance](a, b, witness=witness)
    score = PostgreSQLScore(name, port=port, databases=["app"], users=[PgUser("app", databases=("app",))])
    return EngineCluster(root, topology, score)


def make_multisite(root: Path, sites: int, name: str) -> EngineCluster:
    """A primary, ``sites`` replica sites and a witness, each its own LocalInstance (port shifts 0, 1, ...)."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    port = engine_port(sites + 2)
    primary, *others, witness = (
        LocalInstance(f"pg-{label}", root=str(root / label), port_shift=shift)
        for shift, label in enumerate(["p", *(f"s{i}" for i in range(sites)), "w"])
    )
    topology = MultisiteTopology[LocalInstance](primary, tuple(others), witness=witness)
    score = PostgreSQLScore(name, port=port, databases=["app"], users=[PgUser("app", databases=("app",))])
    return EngineCluster(root, topology, score)


# -- crashes -------------------------------------------------------------------------


def pids_of_service(service: str) -> list[int]:
    """The runsv of a runit service and the program it runs."""
    found = [int(line.partition(":")[0]) for line in processes_mentioning(f"runsv {RUNIT_SERVICES}/{service}")]
    pidfile = Path(RUNIT_SERVICES) / service / "supervise" / "pid"
    with contextlib.suppress(OSError, ValueError):
        found.append(int(pidfile.read_text().strip()))
    return found


def postmaster_pid(member: Participant) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((Path(member.pg.data_dir) / "postmaster.pid").read_text().split()[0])
    return None


def crash_host(member: Participant) -> None:
    """SIGKILL everything of ``member``'s host at once: its supervisors, Patroni, PostgreSQL, its etcd member."""
    pids = [*pids_of_service(member.patroni_service), *pids_of_service(member.etcd_service)]
    postmaster = postmaster_pid(member)
    if postmaster is not None:
        pids.append(postmaster)
        pids += children_of(postmaster)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def boot_host(member: Participant) -> None:
    """What a restarted host's runit does: a runsv for each enabled service (etcd, then Patroni)."""
    for service in (*([member.etcd_service] if member.etcd else []), member.patroni_service):
        subprocess.run(["setsid", "-f", "runsv", f"{RUNIT_SERVICES}/{service}"], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


# -- taking everything down -----------------------------------------------------------------


def _sv(*args: str) -> None:
    subprocess.run(["sv", *args], capture_output=True, check=False, timeout=120)


def take_down(cluster: EngineCluster) -> None:
    engine = cluster.engine
    for member in engine.databases:
        _sv("-w", "60", "down", f"{RUNIT_SERVICES}/{member.patroni_service}")
        postmaster = postmaster_pid(member)
        if postmaster is not None and Path(f"/proc/{postmaster}").exists():
            subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "stop", "-D", member.pg.data_dir,
                            "-m", "immediate", "-w"], capture_output=True, check=False, timeout=60)  # fmt: skip
    for member in engine.etcd_members:
        _sv("-w", "30", "down", f"{RUNIT_SERVICES}/{member.etcd_service}")
    for member in engine.participants:
        services = ([member.etcd_service] if member.etcd else []) + ([member.patroni_service] if member.database else [])
        for service in services:
            _sv("exit", f"{RUNIT_SERVICES}/{service}")
            for pid in pids_of_service(service):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            subprocess.run(["rm", "-rf", "--", f"{RUNIT_SERVICES}/{service}", f"{RUNIT_ENABLED}/{service}"], check=False)
    end_leftovers(str(cluster.root))


@contextlib.contextmanager
def engine_cluster(root: Path, name: str = "hae", *, sites: int = 0) -> Iterator[EngineCluster]:
    """A failover pair and a witness; with ``sites``, a multisite topology of a primary and that many sites."""
    cluster = make_multisite(root, sites, name) if sites else make_cluster(root, name)
    try:
        yield cluster
    finally:
        take_down(cluster)
