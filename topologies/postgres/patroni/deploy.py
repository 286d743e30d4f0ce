"""The walk of a Patroni cluster: ordered steps, each planned from the live hosts, then converged.

The steps (run by :mod:`topologies.postgres.steps`, as the manual path's are):

1. :class:`CheckStep` refuses, before anything changes, what cannot work: a
   participant that cannot be reached, a data directory of the manual path, a port
   another program holds;
2. :class:`InstallStep`: PostgreSQL, etcd and Patroni on every participant;
3. :class:`EtcdStep`: an etcd member on every participant, healthy together;
4. :class:`AuthStep`: etcd authentication, bootstrapped once;
5. :class:`FilesStep`: Patroni's configuration on every database member (a
   running Patroni reloads it);
6. :class:`PatroniStep`: Patroni running on every database member; a new cluster
   starts on the first member (which initialises it) before the others clone it;
7. :class:`~.reconfigure.SettingsStep`: the score's settings in the engine's dynamic
   configuration (``PATCH /config``), a rolling restart where one needs it;
8. :class:`RolesStep`: the score's roles and databases, on the leader.

A deploy that changed anything returns only once the engine reports a running
leader, every other member streaming, and a synchronous standby (observed, not assumed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import anyio

from harmony_py.hostops.files import OwnedFile, PlannedFile, converge_files, plan_files
from harmony_py.scores.supervisors import supervisor_of
from harmony_py.values import Change, ChangeAction, Secret
from topologies.errors import HostPostgreSQLError
from topologies.postgres.server import HostPostgreSQLServer
from topologies.postgres.steps import Step, deploy_steps, plan_steps
from topologies.secret_store import SecretStore

from . import etcd, install, tls
from .config import Credentials, Timings, config_text
from .layout import PATRONI_HOME, Participant
from .reconfigure import SettingsStep
from .supervision import Daemon, converge_daemon, daemon_state, plan_daemon
from .view import EngineView, cluster_view

LEADER_S = 120.0
"""How long a new cluster's first member may take to initialise and lead."""
HEALTHY_S = 300.0
"""How long the other members may take to clone, stream, and one to become synchronous."""
QUICK_S = 20.0


@dataclass(frozen=True)
class Engine:
    """One cluster's participants (database members first, the witness last) and what they share."""

    participants: tuple[Participant, ...]
    store: SecretStore
    credentials: Credentials
    timings: Timings = Timings()
    tls: bool = False
    """Whether the cluster runs TLS (decided once for all members: replication by certificate needs every one)."""

    @property
    def databases(self) -> tuple[Participant, ...]:
        return tuple(p for p in self.participants if p.database)

    @property
    def witness(self) -> Participant:
        return self.participants[-1]

    @property
    def etcd_members(self) -> tuple[Participant, ...]:
        """The participants that run an etcd member (an odd count, adr/0097)."""
        return tuple(p for p in self.participants if p.etcd)

    @property
    def urls(self) -> str:
        return etcd.endpoints(self.etcd_members)

    def server(self, member: Participant) -> HostPostgreSQLServer:
        """The PostgreSQL server Patroni runs on ``member``, driven by the manual path's primitives."""
        server = HostPostgreSQLServer(member.runner, member.config, member.pg, self.store)
        server.tls = self.tls  # the cluster's decision, not this member's own reading of its addresses
        return server

    def patroni_daemon(self, member: Participant) -> Daemon:
        argv = (f"{PATRONI_HOME}/bin/patroni", member.patroni_config)
        return Daemon(member.patroni_service, argv, "postgres", {"HOME": member.patroni_dir})


@dataclass
class EngineForecast:
    """What earlier steps of one walk will have done by the time a later step converges."""

    etcd_starting: bool = False
    """etcd members start in this walk: a plan cannot ask them anything yet."""
    new_cluster: bool = False
    """No member holds data and Patroni runs nowhere: the walk initialises the cluster."""
    view: EngineView | None = None


def engine_steps(engine: Engine) -> list[Step[EngineForecast]]:
    return [CheckStep(engine), InstallStep(engine), EtcdStep(engine), AuthStep(engine), FilesStep(engine),
            PatroniStep(engine), SettingsStep(engine), RolesStep(engine)]  # fmt: skip


# -- 1. refusals ------------------------------------------------------------------


@dataclass
class CheckStep:
    engine: Engine

    async def plan(self, predicted: EngineForecast) -> list[Change]:
        for member in self.engine.participants:
            await _reachable(member)
        for member in self.engine.databases:
            manual = member.manual_layout.data_dir
            if await member.runner.stat(f"{manual}/PG_VERSION") is not None:
                raise HostPostgreSQLError(
                    f"{member.target}: {manual} holds cluster {member.config.name} made by harmony_py's manual "
                    "replication (a topology without witness); Patroni does not adopt it and harmony_py deletes no "
                    "data: dump it (pg_dumpall), stop it, move the directory away, apply again, then restore the dump"
                )
        for member in self.engine.participants:
            await _ports_free(self.engine, member)
        return []

    async def converge(self, changes: Sequence[Change]) -> None:
        """Refusals change nothing."""


async def _reachable(member: Participant) -> None:
    try:
        result = await member.runner.run(["true"], timeout_s=QUICK_S)
    except Exception as exc:  # noqa: BLE001 - any way of not reaching it is the same refusal, named
        raise HostPostgreSQLError(f"{member.target} cannot be reached: {type(exc).__name__}: {exc}") from exc
    if not result.ok:
        raise HostPostgreSQLError(f"{member.target} cannot run commands (true exits {result.exit_status})")


async def _ports_free(engine: Engine, member: Participant) -> None:
    """Every port of a daemon that is not running yet must be free (another program holding one would win)."""
    etcd_running = await daemon_state(member.runner, member.etcd_service) == "running"
    patroni_running = member.database and await daemon_state(member.runner, member.patroni_service) == "running"
    for what, port in member.ports.items():
        ours = etcd_running if what.startswith("etcd") else patroni_running
        if ours:
            continue
        listening = await member.runner.run(["ss", "-H", "-l", "-t", "-n", f"sport = :{port}"], timeout_s=QUICK_S)
        if listening.ok and listening.stdout_text.strip():
            raise HostPostgreSQLError(
                f"{member.target}: port {port} (for {what}) is already in use by another program; nothing was "
                f"changed. Ports follow from PostgreSQL's port {member.pg_port}: free it or choose another port"
            )


# -- 2. install -------------------------------------------------------------------


@dataclass
class InstallStep:
    engine: Engine

    async def plan(self, predicted: EngineForecast) -> list[Change]:
        changes: list[Change] = []
        for member in self.engine.participants:
            changes += await install.plan_install(member.runner, member.target)
            if member.database and not await self.engine.server(member).binaries_present():
                changes.append(Change(ChangeAction.CREATE, member.target, f"install PostgreSQL {member.config.version} with apt"))
        return changes

    async def converge(self, changes: Sequence[Change]) -> None:
        # Every host first: one that cannot get the engine stops the walk before any host installs anything.
        for member in self.engine.participants:
            await install.check_installable(member.runner, member.target)
        # One host at a time: members on one machine share its apt lock.
        for member in self.engine.participants:
            if member.database and not await self.engine.server(member).binaries_present():
                await self.engine.server(member).install_binaries()
            await install.install_checked(member.runner, member.target)


# -- 3. etcd ----------------------------------------------------------------------


@dataclass
class EtcdStep:
    engine: Engine
    planned: list[list[Change]] = field(default_factory=list)

    async def plan(self, predicted: EngineForecast) -> list[Change]:
        everyone = self.engine.etcd_members
        self.planned = [
            await plan_daemon(member.runner, etcd.etcd_daemon(member, everyone), member.target) for member in everyone
        ]
        predicted.etcd_starting = any(c.attribute == "start" for found in self.planned for c in found)
        changes = [c for found in self.planned for c in found]
        if changes:
            changes += [
                Change(ChangeAction.RUN, m.target, f"{m.label} runs no etcd member (Patroni there uses the others'): "
                       f"{len(everyone)} etcd members, an odd count, survive one failure as {len(everyone) + 1} would")
                for m in self.engine.participants if not m.etcd
            ]  # fmt: skip
        shared = _shared_machines(self.engine)
        if changes and shared:
            witness = self.engine.witness
            changes.append(Change(ChangeAction.RUN, witness.target,
                                  f"witness shares {witness.machine} with {shared}: no automatic failover when "
                                  f"{witness.machine} dies (for local development only)"))  # fmt: skip
        return changes

    async def converge(self, changes: Sequence[Change]) -> None:
        everyone = self.engine.etcd_members
        for member in everyone:
            await etcd.prepare_directory(member)
        for member, found in zip(everyone, self.planned):
            if found:
                await converge_daemon(member.runner, etcd.etcd_daemon(member, everyone), found)
        # A re-apply that restarts a member of an existing etcd: its authentication is already on.
        await etcd.wait_healthy(everyone[0], everyone, _patroni_user(self.engine))


def _shared_machines(engine: Engine) -> str:
    """The database members on the witness's machine, by label (empty: it has one of its own)."""
    witness = engine.witness
    return ", ".join(m.label for m in engine.databases if m.machine == witness.machine)


# -- 4. etcd authentication --------------------------------------------------------


@dataclass
class AuthStep:
    engine: Engine

    async def plan(self, predicted: EngineForecast) -> list[Change]:
        engine = self.engine
        change = Change(ChangeAction.UPDATE, f"etcd of {engine.witness.config.name}",
                        "enable etcd authentication (root; a patroni user limited to Patroni's keys)")  # fmt: skip
        if predicted.etcd_starting:
            return [change]
        runner = engine.etcd_members[0].runner
        if not await etcd.auth_enabled(runner, engine.urls):
            return [change]
        if not await etcd.patroni_user_works(runner, engine.urls, _patroni_user(engine)):
            raise HostPostgreSQLError(
                f"etcd of cluster {engine.witness.config.name} has authentication on, but refuses the patroni "
                "user's password kept in the secret store (another store made it?): restore that store"
            )
        return []

    async def converge(self, changes: Sequence[Change]) -> None:
        engine = self.engine
        if await etcd.auth_enabled(engine.etcd_members[0].runner, engine.urls):
            return
        secrets = engine.credentials
        await etcd.enable_auth(engine.etcd_members[0], engine.urls, secrets.etcd_root, secrets.etcd_patroni)


def _patroni_user(engine: Engine) -> Secret:
    return Secret(f"{etcd.PATRONI_ROLE}:{engine.credentials.etcd_patroni.reveal()}")


# -- 5. Patroni's configuration and the member's certificates --------------------------


@dataclass
class MemberFiles:
    """One database member's files as planned: Patroni's configuration, then its certificates (with TLS)."""

    member: Participant
    server: HostPostgreSQLServer
    config: list[PlannedFile]
    certificates: list[PlannedFile]

    @property
    def changed(self) -> bool:
        return any(each.changes for each in [*self.config, *self.certificates])

    @property
    def certificates_changed(self) -> bool:
        return any(each.changes for each in self.certificates)


@dataclass
class FilesStep:
    engine: Engine
    planned: list[MemberFiles] = field(default_factory=list)

    async def plan(self, predicted: EngineForecast) -> list[Change]:
        self.planned = [await self._plan(m) for m in self.engine.databases]
        changes: list[Change] = []
        for found in self.planned:
            m = found.member
            changes += [
                Change(c.action, m.target, f"{m.label}: {c.summary}", c.diff, c.attribute)
                for each in [*found.config, *found.certificates] for c in each.changes
            ]  # fmt: skip
            if found.certificates_changed:
                # Why they change (re-issued: expiring, other names, another authority), once each.
                changes += [Change(c.action, m.target, f"{m.label}: {c.summary}") for c in found.server.rotation_changes()]
        return changes

    async def _plan(self, member: Participant) -> MemberFiles:
        engine = self.engine
        server = engine.server(member)
        text = config_text(member, engine.participants, engine.credentials, engine.timings, tls=engine.tls)
        config = OwnedFile(member.patroni_config, text, 0o600, "postgres", "postgres", follow_parent_symlinks=True)
        return MemberFiles(
            member, server, await plan_files(member.runner, [config]),
            await plan_files(member.runner, await tls.certificate_files(server)),
        )  # fmt: skip

    async def converge(self, changes: Sequence[Change]) -> None:
        for found in self.planned:
            if not found.changed:
                continue
            member = found.member
            await found.server.ensure_base()
            for path in (member.patroni_log_dir,):
                if await member.runner.stat(path) is None:
                    await member.runner.make_directory(path, mode=0o700)
                    await _checked(member, ["chown", "postgres:postgres", "--", path], f"giving {path} to postgres")
            running = await daemon_state(member.runner, member.patroni_service) == "running"
            loaded = await tls.conf_load_time(found.server) if running and found.certificates_changed else None
            await converge_files(member.runner, [*found.config, *found.certificates])
            if running:
                await _reload(member)
            if loaded is not None:
                # New certificates are in use only once PostgreSQL rereads its files: observed, not assumed.
                await tls.await_reloaded(found.server, loaded, member.target)


async def _reload(member: Participant) -> None:
    """Patroni rereads its file on SIGHUP and reloads PostgreSQL (settings, pg_hba, certificates): no restart."""
    supervisor = await supervisor_of(member.runner, member.patroni_service, "auto")
    if supervisor.name == "systemd":
        argv = ["systemctl", "kill", "--signal=HUP", "--", f"{member.patroni_service}.service"]
    else:
        argv = ["sv", "hup", f"/etc/sv/{member.patroni_service}"]
    await _checked(member, argv, "reloading Patroni")


# -- 6. Patroni running ----------------------------------------------------------------


@dataclass
class PatroniStep:
    engine: Engine
    planned: list[list[Change]] = field(default_factory=list)

    async def plan(self, predicted: EngineForecast) -> list[Change]:
        engine = self.engine
        members = engine.databases
        self.planned = [await plan_daemon(m.runner, engine.patroni_daemon(m), m.target) for m in members]
        starting = [m for m, found in zip(members, self.planned) if any(c.attribute == "start" for c in found)]
        predicted.view = None if predicted.etcd_starting else await cluster_view(members)
        held = [m for m in members if await m.runner.stat(f"{m.pg.data_dir}/PG_VERSION") is not None]
        predicted.new_cluster = predicted.view is None and not held
        changes = [c for found in self.planned for c in found]
        if predicted.new_cluster and starting:
            first = members[0]
            changes.append(Change(ChangeAction.CREATE, first.target, f"{first.label}: initialise the cluster and lead it"))
            changes += [
                Change(ChangeAction.CREATE, m.target, f"{m.label}: clone {first.label} and stream from it synchronously")
                for m in members[1:]
            ]
        return changes

    async def converge(self, changes: Sequence[Change]) -> None:
        engine = self.engine
        members = list(engine.databases)
        pending = list(zip(members, self.planned))
        if await cluster_view(members) is None and pending and pending[0][1]:
            # A new cluster: the first member initialises it, then the others clone it.
            first, found = pending.pop(0)
            await converge_daemon(first.runner, engine.patroni_daemon(first), found)
            await wait_for(engine, lambda view: view.leader is not None, LEADER_S, "a leader")
        for member, found in pending:
            if found:
                await converge_daemon(member.runner, engine.patroni_daemon(member), found)


async def wait_for(engine: Engine, done: Callable[[EngineView], bool], timeout_s: float, what: str) -> EngineView:
    """The engine's view once ``done(view)`` holds; else an error saying what it shows."""
    members = engine.databases
    view: EngineView | None = None
    with anyio.move_on_after(timeout_s):
        while True:
            view = await cluster_view(members)
            if view is not None and done(view):
                return view
            await anyio.sleep(0.5)
    shown = view.summary() if view is not None else "no Patroni REST API answers"
    logs = ", ".join(f"{m.label}: {m.patroni_log_dir}" for m in members)
    raise HostPostgreSQLError(
        f"cluster {members[0].config.name}: no {what} within {timeout_s:g} s ({shown}); Patroni's logs: {logs}"
    )


# -- 7. roles and databases --------------------------------------------------------------


@dataclass
class RolesStep:
    engine: Engine
    statements: list[str] = field(default_factory=list)
    leader: Participant | None = None

    async def plan(self, predicted: EngineForecast) -> list[Change]:
        engine = self.engine
        self.statements, self.leader = [], None
        view = predicted.view or (None if predicted.etcd_starting else await cluster_view(engine.databases))
        if view is None or view.leader is None:
            if predicted.new_cluster or predicted.etcd_starting:
                first = engine.databases[0]
                return engine.server(first).roles_to_create(first.target)
            shown = view.summary() if view is not None else "no Patroni REST API answers"
            raise HostPostgreSQLError(f"cluster {engine.databases[0].config.name} has no running leader ({shown})")
        leader = self.leader = _participant(engine, view.leader.name)
        server = engine.server(leader)
        changes, self.statements = server.role_plan(await server.role_facts(), leader.target)
        return changes

    async def converge(self, changes: Sequence[Change]) -> None:
        engine = self.engine
        if self.leader is None:
            view = await wait_for(engine, lambda v: v.leader is not None, LEADER_S, "a leader")
            assert view.leader is not None
            self.leader = _participant(engine, view.leader.name)
            server = engine.server(self.leader)
            _, self.statements = server.role_plan(await server.role_facts(), self.leader.target)
        if self.statements:
            await engine.server(self.leader).create_roles(self.statements)


def _participant(engine: Engine, name: str) -> Participant:
    for member in engine.databases:
        if member.name == name:
            return member
    raise HostPostgreSQLError(f"Patroni reports a member {name!r} that is not one of {[m.name for m in engine.databases]}")


async def _checked(member: Participant, argv: list[str], what: str) -> None:
    result = await member.runner.run(argv, timeout_s=QUICK_S)
    if not result.ok:
        raise HostPostgreSQLError(f"{member.target}: {what} failed: {result.stderr_text.strip()[-200:]}")


# -- the walk ----------------------------------------------------------------------


async def plan_engine(engine: Engine) -> list[Change]:
    return await plan_steps(engine_steps(engine), EngineForecast())


async def deploy_engine(engine: Engine) -> list[Change]:
    changes = await deploy_steps(engine_steps(engine), EngineForecast())
    if changes:
        names = [m.name for m in engine.databases]
        await wait_for(engine, lambda view: view.healthy(names), HEALTHY_S,
                       "running leader with every member streaming and a synchronous standby")  # fmt: skip
    return changes

