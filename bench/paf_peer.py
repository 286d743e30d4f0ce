"""The peer engine of the automatic-failover benchmark: pg_auto_failover 2.0 (Debian), driven by hand.

A monitor and two nodes on this machine (127.0.0.1, three ports), each in its
own directory under the benchmark's root, each ``pg_autoctl run`` started as a
plain process as ``postgres``. Settings are pg_auto_failover's fastest that
still fence an isolated primary before the other node is promoted ("fast" in
the issue-13 measurements, /work/notes/ha/findings.md):

- monitor: health checks every 1 s (timeout 1 s, 2 retries 0.5 s apart),
  a node unhealthy after 3 s, ``primary_demote_timeout`` 5 s;
- nodes: ``timeout.network_partition_timeout`` 2 s, ``wal_sender_timeout`` 3 s,
  ``wal_receiver_status_interval`` 1 s.

The traps it works around (each seen while measuring):

- pg_autoctl's own ``initdb`` trusts local and 127.0.0.1 connections: every
  PGDATA is made by our ``initdb`` (peer locally, scram-sha-256 over TCP) with our
  ``pg_hba.conf``, and ``--skip-pg-hba``; the health-check role gets no hba line.
- its state and config live in XDG directories outside PGDATA: every command
  runs under ``env -i`` with one environment per node (which also keeps a
  caller's ``PGHOST`` away: a socket directory there breaks ``create monitor``);
- it sizes ``shared_buffers``/``wal_keep_size`` for the whole host: overridden in
  ``postgresql.auto.conf`` (read after its own file, copied to the standby);
- the replication role it creates has no password, and ``pg_autoctl config set
  replication.password`` echoes the password and leaves it in a 0644 file:
  passwords are set as SCRAM verifiers over psql's standard input, written into
  the (0600) config file directly, and read from 0600 pgpass files.
"""

from __future__ import annotations

import configparser
import os
import pwd
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench import ha_processes
from bench.ha_processes import PGBIN
from tests.postgres.acked_writer import CLIENT_TIMEOUTS

PACKAGE = "postgresql-15-auto-failover"
HOST = "127.0.0.1"
NODES = ("node1", "node2")

SERVER_OVERRIDES = {
    "shared_buffers": "'128MB'",
    "effective_cache_size": "'1GB'",
    "maintenance_work_mem": "'64MB'",
    "wal_keep_size": "'256MB'",
}
"""Read after pg_auto_failover's host-sized ``postgresql-auto-failover.conf``."""

MONITOR_FAST_MS = {
    "health_check_period": 1000,
    "health_check_timeout": 1000,
    "health_check_max_retries": 2,
    "health_check_retry_delay": 500,
    "node_considered_unhealthy_timeout": 3000,
    "primary_demote_timeout": 5000,
}
NODE_FAST_SERVER = {"wal_sender_timeout": "'3s'", "wal_receiver_status_interval": "'1s'"}
NODE_NETWORK_PARTITION_TIMEOUT_S = 2
SETTINGS_SUMMARY = (
    "monitor health checks 1 s/1 s/2 retries/0.5 s, unhealthy after 3 s, primary_demote_timeout 5 s; "
    "nodes network_partition_timeout 2 s, wal_sender_timeout 3 s"
)


def pg_autoctl() -> str | None:
    """Where pg_autoctl is installed, if it is."""
    candidate = Path(PGBIN) / "pg_autoctl"
    return str(candidate) if candidate.exists() else shutil.which("pg_autoctl")


def ensure_installed() -> None:
    """Install Debian's pg_auto_failover when it is missing (the benchmark's own step, not the tests')."""
    if pg_autoctl() is not None:
        return
    print(f"installing {PACKAGE} (Debian) for the peer engine", flush=True)
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", PACKAGE]
    if subprocess.run(command, env=environment, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=environment, capture_output=True, check=True)
        subprocess.run(command, env=environment, capture_output=True, check=True)
    if pg_autoctl() is None:
        raise SystemExit(f"{PACKAGE} installed but pg_autoctl is not in {PGBIN} or on PATH")


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """A SCRAM-SHA-256 verifier: ``ALTER ROLE ... PASSWORD '<verifier>'`` keeps the password itself out of
    server logs (the monitor logs DDL)."""
    import base64
    import hashlib
    import hmac

    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored)}:{b64(server_key)}"


def _postgres_ids() -> tuple[int, int]:
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def _own(*paths: Path) -> None:
    uid, gid = _postgres_ids()
    for path in paths:
        os.chown(path, uid, gid)


def _write_private(path: Path, text: str) -> None:
    """A file only postgres reads (0600), created so (never world-readable for a moment)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
    _own(path)


@dataclass
class PafPeer:
    """A pg_auto_failover formation: monitor + node1 + node2, under ``root``, ports ``port``..``port + 2``."""

    root: Path
    port: int
    passwords: dict[str, str] = field(default_factory=dict)
    daemons: dict[str, int] = field(default_factory=dict)
    """name -> pid of the ``runuser`` that runs that node's ``pg_autoctl run``."""

    name = "pg_auto_failover 2.0"

    # -- layout ---------------------------------------------------------------------

    def port_of(self, node: str) -> int:
        return self.port + (0 if node == "monitor" else 1 + NODES.index(node))

    def directory(self, node: str) -> Path:
        return self.root / node

    def pgdata(self, node: str) -> Path:
        return self.directory(node) / "pgdata"

    def server(self, node: str) -> str:
        """``host:port`` as the writer records the server that acknowledged a commit."""
        return f"{HOST}:{self.port_of(node)}"

    def _password(self, role: str) -> str:
        if role not in self.passwords:
            self.passwords[role] = secrets.token_urlsafe(24)
        return self.passwords[role]

    @property
    def password(self) -> str:
        return self._password("app")

    @property
    def conninfo(self) -> str:
        return psycopg.conninfo.make_conninfo(
            host=",".join(HOST for _ in NODES),
            port=",".join(str(self.port_of(node)) for node in NODES),
            dbname="appdb",
            user="app",
            sslmode="require",
            target_session_attrs="read-write",
            **CLIENT_TIMEOUTS,
        )

    def _environment(self, node: str) -> list[str]:
        """``env -i ...`` for every command of one node: its XDG directories hold its state and config."""
        home = self.directory(node)
        return [
            "env",
            "-i",
            f"PATH={PGBIN}:/usr/bin:/bin",
            f"HOME={home}",
            f"XDG_CONFIG_HOME={home}/config",
            f"XDG_DATA_HOME={home}/share",
            f"XDG_RUNTIME_DIR={home}/run",
            f"PGPASSFILE={home}/pgpass",
            f"PGDATA={self.pgdata(node)}",
            "LANG=C.UTF-8",
        ]

    def _as_postgres(self, node: str, *argv: str, stdin: str | None = None) -> str:
        command = ["runuser", "-u", "postgres", "--", *self._environment(node), *argv]
        done = subprocess.run(
            command, input=stdin, capture_output=True, text=True, cwd=self.directory(node), check=False, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"{node}: {' '.join(argv[:3])} failed (rc {done.returncode}): {done.stderr.strip()[-800:]}")
        return done.stdout

    def sql(self, node: str, statement: str, database: str = "postgres") -> str:
        """SQL as the postgres superuser over the node's unix socket, the statement on standard input."""
        return self._as_postgres(
            node,
            f"{PGBIN}/psql",
            "-h",
            "/var/run/postgresql",
            "-p",
            str(self.port_of(node)),
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atq",
            stdin=statement,
        ).strip()

    def _config_file(self, node: str) -> Path:
        home = self.directory(node)
        return home / "config" / "pg_autoctl" / str(self.pgdata(node)).lstrip("/") / "pg_autoctl.cfg"

    # -- creation -------------------------------------------------------------------

    def _prepare(self, node: str) -> None:
        home = self.directory(node)
        (home / "run").mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        os.chmod(home / "run", 0o700)
        _own(home, home / "run")
        # Passwords reach libpq through a pgpass file, never a URI, a command line or pg_autoctl's config.
        _write_private(
            home / "pgpass",
            f"{HOST}:{self.port_of('monitor')}:pg_auto_failover:autoctl_node:{self._password('autoctl_node')}\n"
            f"*:*:*:pgautofailover_replicator:{self._password('replicator')}\n",
        )

    def _initdb(self, node: str, hba: str) -> None:
        """Our own initdb: pg_autoctl's would trust local and loopback connections."""
        self._as_postgres(
            node,
            f"{PGBIN}/initdb",
            "-D",
            str(self.pgdata(node)),
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        with open(self.pgdata(node) / "postgresql.auto.conf", "a") as handle:
            handle.writelines(f"{name} = {value}\n" for name, value in SERVER_OVERRIDES.items())
        (self.pgdata(node) / "pg_hba.conf").write_text(hba)

    def _monitor_uri(self) -> str:
        return f"postgres://autoctl_node@{HOST}:{self.port_of('monitor')}/pg_auto_failover?sslmode=require"

    def create(self) -> None:
        ensure_installed()
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        self._prepare("monitor")
        self._initdb(
            "monitor",
            # the monitor's own services connect over the socket as autoctl_node (mapped from postgres)
            "local   pg_auto_failover autoctl_node peer map=pgautofailover\n"
            "local   all              postgres     peer\n"
            f"hostssl pg_auto_failover autoctl_node {HOST}/32 scram-sha-256\n",
        )
        with open(self.pgdata("monitor") / "pg_ident.conf", "a") as handle:
            handle.write("pgautofailover  postgres  autoctl_node\n")
        self._as_postgres(
            "monitor",
            "pg_autoctl", "create", "monitor", "--pgdata", str(self.pgdata("monitor")),
            "--pgport", str(self.port_of("monitor")), "--hostname", HOST, "--listen", HOST,
            "--ssl-self-signed", "--skip-pg-hba",
        )  # fmt: skip
        self.start("monitor")
        self._wait_sql("monitor")
        self.sql("monitor", f"ALTER ROLE autoctl_node PASSWORD '{scram_verifier(self._password('autoctl_node'))}'")
        node_hba = (
            "local   all         postgres                          peer\n"
            f"hostssl replication pgautofailover_replicator {HOST}/32 scram-sha-256\n"
            # pg_basebackup's checks, pg_rewind and the keeper connect to the formation's --dbname
            f"hostssl appdb       pgautofailover_replicator {HOST}/32 scram-sha-256\n"
            f"hostssl appdb       app                       {HOST}/32 scram-sha-256\n"
        )
        for index, node in enumerate(NODES):
            self._prepare(node)
            if index == 0:
                self._initdb(node, node_hba)
            # The second node's PGDATA is empty: create clones the primary (password from PGPASSFILE).
            self._as_postgres(
                node,
                "pg_autoctl", "create", "postgres", "--pgdata", str(self.pgdata(node)),
                "--pgport", str(self.port_of(node)), "--hostname", HOST, "--listen", HOST, "--name", node,
                "--monitor", self._monitor_uri(), "--ssl-self-signed", "--skip-pg-hba", "--dbname", "appdb",
            )  # fmt: skip
            self._set_replication_password(node)
            self.start(node)
            if index == 0:
                self._wait_sql(node)
                replicator = scram_verifier(self._password("replicator"))
                self.sql(node, f"ALTER ROLE pgautofailover_replicator PASSWORD '{replicator}'")
                self.sql(node, f"CREATE ROLE app LOGIN PASSWORD '{scram_verifier(self.password)}'")
                self.sql(
                    node,
                    "CREATE TABLE ledger (n bigint PRIMARY KEY, writer text NOT NULL); ALTER TABLE ledger OWNER TO app",
                    database="appdb",
                )
        self.wait_healthy(300)
        self.apply_fast_settings()

    def _set_replication_password(self, node: str) -> None:
        """Write ``[replication] password`` into the node's config (0600) ourselves: ``pg_autoctl config set``
        would echo it and take it on its command line."""
        path = self._config_file(node)
        config = configparser.ConfigParser(interpolation=None)
        config.read(path)
        if not config.has_section("replication"):
            config.add_section("replication")
        config.set("replication", "password", self._password("replicator"))
        descriptor = os.open(path, os.O_WRONLY | os.O_TRUNC)
        with os.fdopen(descriptor, "w") as handle:
            config.write(handle)
        os.chmod(path, 0o600)
        _own(path)

    def apply_fast_settings(self) -> None:
        for name, milliseconds in MONITOR_FAST_MS.items():
            self.sql("monitor", f"ALTER SYSTEM SET pgautofailover.{name} = {milliseconds}")
        self.sql("monitor", "SELECT pg_reload_conf()")
        for node in NODES:
            # the running keeper reloads its configuration file on this change
            self._as_postgres(
                node, "pg_autoctl", "config", "set", "timeout.network_partition_timeout", str(NODE_NETWORK_PARTITION_TIMEOUT_S)
            )
            os.chmod(self._config_file(node), 0o600)
            for name, value in NODE_FAST_SERVER.items():
                self.sql(node, f"ALTER SYSTEM SET {name} = {value}")  # per node: not replicated
            self.sql(node, "SELECT pg_reload_conf()")

    def _wait_sql(self, node: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.sql(node, "SELECT 1")
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    # -- processes ------------------------------------------------------------------

    def start(self, node: str) -> None:
        """Start the node's ``pg_autoctl run`` (it starts and supervises its PostgreSQL)."""
        running = self.daemons.get(node)
        if running is not None and ha_processes.alive(running):
            return
        with open(self.directory(node) / "run.log", "ab") as log:
            process = subprocess.Popen(
                ["runuser", "-u", "postgres", "--", *self._environment(node), "pg_autoctl", "run"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory(node),
                start_new_session=True,
            )
        self.daemons[node] = process.pid

    def restart(self, node: str) -> None:
        """The crashed node's host is back: its pg_autoctl starts, and the monitor rejoins it as a standby."""
        self.start(node)

    def crash(self, node: str) -> None:
        """A host crash of ``node``: SIGKILL its pg_autoctl, services, postmaster and backends at once."""
        roots = [self.daemons.pop(node)]
        postmaster = ha_processes.postmaster_pid(self.pgdata(node))
        if postmaster is not None:
            roots.append(postmaster)
        ha_processes.kill(ha_processes.tree(roots))

    def stop_all(self) -> None:
        for node in (*NODES, "monitor"):
            pid = self.daemons.pop(node, None)
            if pid is not None:
                ha_processes.stop_engine(pid)
            ha_processes.stop_postmaster(self.pgdata(node))

    # -- state ----------------------------------------------------------------------

    def _nodes(self) -> list[tuple[str, str, str, int]]:
        """(name, reported state, goal state, health) of every node, from the monitor."""
        with psycopg.connect(
            host=HOST,
            port=self.port_of("monitor"),
            user="autoctl_node",
            dbname="pg_auto_failover",
            sslmode="require",
            connect_timeout=3,
            password=self._password("autoctl_node"),
            autocommit=True,
        ) as connection:
            rows = connection.execute(
                "SELECT nodename, reportedstate::text, goalstate::text, health FROM pgautofailover.node ORDER BY nodeid"
            ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]

    def wait_healthy(self, timeout_s: float) -> float:
        """Until one primary and one secondary are as the monitor wants them and healthy; returns the seconds waited."""
        started = time.monotonic()
        nodes: list[tuple[str, str, str, int]] = []
        while time.monotonic() - started < timeout_s:
            try:
                nodes = self._nodes()
            except psycopg.Error:
                nodes = []
            settled = sorted(reported for _, reported, goal, health in nodes if reported == goal and health == 1)
            if settled == ["primary", "secondary"]:
                return time.monotonic() - started
            ha_processes.reap()
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}: not one healthy primary and secondary after {timeout_s:.0f} s: {nodes}")

    def primary(self) -> str:
        """The primary node's name."""
        for name, reported, goal, _ in self._nodes():
            if goal == reported and goal in ("primary", "wait_primary", "single"):
                return name
        raise RuntimeError(f"{self.name}: no primary: {self._nodes()}")
