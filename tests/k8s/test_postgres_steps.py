"""The walk of a PostgreSQL server on Kubernetes is ordered steps run by topologies.postgres.steps.

Against the in-memory API with Pods answering exec from a log: a plan applies
nothing and asks no Pod; a deploy applies the objects and waits for them before
the roles step asks the Pod what it holds, and reports what the plan listed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from capabilities.errors import K8sNotReadyError
from capabilities.k8s import ExecResult, Manifest
from capabilities.postgresql import PgConfig, PgUser
from topologies.k8s.postgres import K8sPostgreSQLServer
from topologies.postgres.roles import NO_ROLES
from topologies.secret_store import SecretStore

from .memory_client import InMemoryK8sApi

CONFIG = PgConfig("orders", databases=("orders",), users=(PgUser("app", databases=("orders",)),))


class LoggedPods(InMemoryK8sApi):
    """The in-memory API in namespace ``pg``, logging what is applied for real and run in a Pod."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []

    async def namespace(self) -> str:
        return "pg"

    def _key(self, api_version: str, kind: str, name: str, namespace: str | None) -> tuple[str, str, str | None, str]:
        # Objects without a namespace go to the client's, as the real client's do.
        return super()._key(api_version, kind, name, namespace or ("pg" if kind != "Namespace" else None))

    async def apply(
        self, manifest: Manifest, *, field_manager: str, dry_run: bool = False, force_conflicts: bool = False
    ) -> dict[str, Any]:
        if not dry_run:
            self.log.append(f"apply {manifest['kind']}")
        return await super().apply(manifest, field_manager=field_manager, dry_run=dry_run, force_conflicts=force_conflicts)

    async def exec(
        self, pod: str, command: Sequence[str], *, namespace: str | None = None, container: str | None = None,
        timeout_s: float = 60.0, stdin: bytes | None = None,
    ) -> ExecResult:  # fmt: skip
        # An empty server's facts: what the init script would not have made yet.
        self.log.append("exec roles script" if stdin is not None else "exec read roles")
        return ExecResult(0, json.dumps(NO_ROLES) if stdin is None else "", "")


def _server(pods: LoggedPods, tmp_path: Path) -> K8sPostgreSQLServer:
    return K8sPostgreSQLServer(pods, CONFIG, SecretStore(tmp_path / "secrets"), ready_timeout_s=1.0)


def test_a_plan_of_the_k8s_server_steps_applies_nothing_and_asks_no_pod(tmp_path: Path) -> None:
    pods = LoggedPods()
    server = _server(pods, tmp_path)
    server.store = server.store.for_plan()
    planned = anyio.run(server.plan)
    assert pods.log == [] and anyio.run(pods.list, "apps/v1", "StatefulSet") == []
    targets = [change.target for change in planned]
    assert "StatefulSet pg/orders" in targets  # the objects step
    assert any(target == "PostgreSQL pg/orders" for target in targets)  # the roles step, as an empty server needs


def test_a_deploy_of_the_k8s_server_steps_converges_the_objects_before_the_roles_step_asks_the_pod(tmp_path: Path) -> None:
    pods = LoggedPods()
    server = _server(pods, tmp_path)
    planned = anyio.run(server.plan)
    made = anyio.run(server.deploy)
    applied = [entry for entry in pods.log if entry.startswith("apply ")]
    assert "apply StatefulSet" in applied
    assert pods.log == [*applied, "exec read roles", "exec roles script"]
    assert [(c.target, c.summary) for c in made] == [(c.target, c.summary) for c in planned]
    # Deployed again: the objects hold, the Pod is asked and has every role (as faked here, none): roles only.
    pods.log.clear()
    again = anyio.run(server.deploy)
    assert "apply StatefulSet" not in pods.log and {c.target for c in again} == {"PostgreSQL pg/orders"}


def _objects_changes(planned: Sequence[Any]) -> list[tuple[str, str]]:
    # The logged Pods answer every roles query as an empty server: only the objects step is looked at.
    return [(change.target, change.summary) for change in planned if not change.target.startswith("PostgreSQL ")]


def test_a_server_whose_pod_stopped_being_ready_is_a_pending_wait_and_its_deploy_waits(tmp_path: Path) -> None:
    pods = LoggedPods()
    server = _server(pods, tmp_path)
    anyio.run(server.deploy)
    statefulset = anyio.run(pods.get, "apps/v1", "StatefulSet", "orders")
    assert statefulset is not None and _objects_changes(anyio.run(server.plan)) == []
    pods.put({**statefulset, "status": {**statefulset["status"], "readyReplicas": 0}})
    assert _objects_changes(anyio.run(server.plan)) == [
        ("StatefulSet orders", "wait until PostgreSQL is ready (0 of 1 pods ready)")
    ]
    # The deploy waits for the rollout (here it never comes: the wait fails, naming it) ...
    with pytest.raises(K8sNotReadyError, match="StatefulSet orders not Rollout after 1 s: 0 of 1 pods ready"):
        anyio.run(server.deploy)
    # ... and once the Pod is ready again there is nothing to wait for.
    pods.put(statefulset)
    assert _objects_changes(anyio.run(server.plan)) == []
