"""One PostgreSQL server on a host, driven through the host's CommandRunnerService only.

Every program runs as the ``postgres`` user (``runuser`` when connected as
root), with an explicit timeout; every path comes from :class:`PostgreSQLLayout`.
:meth:`~HostPostgreSQLServer.plan` and :meth:`~HostPostgreSQLServer.deploy`
run the same ordered steps (:mod:`.server_steps`, by the runner in
:mod:`.steps`): each step plans from what it observes and converges what it
planned, so a plan lists exactly what a deploy would do. The package is
installed and every file written through the code the host scores use
(:mod:`harmony_py.hostops`: ``PackageScore``'s apt, and ``FileScore``'s
convergence with an owner), not a writer of its own.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import weakref
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio

from capabilities.command_runner import CommandResult, CommandRunnerService, FileKind
from capabilities.postgresql import (
    PgCertificates,
    PgConfig,
    PgEndpoint,
    ReplicationRole,
    ReplicationSource,
    ReplicationState,
)
from harmony_py.errors import CommandFailedError
from harmony_py.hostops.files import OwnedFile, PlannedFile, converge_files, ensure_files, plan_files
from harmony_py.hostops.packages import install_packages
from harmony_py.values import Change, ChangeAction, Secret
from topologies.errors import HostPostgreSQLError
from topologies.secret_store import SecretStore

from topologies.concurrently import on_all
from .roles import all_databases, password_of, role_changes, slot_for, state_from_status
from .server_steps import ServerForecast, server_steps
from .steps import Step, deploy_steps, plan_steps
from .tls import ClusterAuthority, tls_enabled
from .text import (
    REPLICATION_CONF,
    STATUS_SQL,
    WRITE_PROBE_SQL,
    PostgreSQLLayout,
    replication_conninfo,
    facts_sql,
    status_and_facts_sql,
    mask_verifiers,
    pg_hba_conf,
    pgpass_line,
    postgresql_conf,
    primary_replication_conf,
    replica_replication_conf,
    slots_sql,
    sql_literal,
)

A = TypeVar("A")
B = TypeVar("B")
QUICK_S = 20.0
CREATECLUSTER_DIR = "/etc/postgresql-common/createcluster.d"
FileContent = str | Secret
"""A file's content: a :class:`Secret` when it holds a password (its plan then shows no diff)."""
PROBE_APPLICATION = "harmony_py_write_probe"
"""The ``application_name`` of the session that checks a primary takes writes."""
START_S = 120.0
COPY_S = 1800.0
STREAM_TIMEOUT_S = 30.0
"""How long a replica that was started or re-pointed may take to stream from its primary."""
POLL_S = 0.005
"""How often a wait inside one psql session looks again (:meth:`HostPostgreSQLServer.wait_until`)."""
STOP_POLL_S = "0.01"
"""How often a clean stop looks whether the postmaster is gone (GNU ``sleep`` takes fractions)."""
STOP_SCRIPT = """if "$1" status -D "$2" >/dev/null 2>&1; then
  "$1" stop -D "$2" -m "$3" -W || exit $?
  while [ -e "$2/postmaster.pid" ]; do sleep "$4" 2>/dev/null || sleep 1; done
fi
exec "$5" "$2"
"""
"""Stop a running server (``pg_ctl stop -W``, then wait for its PID file to go, as ``pg_ctl -w`` does but
every $4 s instead of every 0.1 s) and print ``pg_controldata``: one program for what a switchover's
old primary does while no one can write."""


@dataclass(frozen=True)
class ConfigurationPlan:
    """The configuration files as planned (each with what differs), and the changes a plan reports."""

    files: list[PlannedFile]
    changes: list[Change]


# Who each host runs our programs as, learnt once per host (``id -un``).
_USER_OF: weakref.WeakKeyDictionary[CommandRunnerService, str] = weakref.WeakKeyDictionary()


class HostPostgreSQLServer:
    """The server of cluster ``config`` on the host ``runner`` reaches."""

    def __init__(self, runner: CommandRunnerService, config: PgConfig, layout: PostgreSQLLayout, store: SecretStore) -> None:
        self.runner = runner
        self.config = config
        self.layout = layout
        self.store = store
        self._prefix: tuple[str, ...] | None = None
        self._root = False
        self.tls = tls_enabled(config)
        self._authority: ClusterAuthority | None = None

    @property
    def where(self) -> str:
        return f"{self.layout.host}:{self.layout.port}"

    # -- secrets ------------------------------------------------------------

    def password_of(self, user: str) -> Secret:
        return password_of(self.config, self.store, user)

    def endpoint(self, database: str) -> PgEndpoint:
        owner = self.config.owner_of(database)
        if owner == "postgres":
            raise HostPostgreSQLError(
                f"no user of database {database!r} in cluster {self.config.name}: "
                "list it in a PgUser's databases to get an endpoint (the superuser has no password)"
            )
        endpoint = PgEndpoint(self.layout.host, self.layout.port, database, owner, self.password_of(owner))
        if not self.tls:
            return endpoint
        return dataclasses.replace(
            endpoint, sslmode="verify-full", ca_certificate=self.certificates().authority,
            sslrootcert=self.layout.public_root_cert,
        )  # fmt: skip

    # -- TLS (adr/0095) -------------------------------------------------------

    def tls_names(self) -> tuple[str, ...]:
        """The addresses clients and replicas reach this server at: its server certificate's names."""
        specific = [a for a in self.config.listen_addresses if a not in ("*", "0.0.0.0", "::")]
        return tuple(dict.fromkeys([self.layout.host, *specific]))

    def certificates(self) -> PgCertificates:
        """This member's certificates from the cluster's authority (issued, or re-issued, as needed)."""
        member = f"{self.layout.host}-{self.layout.port}".replace(":", "_")
        if self._authority is None:
            # Made on first use: a plan swaps in its store view after this server is made.
            self._authority = ClusterAuthority(self.store, self.config)
        return self._authority.certificates(member, self.tls_names())

    def rotation_changes(self) -> list[Change]:
        """Why certificates were (or, in a plan, would be) re-issued, once each: the plan says why its files change."""
        if self._authority is None:
            return []
        reasons, self._authority.rotations = self._authority.rotations, []
        return [Change(ChangeAction.UPDATE, self.target, f"TLS: re-issue the {reason}") for reason in reasons]

    def tls_files(self) -> list[tuple[str, FileContent]]:
        """The certificate files this member reads (keys as Secrets: a plan shows no diff of them)."""
        if not self.tls:
            return []
        found = self.certificates()
        return [
            (self.layout.root_cert, found.authority),
            (self.layout.server_cert, found.server_certificate),
            (self.layout.server_key, found.server_key),
            (self.layout.client_cert, found.client_certificate),
            (self.layout.client_key, found.client_key),
        ]

    def public_files(self) -> list[tuple[str, FileContent]]:
        """The CA certificate where applications on this host can read it."""
        return [(self.layout.public_root_cert, self.certificates().authority)] if self.tls else []

    def source(self, name: str) -> ReplicationSource:
        """How a replica named ``name`` reaches this server."""
        user = self.config.replication_user
        return ReplicationSource(
            self.layout.host, self.layout.port, user, self.password_of(user), slot_for(name), name
        )

    # -- running programs ---------------------------------------------------

    async def as_postgres(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout_s: float = QUICK_S,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run a program as postgres with :func:`clean_environment` and ``env`` only."""
        prefix = await self._postgres_prefix()
        clean = clean_environment(self.layout, env)
        try:
            return await self.runner.run([*prefix, *clean, *argv], stdin=stdin, timeout_s=timeout_s)
        except TimeoutError:
            program = posixpath.basename(argv[0])
            raise HostPostgreSQLError(
                f"{self.config.name} at {self.where}: {program} did not finish within {timeout_s:g} s"
            ) from None

    async def _postgres_prefix(self) -> tuple[str, ...]:
        """How to run a program as postgres here (learnt once per host: every program is a round trip over SSH)."""
        if self._prefix is None:
            user = _USER_OF.get(self.runner)
            if user is None:
                who = await self.runner.run(["id", "-un"], timeout_s=QUICK_S)
                user = who.stdout_text.strip()
                if who.ok and user:
                    _USER_OF[self.runner] = user
            self._root = user == "root"
            if user == "postgres":
                self._prefix = ()
            elif self._root:
                self._prefix = ("runuser", "-u", "postgres", "--")
            else:
                self._prefix = ("sudo", "-n", "-u", "postgres", "--")
        return self._prefix

    async def check(
        self, what: str, argv: Sequence[str], *, stdin: bytes | None = None, timeout_s: float = QUICK_S
    ) -> CommandResult:
        result = await self.as_postgres(argv, stdin=stdin, timeout_s=timeout_s)
        if not result.ok:
            raise HostPostgreSQLError(f"{self.config.name} at {self.where}: {what} failed: {_last_lines(result)}")
        return result

    def psql(self, *commands: str, database: str = "postgres") -> list[str]:
        """psql running ``commands`` in turn in one session (one ``-c`` each), stopping at the first error."""
        argv = [
            self.layout.binary("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", self.layout.socket_dir, "-p", str(self.layout.port), "-U", "postgres", "-d", database,
        ]  # fmt: skip
        for command in commands:
            argv += ["-c", command]
        return argv

    async def wait_until(
        self, condition: str, *, timeout_s: float, what: str, before: Sequence[str] = (), then: Sequence[str] = ()
    ) -> str:
        """Run ``before``, poll ``condition`` (SQL, true when done) every :data:`POLL_S`, then run ``then``: one psql.

        One round trip instead of one psql per look: over SSH each look cost a
        program and a connection. ``statement_timeout`` bounds the loop on the
        server too (a cancelled client would not stop it).
        """
        loop = f"DO $$BEGIN WHILE NOT coalesce(({condition}), false) LOOP PERFORM pg_sleep({POLL_S}); END LOOP; END$$"
        argv = self.psql(f"SET statement_timeout = {int(timeout_s * 1000)}", *before, loop, *then)
        result = await self.check(what, argv, timeout_s=timeout_s + QUICK_S)
        return result.stdout_text

    async def sql(self, text: str, *, what: str = "SQL", database: str = "postgres") -> str:
        argv = self.psql(text, database=database)
        # In the argument, not on stdin: a psql that fails to connect exits
        # before reading its input, and writing to it then breaks the pipe
        # (an error of the transport, not psql's clear message). Nothing
        # secret goes through here: role passwords go on stdin, in create_roles.
        result = await self.check(what, argv)
        return result.stdout_text

    async def sql_json(self, text: str, *, what: str) -> Any:
        return json.loads(await self.sql(text, what=what))

    async def owned(self, files: Sequence[tuple[str, FileContent]], mode: int = 0o600) -> list[OwnedFile]:
        """Files the server reads: postgres's (when we are root; else we are postgres), never readable by others."""
        await self._postgres_prefix()  # learns whether we are root
        owner = "postgres" if self._root else None
        # The cluster's root may lie under a link (/var/lib/postgresql -> /srv/pg): written where it leads.
        return [OwnedFile(path, content, mode, owner, owner, follow_parent_symlinks=True) for path, content in files]

    async def ensure_owned(self, files: Sequence[tuple[str, FileContent]], mode: int = 0o600) -> list[Change]:
        """Converge such files as ``FileScore`` does (see :mod:`harmony_py.hostops.files`); the changes made."""
        planned = await self.plan_files(await self.owned(files, mode))
        await self.converge_files(planned)
        return [change for each in planned for change in each.changes]

    async def plan_files(self, files: Sequence[OwnedFile]) -> list[PlannedFile]:
        """:func:`~harmony_py.hostops.files.plan_files`, each file observed at the same time as the others.

        The files are independent; over SSH each observation is several round
        trips (content, ownership, owner names), so one file after another
        multiplied them on a switchover's critical path.
        """
        planned = await on_all(list(files), lambda file: plan_files(self.runner, [file]))
        return [each for one in planned for each in one]

    async def converge_files(self, planned: Sequence[PlannedFile]) -> None:
        """:func:`~harmony_py.hostops.files.converge_files`, the files that differ written at the same time."""
        await on_all([each for each in planned if each.changes], lambda each: converge_files(self.runner, [each]))

    async def _chown(self, *paths: str) -> None:
        await self._postgres_prefix()  # learns whether we are root
        if self._root and paths:
            result = await self.runner.run(["chown", "postgres:postgres", "--", *paths], timeout_s=QUICK_S)
            if not result.ok:
                raise HostPostgreSQLError(f"cannot give {', '.join(paths)} to the postgres user: {_last_lines(result)}")

    # -- observing ----------------------------------------------------------

    async def binaries_present(self) -> bool:
        return await self.runner.stat(self.layout.binary("pg_ctl")) is not None

    async def has_data(self) -> bool:
        return await self.runner.stat(f"{self.layout.data_dir}/PG_VERSION") is not None

    async def running(self) -> bool:
        result = await self.as_postgres([self.layout.binary("pg_ctl"), "status", "-D", self.layout.data_dir])
        return result.exit_status == 0

    async def accepting(self) -> bool:
        """Whether the server answers on its socket (starting, running or shutting down)."""
        ready = await self.as_postgres(
            [self.layout.binary("pg_isready"), "-h", self.layout.socket_dir, "-p", str(self.layout.port), "-t", "3"]
        )
        return ready.exit_status in (0, 1)

    async def fenced(self) -> bool:
        return await self.runner.stat(self.layout.fence_file) is not None

    async def state(self) -> ReplicationState:
        if not await self.has_data():
            return ReplicationState(ReplicationRole.ABSENT)
        fenced = await self.fenced()
        try:
            # Asking the server first costs one program when it runs (the
            # common case, and the one on the switchover's critical path).
            found = await self.sql_json(STATUS_SQL, what="reading replication status")
        except HostPostgreSQLError:
            # Not running, or a postmaster killed a moment ago that still has a
            # PID file and maybe a process entry: either way it serves nobody.
            if not await self.running() or not await self.accepting():
                return ReplicationState(ReplicationRole.STOPPED, fenced=fenced)
            raise
        return state_from_status(found, fenced=fenced)

    async def answering_state(self) -> tuple[ReplicationState, dict[str, Any]] | None:
        """The state of a server answering on this cluster's socket, and its roles and
        databases (one program), else None."""
        try:
            found = await self.sql_json(
                status_and_facts_sql(self.config.replication_user), what="reading replication status"
            )
        except HostPostgreSQLError:
            return None
        return state_from_status(found["status"], fenced=await self.fenced()), found["facts"]

    async def check_data_dir(self) -> None:
        """Refuse a data directory that is someone else's or holds something else."""
        data = self.layout.data_dir
        found = await self.runner.stat(data)
        if found is None:
            return
        if found.kind is not FileKind.DIRECTORY:
            raise HostPostgreSQLError(f"{data} is a {found.kind.value}, not a data directory; move it away first")
        owner = await self.runner.run(["stat", "-c", "%U", data], timeout_s=QUICK_S)
        if owner.ok and owner.stdout_text.strip() != "postgres":
            raise HostPostgreSQLError(
                f"data directory {data} is owned by {owner.stdout_text.strip()}, not postgres: "
                "harmony_py will not take over or re-initialise it"
            )
        if not await self.has_data():
            listing = await self.runner.run(["ls", "-A", data], timeout_s=QUICK_S)
            if listing.ok and listing.stdout_text.strip():
                raise HostPostgreSQLError(
                    f"{data} holds files but no PostgreSQL cluster (no PG_VERSION): "
                    "harmony_py will not initialise over them"
                )

    # -- converging one server ----------------------------------------------

    def steps(self) -> list[Step[ServerForecast]]:
        """Binaries, cluster, files, a running server, roles and databases (:mod:`.server_steps`)."""
        return server_steps(self)

    async def plan(self) -> list[Change]:
        """What :meth:`deploy` would do, observed (nothing is changed)."""
        return await plan_steps(self.steps(), ServerForecast(self.target))

    async def deploy(self) -> list[Change]:
        """Converge each step in turn; the changes made."""
        return await deploy_steps(self.steps(), ServerForecast(self.target))

    @property
    def target(self) -> str:
        """What this server's changes name."""
        return f"{self.config.name}@{self.where}"

    async def install_binaries(self) -> None:
        """Install the version's Debian package with the code ``PackageScore`` uses (:mod:`harmony_py.hostops.packages`)."""
        # Debian's package would create and start a "main" cluster on 5432: ask it not to.
        await self.runner.make_directory(CREATECLUSTER_DIR, mode=0o755)
        await ensure_files(self.runner, [OwnedFile(f"{CREATECLUSTER_DIR}/harmony.conf", "create_main_cluster = false\n", 0o644)])
        package = f"postgresql-{self.config.version}"
        try:
            await install_packages(self.runner, [package], update_cache=True, timeout_s=COPY_S)
        except CommandFailedError as failed:
            raise HostPostgreSQLError(f"installing {package} failed: {failed}") from None
        if not await self.binaries_present():
            raise HostPostgreSQLError(f"{package} is installed but {self.layout.binary('pg_ctl')} is not there")

    async def ensure_base(self) -> None:
        # The version directory above the cluster must be traversable by
        # postgres: made explicitly, since over SFTP missing parents would get
        # the cluster directory's 0700.
        parent = posixpath.dirname(self.layout.base_dir)
        if await self.runner.stat(parent) is None:
            await self.runner.make_directory(parent, mode=0o755)
        for path in (self.layout.base_dir, self.layout.socket_dir):
            if await self.runner.stat(path) is None:
                await self.runner.make_directory(path, mode=0o700)
                await self._chown(path)

    async def initdb(self) -> None:
        await self.ensure_base()
        await self.check(
            "initdb",
            [
                self.layout.binary("initdb"), "-D", self.layout.data_dir, "-U", "postgres", "-E", "UTF8",
                "--locale=C", "--auth-local=peer", "--auth-host=scram-sha-256",
            ],
            timeout_s=START_S,
        )  # fmt: skip

    def desired_files(self, replication_conf: str | None) -> list[tuple[str, FileContent]]:
        data = self.layout.data_dir
        user = self.config.replication_user
        files: list[tuple[str, FileContent]] = [
            (f"{data}/postgresql.conf", postgresql_conf(self.config, self.layout, tls=self.tls)),
            (f"{data}/pg_hba.conf", pg_hba_conf(self.config, tls=self.tls)),
        ]
        if self.tls:
            # The replication role logs in with its certificate: no password in any file.
            files += self.tls_files()
        else:
            files.append((self.layout.passfile, Secret(pgpass_line(user, self.password_of(user).reveal()))))
        if replication_conf is not None:
            files.append((f"{data}/{REPLICATION_CONF}", replication_conf))
        return files

    async def plan_configuration(
        self,
        *,
        fresh: bool,
        replication_conf: str | None = None,
        also: Sequence[tuple[str, FileContent]] = (),
    ) -> ConfigurationPlan:
        """The configuration files that differ from what ``FileScore`` would converge (content, mode 0600,
        owner postgres); the role file only when missing unless given.

        ``also``: files converged with them and not reported (the markers of a replica).
        """
        target_conf = replication_conf
        if target_conf is None and (fresh or await self.runner.stat(f"{self.layout.data_dir}/{REPLICATION_CONF}") is None):
            target_conf = primary_replication_conf(())
        reported = await self.plan_files(
            [*await self.owned(self.desired_files(target_conf)), *await self.owned(self.public_files(), mode=0o644)],
        )
        unreported = await self.plan_files(await self.owned(also))
        changes = [change for each in reported for change in each.changes]
        if changes:
            changes += self.rotation_changes()
        return ConfigurationPlan([*reported, *unreported], changes)

    async def ensure_configuration(
        self, *, replication_conf: str | None = None, also: Sequence[tuple[str, FileContent]] = ()
    ) -> list[Change]:
        """Plan and converge the configuration files of an existing cluster at once; the changes made."""
        configuration = await self.plan_configuration(fresh=False, replication_conf=replication_conf, also=also)
        await self.converge_files(configuration.files)
        return configuration.changes

    async def start(self) -> None:
        await self.ensure_base()
        before = await self.runner.stat(self.layout.log_file)
        offset = before.size if before is not None else 0
        result = await self.as_postgres(
            [self.layout.binary("pg_ctl"), "start", "-D", self.layout.data_dir, "-l", self.layout.log_file,
             "-w", "-t", str(int(START_S))],
            timeout_s=START_S + 10,
        )  # fmt: skip
        if not result.ok:
            log = await self.runner.read_file(self.layout.log_file) or b""
            reason = _server_complaint(log[offset:].decode(errors="replace")) or _last_lines(result)
            raise HostPostgreSQLError(
                f"PostgreSQL {self.config.name} did not start on port {self.layout.port}: {reason}"
            )

    async def stop(self, mode: str = "fast") -> None:
        if not await self.running():
            return
        await self.check(
            f"stopping ({mode})",
            [self.layout.binary("pg_ctl"), "stop", "-D", self.layout.data_dir, "-m", mode, "-w", "-t", str(int(START_S))],
            timeout_s=START_S + 10,
        )  # fmt: skip

    async def reload_or_restart(self) -> None:
        await self.sql("SELECT pg_reload_conf()", what="reloading the configuration")
        pending = await self.sql(
            "SELECT count(*) FROM pg_settings WHERE pending_restart", what="checking for settings needing a restart"
        )
        if pending.strip() not in ("", "0"):
            await self.stop("fast")
            await self.start()

    async def stop_at_checkpoint(self, mode: str = "fast") -> str:
        """Stop the server if it runs, then read its last checkpoint's location: one program (:data:`STOP_SCRIPT`)."""
        result = await self.check(
            f"stopping ({mode}) and reading pg_controldata",
            ["sh", "-c", STOP_SCRIPT, "sh", self.layout.binary("pg_ctl"), self.layout.data_dir, mode, STOP_POLL_S,
             self.layout.binary("pg_controldata")],
            timeout_s=START_S + 10,
        )  # fmt: skip
        return self._checkpoint_location(result)

    async def checkpoint_lsn(self) -> str:
        result = await self.check("pg_controldata", [self.layout.binary("pg_controldata"), self.layout.data_dir])
        return self._checkpoint_location(result)

    def _checkpoint_location(self, result: CommandResult) -> str:
        for line in result.stdout_text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Latest checkpoint location":
                return value.strip()
        raise HostPostgreSQLError(f"{self.config.name} at {self.where}: pg_controldata shows no checkpoint location")

    # -- roles and databases --------------------------------------------------

    def roles_to_create(self, target: str) -> list[Change]:
        """What a cluster that does not run yet will get (no server to ask)."""
        changes = [Change(ChangeAction.CREATE, target, f"create replication role {self.config.replication_user}")]
        changes += [Change(ChangeAction.CREATE, target, f"create role {u.name}") for u in self.config.users]
        changes += [Change(ChangeAction.CREATE, target, f"create database {d}") for d in self.all_databases()]
        return changes

    def all_databases(self) -> list[str]:
        return all_databases(self.config)

    async def role_facts(self) -> dict[str, Any]:
        found: dict[str, Any] = await self.sql_json(
            facts_sql(self.config.replication_user), what="reading roles and databases"
        )
        return found

    def role_plan(self, facts: dict[str, Any], target: str) -> tuple[list[Change], list[str]]:
        """The changes converging roles and databases from ``facts``, and the statements making them."""
        return role_changes(self.config, self.password_of, facts, target)

    async def create_roles(self, statements: Sequence[str]) -> None:
        """Run the statements of :meth:`role_plan` in one psql."""
        # Committed without waiting for the synchronous standbys: a standby that
        # cannot log in (a replication password to repair, say) would otherwise
        # hold the repair itself. They get it as soon as they stream.
        script = ["SET synchronous_commit = local;", *statements]
        result = await self.as_postgres(
            [self.layout.binary("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.layout.socket_dir,
             "-p", str(self.layout.port), "-U", "postgres", "-d", "postgres", "-f", "-"],
            stdin="\n".join(script).encode(),
        )  # fmt: skip
        if not result.ok:
            raise HostPostgreSQLError(
                f"{self.target}: creating roles and databases failed: {mask_verifiers(_last_lines(result))}"
            )

    # -- replication ----------------------------------------------------------

    async def set_standbys(self, standbys: tuple[str, ...], slots: tuple[str, ...]) -> None:
        path = f"{self.layout.data_dir}/{REPLICATION_CONF}"
        if await self.ensure_owned([(path, primary_replication_conf(standbys))]):
            await self.sql("SELECT pg_reload_conf()", what="reloading the configuration")
        await self.sql(slots_sql(slots), what="creating replication slots")

    async def follow(self, source: ReplicationSource, *, rewind: bool = True) -> None:
        """Clone, rewind or re-point this server so that it streams from ``source``."""
        if not await self.binaries_present():
            await self.install_binaries()
        state = await self.checked_state()
        upstream = f"{source.host}:{source.port}"
        streaming = state.role is ReplicationRole.REPLICA and state.upstream == upstream
        if not streaming:
            # Before anything is written here, so that a refusal changes nothing.
            await self._require_reachable(source)
        await self.ensure_base()
        if self.tls:
            # Before pg_basebackup: it logs in with the replication role's certificate.
            await self.ensure_owned(self.tls_files())
        else:
            await self.ensure_owned([(self.layout.passfile, Secret(pgpass_line(source.user, source.password.reveal())))])
        tls = self.layout if self.tls else None
        wanted = replica_replication_conf(
            source.host, source.port, source.user, self.layout.passfile, source.name, source.slot, tls=tls
        )
        log_from = await self._log_size()
        if streaming or (state.role is ReplicationRole.REPLICA and not rewind):
            # Streaming, or a replica of the old primary after a switchover: its
            # WAL is a prefix of the new primary's, so re-pointing it (a reload) is enough.
            changed = await self.ensure_configuration(replication_conf=wanted)
            if changed:
                await self.reload_or_restart()
            await self._unfence()
            if changed or not streaming:
                await self._await_streaming(upstream, log_from)
            return
        if state.role is ReplicationRole.ABSENT:
            await self.check(
                f"cloning the primary at {upstream} with pg_basebackup",
                [self.layout.binary("pg_basebackup"), "-D", self.layout.data_dir,
                 "-d", replication_conninfo(source.host, source.port, source.user, self.layout.passfile, tls=tls),
                 "-X", "stream", "-S", source.slot, "-c", "fast", "--no-password"],
                timeout_s=COPY_S,
            )  # fmt: skip
        elif state.role is ReplicationRole.REPLICA:
            # A replica of a failed primary may hold WAL the new primary lacks.
            await self.ensure_configuration(replication_conf=wanted, also=self._standby_signal())
            await self.stop("fast")
            await self.rewind(source)
        else:
            await self.stop("fast")
            if rewind:
                await self.rewind(source)
            else:
                await self._unfence()
        await self.ensure_configuration(replication_conf=wanted, also=self._standby_signal())
        # Every way here left the server stopped: cloned, or stopped above.
        await self.start()
        await self._unfence()
        await self._await_streaming(upstream, log_from)

    async def _log_size(self) -> int:
        found = await self.runner.stat(self.layout.log_file)
        return found.size if found is not None else 0

    async def _await_streaming(self, upstream: str, log_from: int) -> None:
        """Return once this server's WAL receiver streams from ``upstream``; else fail with the reason its log gives.

        Started or reloaded is not following: a replica that cannot log in to
        its primary runs, answers, and streams nothing, while every commit on
        the primary waits for it.
        """
        streaming = (
            "EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming' "
            f"AND sender_host || ':' || sender_port = {sql_literal(upstream)})"
        )
        with anyio.move_on_after(STREAM_TIMEOUT_S):
            try:
                # The usual case in one round trip: the server answers and its receiver connects within moments.
                await self.wait_until(streaming, timeout_s=STREAM_TIMEOUT_S, what=f"waiting to stream from {upstream}")
                return
            except HostPostgreSQLError:
                pass  # not answering yet: look again as it comes up
            delay = 0.02
            while True:
                try:
                    state = await self.state()
                except HostPostgreSQLError:
                    state = ReplicationState(ReplicationRole.STOPPED)  # not answering yet
                if state.role is ReplicationRole.REPLICA and state.upstream == upstream:
                    return
                await anyio.sleep(delay)
                delay = min(delay * 2, 0.5)
        log = await self.runner.read_file(self.layout.log_file) or b""
        complaint = _server_complaint(log[log_from:].decode(errors="replace"))
        reason = complaint or f"nothing in {self.layout.log_file} says why"
        raise HostPostgreSQLError(
            f"{self.config.name} at {self.where} does not stream from its primary at {upstream} "
            f"{STREAM_TIMEOUT_S:g} s after being told to: {reason}"
        )

    def _standby_signal(self) -> list[tuple[str, FileContent]]:
        return [(f"{self.layout.data_dir}/standby.signal", "")]

    async def checked_state(self) -> ReplicationState:
        """:meth:`state`, after :meth:`check_data_dir` unless the server answers (then the directory is ours)."""
        found = await self.runner.stat(self.layout.data_dir)
        if found is None:
            return ReplicationState(ReplicationRole.ABSENT)
        if found.kind is not FileKind.DIRECTORY:
            await self.check_data_dir()  # raises
        state = await self.state()
        if state.role in (ReplicationRole.ABSENT, ReplicationRole.STOPPED):
            await self.check_data_dir()
        return state

    async def rewind(self, source: ReplicationSource) -> None:
        """Make a stopped former primary's data a prefix of ``source``'s history."""
        # Crash recovery (run by pg_rewind itself after a kill) refuses standby mode.
        await self.runner.run(["rm", "-f", f"{self.layout.data_dir}/standby.signal"], timeout_s=QUICK_S)
        tls = self.layout if self.tls else None
        server = replication_conninfo(
            source.host, source.port, source.user, self.layout.passfile, tls=tls, dbname="postgres"
        )
        result = await self.as_postgres(
            [self.layout.binary("pg_rewind"), "--target-pgdata", self.layout.data_dir, "--source-server", server],
            timeout_s=COPY_S,
        )
        if not result.ok:
            hint = ""
            if "could not find previous WAL record" in result.stderr_text:
                hint = (
                    "; its WAL since the last common checkpoint is gone, so it cannot be rewound: harmony_py "
                    f"will not re-initialise it; move {self.layout.data_dir} away to clone it afresh"
                )
            raise HostPostgreSQLError(
                f"{self.config.name} at {self.where}: rewinding to the primary at {source.host}:{source.port} "
                f"with pg_rewind failed: {_last_lines(result)}{hint}"
            )
        # Kept for whoever asks later what the rewind did.
        await self.runner.write_file(f"{self.layout.base_dir}/last-rewind.log", result.stderr + result.stdout, mode=0o600)

    async def _require_reachable(self, source: ReplicationSource) -> None:
        ready = await self.as_postgres(
            [self.layout.binary("pg_isready"), "-h", source.host, "-p", str(source.port), "-t", "5"],
            timeout_s=QUICK_S,
        )
        if ready.exit_status in (2, 3):
            raise HostPostgreSQLError(
                f"{self.config.name} at {self.where} cannot reach its primary at {source.host}:{source.port} "
                f"({ready.stdout_text.strip() or 'no response'}); nothing was changed on this server. "
                "A replica on another host needs the primary to listen on an address it can reach "
                "(listen_addresses), and its address in allowed_networks"
            )

    async def wait_replayed(self, lsn: str, timeout_s: float) -> None:
        """Return once this replica has replayed the WAL up to ``lsn`` (one psql, however long it takes)."""
        await self.wait_until(
            f"pg_last_wal_replay_lsn() >= {sql_literal(lsn)}::pg_lsn", timeout_s=timeout_s, what=f"replaying up to {lsn}"
        )

    async def _unfence(self) -> None:
        if await self.fenced():
            await self.runner.run(["rm", "-f", self.layout.fence_file], timeout_s=QUICK_S)

    async def promote(self, standbys: tuple[str, ...]) -> None:
        """Make this replica the primary whose commits wait for ``standbys`` (adr/0022), its slots made.

        Its state and its standby file are observed at once; the reload, the
        promotion, the wait for its end and the slots are one psql (adr/0104).
        """
        path = f"{self.layout.data_dir}/{REPLICATION_CONF}"
        state, planned = await _both(self.state(), self.plan_files(await self.owned([(path, primary_replication_conf(standbys))])))
        slots = slots_sql(tuple(slot_for(name) for name in standbys))
        if state.role is ReplicationRole.PRIMARY:
            await self.converge_files(planned)
            await self.sql(f"SELECT pg_reload_conf(); {slots}", what="reloading the configuration and creating slots")
            return
        if state.role is not ReplicationRole.REPLICA:
            raise HostPostgreSQLError(f"{self.config.name} at {self.where} is {state.role.value}, not a replica to promote")
        # The standby set is loaded before promotion, so the first commit as a
        # primary already waits for the standbys (adr/0022).
        await self.converge_files(planned)
        await self.wait_until(
            "NOT pg_is_in_recovery()", timeout_s=START_S, what="promoting",
            before=("SELECT pg_reload_conf()", "SELECT pg_promote(wait => false)"), then=(slots,),
        )  # fmt: skip

    async def probe_write(self, timeout_s: float) -> None:
        """Commit a transaction that writes WAL, as a client would, within ``timeout_s``.

        The transaction is :data:`WRITE_PROBE_SQL`. No setting inside PostgreSQL
        bounds the wait for the standbys, so the bound is ours: on expiry the
        waiting session is terminated (its psql may outlive the command that
        ran it, and the session would wait for ever).
        """
        argv = [
            self.layout.binary("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
            "-h", self.layout.socket_dir, "-p", str(self.layout.port), "-U", "postgres", "-d", "postgres",
            "-c", WRITE_PROBE_SQL,
        ]  # fmt: skip
        result: CommandResult | None = None
        with anyio.move_on_after(timeout_s):
            result = await self.as_postgres(argv, timeout_s=timeout_s + QUICK_S, env={"PGAPPNAME": PROBE_APPLICATION})
        if result is None:
            await self.sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE application_name = {sql_literal(PROBE_APPLICATION)}",
                what="ending the unacknowledged commit",
            )
            raise HostPostgreSQLError(
                f"{self.config.name} at {self.where}: a commit was not acknowledged within {timeout_s:g} s"
            )
        if not result.ok:
            raise HostPostgreSQLError(f"{self.config.name} at {self.where}: a commit failed: {_last_lines(result)}")

    async def fence(self) -> None:
        """Stop now, and make sure a restart comes up read-only (adr/0022)."""
        marker = "Fenced by harmony_py after a failover: this server must not start as a primary.\n"
        await self.ensure_owned([(self.layout.fence_file, marker)], mode=0o644)
        if await self.has_data():
            # Before stopping: a running server reads it only when it starts.
            await self.ensure_owned(self._standby_signal())
        try:
            await self.stop("immediate")
        except HostPostgreSQLError:
            # pg_ctl fails on a postmaster that is already dead but not yet reaped.
            if await self.accepting():
                raise


SEARCH_PATH = "/usr/local/bin:/usr/bin:/bin"


def clean_environment(layout: PostgreSQLLayout, extra: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The ``env -i`` prefix giving a PostgreSQL program exactly the variables it needs.

    Whatever runs the program (``runuser`` keeps the caller's variables, ``sudo``
    filters them by its own rules, a transport may pass some on), libpq in every
    client and in the server's WAL receiver reads ``PGPASSWORD``, ``PGSERVICE``,
    ``PGSSLMODE``, ``PGOPTIONS`` and more from its environment, and the server takes
    its message language from ``LC_*``. So the environment is built here, in the
    command itself: a search path, a fixed locale (messages harmony_py reads stay
    English), and ``PGPASSFILE`` naming the cluster's own password file.
    """
    names = {"PATH": SEARCH_PATH, "LANG": "C.UTF-8", "PGPASSFILE": layout.passfile, **(extra or {})}
    return ("env", "-i", *(f"{name}={value}" for name, value in names.items()))


async def _both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Two independent observations at once (over SSH each is a round trip)."""
    found: list[Any] = await on_all([first, second], lambda call: call)
    return found[0], found[1]


def _last_lines(result: CommandResult) -> str:
    text = (result.stderr_text.strip() or result.stdout_text.strip() or f"exit status {result.exit_status}")
    return " | ".join(text.splitlines()[-3:])


_WAL_RECEIVER_FAILED = ("could not connect to the primary server", "could not receive data from WAL stream")
_NOT_THE_SERVERS_FAULT = ("connection to client lost",)
"""A backend whose client went away (our own poll, cut short by its deadline): never why a server does not stream."""


def _server_complaint(log: str) -> str | None:
    """The line of a server log that says why it stopped, or why its WAL receiver does not stream."""
    lines = [line for line in log.splitlines() if "LOG:" in line or "FATAL:" in line]
    for line in lines:
        if "could not bind" in line or "Address already in use" in line:
            return line.split(":  ", 1)[-1].strip()
    fatal = [line for line in lines if "FATAL:" in line and not any(text in line for text in _NOT_THE_SERVERS_FAULT)]
    for line in reversed(fatal):
        if any(text in line for text in _WAL_RECEIVER_FAILED):
            return line.split("FATAL:", 1)[-1].strip()
    return fatal[-1].split("FATAL:", 1)[-1].strip() if fatal else None
