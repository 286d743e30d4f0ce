"""PostgreSQL on Kubernetes: a ``PostgreSQLServerService`` over a client that reaches into Pods (``K8sPodClientService``).

One server ``config.name`` lives in the topology's namespace as the objects of
:mod:`harmony_py.scores.k8s_postgres_manifests`. Two topologies (two namespaces of one
cluster, say) in a ``FailoverTopology`` are a primary and a streaming replica:
the leader/followers orchestration of ``topologies/postgres/cluster.py`` drives
them through the primitives below, as it drives hosts.

What is declared (role, upstream, fenced, stopped) lives in the API objects and
is converged with server-side apply; what only the server knows (is it in
recovery, its WAL position, its standbys) is asked inside the Pod through the
exec API (:class:`capabilities.k8s.K8sPodClientService`). Passwords are generated once into
the same secret store hosts use (``postgresql/<name>/<user>``), so every member
of a cluster holds the same ones, and are copied into each member's Secret.

With TLS (adr/0103) each member's certificates come from the cluster's one
authority in that store (:class:`~topologies.postgres.tls.ClusterAuthority`):
its server certificate names the Service and the Pod as clients reach them,
and everything goes into the member's Secret ``<name>-tls``, mounted into the
Pod. A re-issued certificate (rotation) updates that Secret, and the server
reloads it through exec: no restart.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio

from capabilities.errors import K8sError
from capabilities.k8s import ROLLOUT, K8sPodClientService
from capabilities.postgresql import (
    PgCertificates,
    PgConfig,
    PgEndpoint,
    ReplicationRole,
    ReplicationSource,
    ReplicationState,
)
from harmony_py.outcome import InterpretStatus
from harmony_py.scores.k8s_postgres_manifests import (
    CONTAINER,
    SUPERUSER,
    SOURCE_PASSWORD_KEY,
    TLS_MOUNT,
    Declared,
    declared_from,
    fence_script,
    manifests,
    pod_name,
    replication_name,
    secret_keys,
    secret_name,
    stop_script,
    tls_certificates_sha256,
    tls_on_kubernetes,
    tls_reload_script,
    tls_secret_data,
    tls_secret_name,
)
from harmony_py.values import Change, ChangeAction, Secret
from topologies.errors import K8sPostgreSQLError
from topologies.postgres.roles import password_of, slot_for, state_from_status
from topologies.postgres.steps import deploy_steps, plan_steps
from topologies.postgres.text import STATUS_SQL, WRITE_PROBE_SQL, mask_verifiers, slots_sql, sql_literal, sync_standby_names
from topologies.postgres.tls import ClusterAuthority
from topologies.secret_store import SecretStore

from .postgres_steps import K8sServerForecast, k8s_server_steps

if TYPE_CHECKING:
    from harmony_py.scores.k8s import K8sResourceInterpret

FIELD_MANAGER = "harmony-postgres"
EXEC_TIMEOUT_S = 60.0
TLS_RELOAD_WAIT_S = 150
"""How long a rotation waits for the kubelet to update the mounted Secret (it syncs about once a minute)."""
DEFAULT_READY_TIMEOUT_S = 300.0


class K8sPostgreSQL:
    """A Kubernetes namespace's :class:`~capabilities.postgresql.PostgreSQLServerService`.

    Built by ``K8sAnywhereTopology.postgresql()`` on the topology's client (the
    API and the exec API of its namespace). ``store`` keeps generated
    passwords; None means the project's store, found when a server is used.
    """

    def __init__(
        self, client: K8sPodClientService, store: SecretStore | None = None, ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S
    ) -> None:
        self.client = client
        self.store = store
        self.ready_timeout_s = ready_timeout_s

    def server(self, config: PgConfig) -> K8sPostgreSQLServer:
        store = self.store if self.store is not None else SecretStore()
        return K8sPostgreSQLServer(self.client, config, store, self.ready_timeout_s)

    async def plan(self, config: PgConfig) -> list[Change]:
        # A plan stores no secret: what a deploy would generate is only drafted.
        server = self.server(config)
        server.store = server.store.for_plan()
        return await server.plan()

    async def deploy(self, config: PgConfig) -> list[Change]:
        return await self.server(config).deploy()

    async def endpoint(self, config: PgConfig, database: str) -> PgEndpoint:
        return await self.server(config).endpoint(database)

    async def address(self, config: PgConfig) -> str:
        return await self.server(config).address()

    async def replication(self, config: PgConfig) -> ReplicationState:
        return await self.server(config).state()

    async def replication_source(self, config: PgConfig, name: str) -> ReplicationSource:
        return await self.server(config).source(name)

    async def follow(self, config: PgConfig, source: ReplicationSource, *, rewind: bool = True) -> None:
        await self.server(config).follow(source, rewind=rewind)

    async def checkpoint(self, config: PgConfig) -> None:
        await self.server(config).sql(["CHECKPOINT"], what="checkpointing")

    async def promote(self, config: PgConfig, standbys: tuple[str, ...]) -> None:
        await self.server(config).promote(standbys)

    async def fence(self, config: PgConfig) -> None:
        await self.server(config).fence()

    async def stop(self, config: PgConfig) -> str:
        return await self.server(config).stop()

    async def set_standbys(self, config: PgConfig, standbys: tuple[str, ...], slots: tuple[str, ...]) -> None:
        await self.server(config).set_standbys(standbys, slots)

    async def probe_write(self, config: PgConfig, timeout_s: float) -> None:
        await self.server(config).probe_write(timeout_s)

    async def certificates(self, config: PgConfig) -> PgCertificates | None:
        """This member's TLS certificates (issued, or re-issued, by the cluster's authority); None without TLS."""
        return await self.server(config).certificates()


class K8sPostgreSQLServer:
    """The server of cluster ``config`` in the namespace ``client`` is configured for."""

    def __init__(self, client: K8sPodClientService, config: PgConfig, store: SecretStore, ready_timeout_s: float) -> None:
        self.client = client
        self.config = config
        self.store = store
        self.ready_timeout_s = ready_timeout_s
        self.tls = tls_on_kubernetes(config)
        self._authority: ClusterAuthority | None = None
        self._certificates: PgCertificates | None = None

    # -- where and who -------------------------------------------------------

    async def host(self) -> str:
        return f"{self.config.name}.{await self.client.namespace()}.svc"

    async def address(self) -> str:
        return f"{await self.host()}:{self.config.port}"

    def password_of(self, user: str) -> Secret:
        return password_of(self.config, self.store, user)

    def passwords(self) -> dict[str, str]:
        return {user: self.password_of(user).reveal() for user in secret_keys(self.config)}

    async def endpoint(self, database: str) -> PgEndpoint:
        if await self.client.get("v1", "Service", self.config.name) is None:
            raise K8sPostgreSQLError(f"PostgreSQL {self.config.name} has no Service here; deploy it first")
        owner = self.config.owner_of(database)
        endpoint = PgEndpoint(await self.host(), self.config.port, database, owner, self.password_of(owner))
        certificates = await self.certificates()
        if certificates is None:
            return endpoint
        # sslrootcert: where the CA is in the server's Pod; an application platform places the PEM
        # (ca_certificate) beside the application and points its URL there.
        return dataclasses.replace(
            endpoint, sslmode="verify-full", ca_certificate=certificates.authority, sslrootcert=f"{TLS_MOUNT}/root.crt"
        )

    # -- TLS (adr/0103) ---------------------------------------------------------

    async def tls_names(self) -> tuple[str, ...]:
        """The names clients and replicas reach this server at: the Service's, then the Pod's stable name."""
        name, namespace = self.config.name, await self.client.namespace()
        pod = pod_name(self.config)
        return (
            f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local",
            f"{pod}.{name}.{namespace}.svc", f"{pod}.{name}.{namespace}.svc.cluster.local",
        )  # fmt: skip

    async def certificates(self) -> PgCertificates | None:
        """This member's certificates from the cluster's authority (issued or re-issued as needed); None without TLS."""
        if not self.tls:
            return None
        if self._certificates is None:
            # Made on first use (a plan swaps in its store view after this server is made), and
            # once per operation: its objects, its plan and its reload hold the same certificates.
            self._authority = ClusterAuthority(self.store, self.config)
            member = f"k8s-{await self.client.namespace()}-{self.config.name}"
            self._certificates = self._authority.certificates(member, await self.tls_names())
        return self._certificates

    def rotation_changes(self, target: str) -> list[Change]:
        """Why certificates were (or, in a plan, would be) re-issued, once each: the plan says why the Secret changes."""
        if self._authority is None:
            return []
        reasons, self._authority.rotations = self._authority.rotations, []
        return [Change(ChangeAction.UPDATE, target, f"TLS: re-issue the {reason}") for reason in reasons]

    async def tls_secret_outdated(self) -> bool:
        """Whether this member's TLS Secret exists and holds other certificates than it should (a rotation):
        once it is updated, a running server reloads. A new Secret comes with a new Pod, which reads it."""
        certificates = await self.certificates()
        if certificates is None:
            return False
        found = await self.client.get("v1", "Secret", tls_secret_name(self.config))
        return found is not None and (found.get("data") or {}) != tls_secret_data(certificates)

    async def reload_certificates(self) -> None:
        """Load the updated TLS Secret into the running server: once the kubelet shows it in the Pod,
        install its files and reload (PostgreSQL re-reads certificates on SIGHUP; adr/0096)."""
        certificates = await self.certificates()
        assert certificates is not None  # only called for a server running TLS
        script = tls_reload_script(self.config, tls_certificates_sha256(certificates), wait_s=TLS_RELOAD_WAIT_S)
        result = await self.client.exec(
            pod_name(self.config), ["sh", "-c", script], container=CONTAINER, timeout_s=TLS_RELOAD_WAIT_S + EXEC_TIMEOUT_S
        )
        if not result.ok:
            text = (result.stderr.strip() or result.stdout.strip() or f"exit code {result.exit_code}").splitlines()
            raise K8sPostgreSQLError(f"PostgreSQL {self.config.name}: reloading the rotated certificates failed: {' | '.join(text[-3:])}")

    async def source(self, name: str) -> ReplicationSource:
        user = self.config.replication_user
        return ReplicationSource(await self.host(), self.config.port, user, self.password_of(user), slot_for(name), name)

    # -- what is declared ----------------------------------------------------

    async def statefulset(self) -> dict[str, Any] | None:
        return await self.client.get("apps/v1", "StatefulSet", self.config.name)

    async def declared(self) -> tuple[Declared, str | None, bool]:
        """The declaration in place, the source password it holds, and whether the server exists."""
        statefulset = await self.statefulset()
        replication = await self.client.get("v1", "ConfigMap", replication_name(self.config))
        secret = await self.client.get("v1", "Secret", secret_name(self.config))
        stored = ((secret or {}).get("data") or {}).get(SOURCE_PASSWORD_KEY)
        password = base64.b64decode(stored).decode() if stored else None
        return declared_from(replication, statefulset), password, statefulset is not None

    async def plan_objects(self, declared: Declared, source_password: str | None) -> list[Change]:
        """The changes converging the objects to ``declared`` would make (nothing is applied)."""
        return await (await self._objects(declared, source_password)).plan_with(self.client)

    async def apply_objects(self, declared: Declared, source_password: str | None) -> list[Change]:
        """Converge the objects to ``declared``; the changes made."""
        outcome = await (await self._objects(declared, source_password)).apply_with(self.client)
        if outcome.status is InterpretStatus.FAILURE:
            raise K8sPostgreSQLError(f"PostgreSQL {self.config.name}: {outcome.message}")
        return list(outcome.changes)

    async def _objects(self, declared: Declared, source_password: str | None) -> K8sResourceInterpret:
        # Imported here: topologies import harmony_py.scores only where they reuse a score's plan.
        from harmony_py.scores.k8s import K8sResourceInterpret
        from harmony_py.scores.k8s_manifests import parse_manifests

        namespace = await self.client.namespace()
        wanted = manifests(self.config, self.passwords(), declared, source_password, await self.certificates())
        for manifest in wanted:
            manifest["metadata"]["namespace"] = namespace  # so that plans name where each object goes
        return K8sResourceInterpret(parse_manifests(wanted), FIELD_MANAGER)

    # -- converging ----------------------------------------------------------

    async def plan(self) -> list[Change]:
        """What a deploy would change: the objects, a stopped server's start, then the roles (nothing converged)."""
        return await plan_steps(k8s_server_steps(self), K8sServerForecast())

    async def deploy(self) -> list[Change]:
        """This server's objects as declared (a stopped, not fenced, server is started), then its roles."""
        return await deploy_steps(k8s_server_steps(self), K8sServerForecast())

    async def follow(self, source: ReplicationSource, *, rewind: bool) -> None:
        """Stream from ``source``: an empty server is cloned, a former primary rewound (in its init container)."""
        declared, password, exists = await self.declared()
        target = Declared(
            role="replica",
            source_host=source.host,
            source_port=source.port,
            source_user=source.user,
            slot=source.slot,
            application_name=source.name,
            rewind=declared.rewind,
        )
        same = exists and declared == target and password == source.password.reveal()
        # A healthy replica of this source keeps its declaration; anything else
        # is re-declared, and data it already holds is rewound when asked to.
        wanted = target if same else dataclasses.replace(target, rewind=_rewind_token() if rewind and exists else "")
        reload = same and await self.tls_secret_outdated()  # a healthy replica whose certificates were re-issued
        await self.apply_objects(wanted, source.password.reveal())
        # A new Pod's init container and server read the role and upstream.
        restarted = exists and not same and await self.restart()
        await self.wait_ready(wanted, restarted=restarted)
        if reload:
            await self.reload_certificates()

    async def promote(self, standbys: tuple[str, ...]) -> None:
        state = await self.state()
        if state.role is ReplicationRole.PRIMARY:
            await self.set_standbys(standbys, tuple(slot_for(name) for name in standbys))
            return
        if state.role is not ReplicationRole.REPLICA:
            raise K8sPostgreSQLError(f"PostgreSQL {self.config.name} is {state.role.value}, not a replica to promote")
        # The standby set first, so the first commit as a primary already waits for it (adr/0022).
        await self.sql(_sync_standbys_sql(standbys), what="setting the synchronous standbys")
        await self.sql(["SELECT pg_promote(true, 60)"], what="promoting")
        # Declared a primary from now on; no restart (only a new Pod reads the declaration).
        declared, _, _ = await self.declared()
        await self.apply_objects(Declared(fenced=declared.fenced), None)
        await self.sql([slots_sql(tuple(slot_for(name) for name in standbys))], what="creating replication slots")

    async def set_standbys(self, standbys: tuple[str, ...], slots: tuple[str, ...]) -> None:
        await self.sql(
            [*_sync_standbys_sql(standbys), slots_sql(slots)], what="setting the synchronous standbys and replication slots"
        )

    async def stop(self) -> str:
        """Stop cleanly, keep the Pod (serving nothing) and return the last checkpoint's LSN."""
        declared, password, _ = await self.declared()
        await self.apply_objects(dataclasses.replace(declared, stopped=True), password)
        result = await self.exec(["sh", "-c", stop_script()], what="stopping")
        lsn = result.strip()
        if not lsn:
            raise K8sPostgreSQLError(f"PostgreSQL {self.config.name}: stopped, but its checkpoint location is unknown")
        return lsn

    async def fence(self) -> None:
        """Stop now and hold the server down; if it is ever started again, it starts as a standby."""
        declared, password, exists = await self.declared()
        if not exists:
            return
        try:
            await self.exec(
                ["sh", "-c", fence_script()],
                what="stopping at once",
            )
        except K8sError:
            pass  # a Pod that cannot be reached is the usual reason to fence: scaling to zero still holds it
        await self.apply_objects(
            dataclasses.replace(declared, role="replica", fenced=True, rewind=_rewind_token()), password
        )

    async def probe_write(self, timeout_s: float) -> None:
        """Commit a transaction that writes WAL (it waits for the synchronous standbys), within ``timeout_s``.

        The exec's own deadline bounds the wait (its call runs in a worker
        thread, which a cancel scope cannot interrupt); on expiry the waiting
        session is terminated: nothing inside PostgreSQL bounds that wait.
        """
        probe = "harmony_py_write_probe"
        argv = ["env", f"PGAPPNAME={probe}", "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-U", SUPERUSER, "-p", str(self.config.port), "-d", "postgres", "-c", WRITE_PROBE_SQL]  # fmt: skip
        try:
            result = await self.client.exec(pod_name(self.config), argv, container=CONTAINER, timeout_s=timeout_s)
        except K8sError as exc:
            with contextlib.suppress(K8sError, K8sPostgreSQLError):
                await self.sql(
                    [f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{probe}'"],
                    what="ending the unacknowledged commit",
                )
            raise K8sPostgreSQLError(
                f"PostgreSQL {self.config.name}: a commit was not acknowledged within {timeout_s:g} s: {exc}"
            ) from exc
        if not result.ok:
            text = (result.stderr.strip() or result.stdout.strip() or f"exit code {result.exit_code}").splitlines()
            raise K8sPostgreSQLError(f"PostgreSQL {self.config.name}: a commit failed: {' | '.join(text[-3:])}")

    # -- observing -------------------------------------------------------------

    async def state(self) -> ReplicationState:
        statefulset = await self.statefulset()
        if statefulset is None:
            return ReplicationState(ReplicationRole.ABSENT)
        declared = declared_from(None, statefulset)
        if declared.fenced or declared.stopped or int(statefulset.get("spec", {}).get("replicas", 1)) == 0:
            return ReplicationState(ReplicationRole.STOPPED, fenced=declared.fenced)
        return state_from_status(json.loads(await self.sql([STATUS_SQL], what="reading replication status")))

    # -- in the Pod --------------------------------------------------------------

    async def exec(self, command: Sequence[str], *, what: str, stdin: bytes | None = None) -> str:
        result = await self.client.exec(
            pod_name(self.config), command, container=CONTAINER, timeout_s=EXEC_TIMEOUT_S, stdin=stdin
        )
        if not result.ok:
            text = (result.stderr.strip() or result.stdout.strip() or f"exit code {result.exit_code}").splitlines()
            # psql echoes a failing statement, which may hold a role's verifier.
            raise K8sPostgreSQLError(f"PostgreSQL {self.config.name}: {what} failed: {mask_verifiers(' | '.join(text[-3:]))}")
        return result.stdout

    async def sql(self, statements: Sequence[str], *, what: str) -> str:
        """Each statement on its own (``ALTER SYSTEM`` refuses a transaction block), as the superuser."""
        argv = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-U", SUPERUSER, "-p", str(self.config.port), "-d", "postgres"]
        for statement in statements:
            argv += ["-c", statement]
        return await self.exec(argv, what=what)

    async def sql_on_stdin(self, statements: Sequence[str], *, what: str) -> None:
        """Statements holding verifiers: on psql's standard input, never in the exec's argv (its URL,
        audit logs); a final ``\\q`` ends psql, since the exec protocol cannot close its input."""
        argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", SUPERUSER, "-p", str(self.config.port), "-d", "postgres", "-f", "-"]
        script = "\n".join(statements) + "\n\\q\n"
        await self.exec(argv, what=what, stdin=script.encode())

    async def restart(self) -> bool:
        """Replace the Pod (when there is one); its StatefulSet makes a new one, whose containers read
        the declaration again. Returns once the old Pod is gone."""
        name = pod_name(self.config)
        old = await self.client.get("v1", "Pod", name)
        if old is None:
            return False
        await self.client.delete("v1", "Pod", name)
        uid = old.get("metadata", {}).get("uid")
        with anyio.fail_after(self.ready_timeout_s):
            delay = 0.05
            while (found := await self.client.get("v1", "Pod", name)) is not None and found.get("metadata", {}).get("uid") == uid:
                await anyio.sleep(delay)
                delay = min(delay * 2, 1.0)
        return True

    async def wait_ready(self, declared: Declared, *, restarted: bool = False) -> None:
        if declared.fenced:
            return
        if restarted:
            # The StatefulSet's status may still count the old Pod as ready: wait for the new one.
            await self.client.wait(
                "v1", "Pod", pod_name(self.config), None, condition="Ready", timeout_s=self.ready_timeout_s
            )
        await self.client.wait(
            "apps/v1", "StatefulSet", self.config.name, None, condition=ROLLOUT, timeout_s=self.ready_timeout_s
        )


def _sync_standbys_sql(standbys: tuple[str, ...]) -> list[str]:
    """Make every commit wait for ``standbys`` from now on (``ALTER SYSTEM`` takes effect on reload)."""
    return [f"ALTER SYSTEM SET synchronous_standby_names = {standby_names_setting(standbys)}", "SELECT pg_reload_conf()"]


def _rewind_token() -> str:
    """A new token: the next start of the Pod rewinds once, later restarts do not."""
    return secrets.token_hex(4)


def standby_names_setting(standbys: tuple[str, ...]) -> str:
    """``ALTER SYSTEM`` value of ``synchronous_standby_names``, as the server on a host has it in its file."""
    return sql_literal(sync_standby_names(standbys))
