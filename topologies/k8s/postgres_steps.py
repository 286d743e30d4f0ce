"""The steps of one PostgreSQL server's walk on Kubernetes, in order (run by :mod:`topologies.postgres.steps`).

Objects first (server-side apply, then a stopped server's new Pod and the wait
for it to be ready), then roles and databases, asked inside the Pod through the
exec API. :class:`K8sServerForecast` carries what the objects step observed
and will have done, so a plan of a new or stopped server lists what a deploy
makes, and the roles step asks a Pod only where one answers.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from capabilities.k8s import ROLLOUT
from harmony_py.values import Change, ChangeAction
from topologies.postgres.roles import NO_ROLES, role_changes
from topologies.postgres.steps import Step
from topologies.postgres.text import facts_sql

from harmony_py.scores.k8s_postgres_manifests import Declared, declared_from, pod_name, tls_secret_name
from .readiness import Readiness, judge

if TYPE_CHECKING:
    from .postgres import K8sPostgreSQLServer


@dataclass
class K8sServerForecast:
    """What the objects step observed, and what it will have done by the time the roles step plans."""

    wanted: Declared = field(default_factory=Declared)
    """The declaration the objects converge to."""
    existed: bool = False
    """The server's StatefulSet was there when the walk began (else this walk creates it)."""
    starting: bool = False
    """This walk starts a stopped (not fenced) server in a new Pod."""


def k8s_server_steps(server: K8sPostgreSQLServer) -> list[Step[K8sServerForecast]]:
    return [ObjectsStep(server), RolesStep(server)]


@dataclass
class ObjectsStep:
    """The server's API objects as declared; a stopped (not fenced) server is started."""

    server: K8sPostgreSQLServer
    _password: str | None = None
    _wanted: Declared = field(default_factory=Declared)
    _start: bool = False
    _reload: bool = False

    async def plan(self, predicted: K8sServerForecast) -> list[Change]:
        declared, self._password, exists = await self.server.declared()
        start = exists and declared.stopped and not declared.fenced
        predicted.existed, predicted.starting = exists, start
        predicted.wanted = dataclasses.replace(declared, stopped=False) if start else declared
        changes = await self.server.plan_objects(predicted.wanted, self._password)
        config = self.server.config
        changes += self.server.rotation_changes(f"Secret {await self.server.client.namespace()}/{tls_secret_name(config)}")
        # A running server loads rotated certificates by a reload; a Pod that starts reads them anyway.
        running = exists and not declared.stopped and not declared.fenced
        self._reload = running and await self.server.tls_secret_outdated()
        if self._reload:
            changes.append(Change(ChangeAction.RUN, f"Pod {pod_name(config)}", "reload PostgreSQL to load the new certificates"))
        if start:
            changes.append(Change(ChangeAction.RUN, f"Pod {pod_name(self.server.config)}", "start PostgreSQL (restart the pod)"))
        elif exists and not changes and not declared.stopped and not declared.fenced:
            # Health is observed state: a server whose objects are as declared but whose
            # rollout is not ready is a pending wait, not nothing to do.
            waiting = await self._not_ready()
            if waiting is not None:
                changes.append(Change(ChangeAction.RUN, f"StatefulSet {self.server.config.name}", f"wait until PostgreSQL is ready ({waiting})"))
        self._wanted, self._start = predicted.wanted, start
        return changes

    async def _not_ready(self) -> str | None:
        statefulset = await self.server.statefulset()
        if statefulset is None:
            return None
        verdict = judge(statefulset, ROLLOUT)
        return None if verdict.readiness is Readiness.READY else verdict.message

    async def converge(self, changes: Sequence[Change]) -> None:
        await self.server.apply_objects(self._wanted, self._password)
        await self.server.wait_ready(self._wanted, restarted=self._start and await self.server.restart())
        if self._reload:
            await self.server.reload_certificates()


@dataclass
class RolesStep:
    """The roles, databases and grants of a primary, observed and made through exec (adr/0060).

    The init script makes them on an empty primary's first start only; this makes
    the ones added to the score later, and passwords changed since. A server that
    is not there yet cannot be asked: its plan is what an empty server needs,
    which is also what its deploy reports. A stopped server cannot be asked
    either: its roles are planned once it is started.
    """

    server: K8sPostgreSQLServer
    _statements: list[str] = field(default_factory=list)

    async def plan(self, predicted: K8sServerForecast) -> list[Change]:
        self._statements = []
        wanted = predicted.wanted
        if wanted.role != "primary" or wanted.fenced or wanted.stopped:
            return []  # a replica has its primary's roles; a server held down is not asked
        server, config = self.server, self.server.config
        target = f"PostgreSQL {await server.client.namespace()}/{config.name}"
        planned, _ = role_changes(config, server.password_of, NO_ROLES, target)
        if not predicted.existed or predicted.starting:
            # Created or started by the objects step: in a plan it is still absent
            # or stopped; in a deploy it has been converged and answers.
            statefulset = await server.statefulset()
            if statefulset is None:
                return planned
            if declared_from(None, statefulset).stopped:
                return []
        facts = json.loads(await server.sql([facts_sql(config.replication_user)], what="reading roles and databases"))
        changes, self._statements = role_changes(config, server.password_of, facts, target)
        # A new server's roles are the init script's and this converge's together: report what was planned.
        return changes if predicted.existed else planned

    async def converge(self, changes: Sequence[Change]) -> None:
        if self._statements:
            await self.server.sql_on_stdin(self._statements, what="creating roles and databases")
