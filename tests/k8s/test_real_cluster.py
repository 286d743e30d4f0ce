"""The same scenarios against a real cluster: opt-in, runs only when KUBECONFIG is set.

Everything happens in a namespace this module creates (``harmony-test-<random>``)
and deletes afterwards; nothing else in the cluster is touched.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from capabilities.k8s import ROLLOUT
from capabilities.postgresql import PgConfig, PgUser, ReplicationRole
from harmony_py import Maestro, ScoreState
from harmony_py.scores import K8sDeploymentScore, K8sResourceScore, NamespaceScore
from topologies import FailoverTopology, K8sAnywhereTopology

pytestmark = [
    pytest.mark.real_cluster,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="real_cluster tier: KUBECONFIG is not set"),
]


@pytest.fixture
async def cluster() -> AsyncIterator[tuple[K8sAnywhereTopology, str]]:
    topology = K8sAnywhereTopology(context=os.environ.get("HARMONY_K8S_CONTEXT"))
    namespace = f"harmony-test-{secrets.token_hex(4)}"
    try:
        yield topology, namespace
    finally:
        await topology.k8s_client().delete("v1", "Namespace", namespace)


async def test_apply_plan_noop_on_a_real_cluster(cluster: tuple[K8sAnywhereTopology, str]) -> None:
    topology, namespace = cluster
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": namespace, "labels": {"t": "x"}}, "data": {"a": "1"}}
    scores = (NamespaceScore(namespace, {"purpose": "harmony-test"}, quota={"pods": "5"}), K8sResourceScore(config))
    first = await Maestro(topology).add(*scores).apply()
    assert [r.state for r in first.scores] == [ScoreState.CHANGED, ScoreState.CHANGED], first
    assert [r.state for r in (await Maestro(topology).add(*scores).plan()).scores] == [ScoreState.UNCHANGED] * 2
    assert [r.state for r in (await Maestro(topology).add(*scores).apply()).scores] == [ScoreState.UNCHANGED] * 2
    assert [o["metadata"]["name"] for o in await topology.k8s_client().list("v1", "ConfigMap", namespace, "t=x")] == ["c"]
    changed = K8sResourceScore({**config, "data": {"a": "2"}})
    [change] = (await Maestro(topology).add(changed).plan()).scores[0].changes
    assert "data.a: '1' -> '2'" in change.summary


async def test_deployment_rollout_on_a_real_cluster(cluster: tuple[K8sAnywhereTopology, str]) -> None:
    topology, namespace = cluster
    image = os.environ.get("HARMONY_K8S_TEST_IMAGE", "nginx:1.27")
    score = K8sDeploymentScore("web", namespace, image, replicas=1, port=80, health_path="/", timeout_s=180)
    report = await Maestro(topology).add(NamespaceScore(namespace), score).apply()
    assert report.scores[1].state is ScoreState.CHANGED, report.scores[1].message
    await topology.k8s_client().wait("apps/v1", "Deployment", "web", namespace, condition=ROLLOUT, timeout_s=10)
    stuck = K8sDeploymentScore("stuck", namespace, "harmony.invalid/no-such-image:0", timeout_s=20)
    failed = await Maestro(topology).add(stuck).apply()
    assert failed.scores[0].state is ScoreState.FAILED and "pod stuck-" in failed.scores[0].message


# -- PostgreSQL on Kubernetes: what the emulator cannot show (it runs no Pods) --
# Two namespaces of the cluster are the members of a FailoverTopology. Needs the
# postgres:15 image to be pullable and a default StorageClass for the PVCs.


@pytest.fixture
async def pg_pair(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FailoverTopology[K8sAnywhereTopology]]:
    monkeypatch.setenv("HARMONY_SECRETS_DIR", str(tmp_path / "secrets"))
    suffix = secrets.token_hex(3)
    context = os.environ.get("HARMONY_K8S_CONTEXT")
    members = [K8sAnywhereTopology(context=context, namespace=f"harmony-pg-{side}-{suffix}") for side in ("a", "b")]
    try:
        for topology in members:
            await Maestro(topology).add(NamespaceScore(str(topology.namespace))).apply()
        yield FailoverTopology(members[0], members[1])
    finally:
        for topology in members:
            await topology.k8s_client().delete("v1", "Namespace", str(topology.namespace))


PG = PgConfig("orders", databases=("orders",), users=(PgUser("app", databases=("orders",)),))


async def _psql(topology: K8sAnywhereTopology, sql: str) -> str:
    result = await topology.k8s_client().exec("orders-0", ["psql", "-XAtq", "-U", "postgres", "-d", "orders", "-c", sql], container="postgres")
    assert result.ok, result.stderr
    return result.stdout.strip()


async def _replayed(topology: K8sAnywhereTopology, sql: str, wanted: str) -> None:
    """A synchronous commit is flushed on the replica, not necessarily replayed yet: poll."""
    with anyio.fail_after(60):
        delay = 0.05
        while (await topology.k8s_client().exec("orders-0", ["psql", "-XAtq", "-U", "postgres", "-d", "orders", "-c", sql], container="postgres")).stdout.strip() != wanted:
            await anyio.sleep(delay)
            delay = min(delay * 2, 1.0)


async def test_postgres_primary_and_streaming_replica_on_a_real_cluster(pg_pair: FailoverTopology[K8sAnywhereTopology]) -> None:
    # exec, the replica's pg_basebackup clone, synchronous streaming, NOOP on re-apply.
    await pg_pair.postgresql().deploy(PG)
    status = await pg_pair.postgresql().status(PG)
    assert status.member("primary").state.role is ReplicationRole.PRIMARY, status.summary()
    replica = status.member("replica").state
    assert replica.role is ReplicationRole.REPLICA and replica.upstream == status.member("primary").address
    assert status.member("primary").state.sync_standbys == ("replica",)
    await _psql(pg_pair.primary, "CREATE TABLE t (v int); INSERT INTO t VALUES (1)")
    await _replayed(pg_pair.replica, "SELECT v FROM t", "1")
    assert await pg_pair.postgresql().plan(PG) == []
    assert await pg_pair.postgresql().deploy(PG) == []


async def test_postgres_switchover_and_failover_on_a_real_cluster(pg_pair: FailoverTopology[K8sAnywhereTopology]) -> None:
    # stop (clean, Pod kept), promote through exec, re-point by Pod restart; fence, rewind on rejoin.
    await pg_pair.postgresql().deploy(PG)
    await _psql(pg_pair.primary, "CREATE TABLE t (v int); INSERT INTO t VALUES (1)")
    await pg_pair.postgresql().switchover(PG)
    status = await pg_pair.postgresql().status(PG)
    assert status.member("replica").state.role is ReplicationRole.PRIMARY, status.summary()
    assert status.member("primary").state.role is ReplicationRole.REPLICA, status.summary()
    await pg_pair.postgresql().failover(PG, to="primary")
    assert (await pg_pair.postgresql().status(PG)).member("replica").state.fenced
    await pg_pair.postgresql().deploy(PG)
    status = await pg_pair.postgresql().status(PG)
    assert status.member("replica").state.role is ReplicationRole.REPLICA, status.summary()
    await _replayed(pg_pair.replica, "SELECT v FROM t", "1")
