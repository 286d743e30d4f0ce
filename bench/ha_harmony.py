"""harmony_py's side of the automatic-failover benchmark: PostgreSQL under the engine ``witness=`` brings.

Built through the public API only: three ``LocalInstance`` hosts on this
machine (two database members and a witness, each under its own directory and
port shift), ``Maestro(FailoverTopology(a, b, witness=w)).add(PostgreSQLScore(...))``.
The client connects through the endpoint the score produces (a libpq multi-host
URL). A host crash SIGKILLs every process of one member's directory at once
(engine, postmaster, backends, its etcd member and their ``runsv``
supervisors); its boot starts those supervisors again, as runsvdir would.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import anyio
import psycopg

from bench import ha_processes
from capabilities.postgresql import PgEndpoint, PgUser, ReplicationRole
from harmony_py import Maestro
from harmony_py.scores import PostgreSQLScore
from tests.postgres.acked_writer import CLIENT_TIMEOUTS
from topologies import FailoverTopology, LocalInstance

RUNIT_SERVICES = Path("/etc/sv")
RUNIT_ENABLED = Path("/etc/service")


class HarmonyCluster:
    """Two database members and a witness on this machine, deployed by harmony_py."""

    name = "harmony_py (Patroni + etcd)"

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.roots = {"primary": root / "a", "replica": root / "b", "witness": root / "w"}
        self.topology = FailoverTopology(
            LocalInstance("pg-a", root=str(self.roots["primary"]), port_shift=0),
            LocalInstance("pg-b", root=str(self.roots["replica"]), port_shift=1),
            witness=LocalInstance("pg-w", root=str(self.roots["witness"]), port_shift=2),
        )
        self.score = PostgreSQLScore("app", port=port, databases=["app"], users=[PgUser("app", databases=("app",))])
        self._endpoint: PgEndpoint | None = None
        self.supervisors: dict[str, list[str]] = {}
        """Per member, the service directories whose runsv its crash killed."""
        self.services: set[str] = set()
        """Every runit service directory seen running for this cluster (removed at the end)."""

    def deploy(self) -> None:
        report = anyio.run(Maestro(self.topology).add(self.score).apply)
        if not report.ok:
            raise SystemExit(f"harmony_py apply failed: {[s.message for s in report.scores]}")

    @property
    def endpoint(self) -> PgEndpoint:
        if self._endpoint is None:
            self._endpoint = anyio.run(self.topology.postgresql().endpoint, self.score.config, "app")
        return self._endpoint

    @property
    def conninfo(self) -> str:
        endpoint = self.endpoint
        return psycopg.conninfo.make_conninfo(
            host=",".join(host for host, _ in endpoint.addresses),
            port=",".join(str(port) for _, port in endpoint.addresses),
            dbname=endpoint.database,
            user=endpoint.user,
            target_session_attrs="read-write",
            **CLIENT_TIMEOUTS,
        )

    @property
    def password(self) -> str:
        return self.endpoint.password.reveal()

    def server(self, member: str) -> str:
        return self._servers()[member]

    def _servers(self) -> dict[str, str]:
        status = anyio.run(self.topology.postgresql().status, self.score.config)
        return {m.label: m.address for m in status.members}

    def primary(self) -> str:
        status = anyio.run(self.topology.postgresql().status, self.score.config)
        return status.primaries[0].label

    def wait_healthy(self, timeout_s: float) -> float:
        """Until one member is primary with the other listed as its synchronous standby, streaming."""
        started = time.monotonic()
        roles: dict[str, ReplicationRole] = {}
        while time.monotonic() - started < timeout_s:
            status = anyio.run(self.topology.postgresql().status, self.score.config)
            roles = {m.label: m.state.role for m in status.members}
            both = sorted(role.value for role in roles.values()) == ["primary", "replica"]
            if both and status.primaries[0].state.sync_standbys:
                return time.monotonic() - started
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}: no primary with a synchronous standby after {timeout_s:.0f} s: {roles}")

    def crash(self, member: str) -> None:
        pids = ha_processes.host_processes(self.roots[member])
        supervisors = [args for args in map(ha_processes.cmdline, pids) if args[:1] == ["runsv"] and len(args) > 1]
        self.supervisors[member] = [args[1] for args in supervisors]
        self.services.update(self.supervisors[member])
        ha_processes.kill(pids)
        ha_processes.wait_gone(pids, 10)

    def restart(self, member: str) -> None:
        """The host boots: runsvdir starts a runsv for each of its services."""
        for directory in self.supervisors.pop(member, []):
            subprocess.Popen(
                ["runsv", directory],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )

    def destroy(self) -> None:
        """Stop everything of the three hosts (supervisors first, so nothing restarts) and remove their services."""
        everything: list[int] = []
        for root in self.roots.values():
            everything += ha_processes.host_processes(root)
        for args in map(ha_processes.cmdline, everything):
            if args[:1] == ["runsv"] and len(args) > 1:
                self.services.add(args[1])
        ha_processes.kill([p for p in everything if ha_processes.cmdline(p)[:1] == ["runsv"]])
        # Patroni stops its PostgreSQL on SIGTERM; then whatever is left of each tree goes.
        for pid in everything:
            words = " ".join(ha_processes.cmdline(pid))
            if "patroni" in words and ha_processes.alive(pid):
                ha_processes.stop_engine(pid, timeout_s=30)
        for data in self.root.glob("**/data/postmaster.pid"):
            ha_processes.stop_postmaster(data.parent)
        left = [pid for root in self.roots.values() for pid in ha_processes.host_processes(root)]
        ha_processes.kill(left)
        ha_processes.wait_gone(left, 10)
        for run in RUNIT_SERVICES.glob("harmony-*/run"):
            with contextlib.suppress(OSError):
                if str(self.root) in run.read_text():
                    self.services.add(str(run.parent))
        for directory in self.services:
            name = Path(directory).name
            link = RUNIT_ENABLED / name
            with contextlib.suppress(FileNotFoundError):
                if link.is_symlink():
                    link.unlink()
            if Path(directory).parent == RUNIT_SERVICES and name.startswith("harmony-"):
                shutil.rmtree(directory, ignore_errors=True)
