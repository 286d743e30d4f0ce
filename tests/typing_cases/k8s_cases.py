"""Type-level promises of the Kubernetes area, checked by mypy --strict --warn-unused-ignores.

Each expected error carries its ``# type: ignore[code]``; inferred types use ``assert_type``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

from typing_extensions import assert_type

from capabilities.k8s import ROLLOUT, K8sClient, WatchEvent
from capabilities.postgresql import ClusterStatus, PgConfig, PostgreSQL, PostgreSQLCluster, PostgreSQLServer
from harmony_py import Maestro
from harmony_py.values import Change
from harmony_py.scores import FileScore, PostgreSQLScore, K8sDeploymentScore, K8sResourceScore, NamespaceScore
from topologies import FailoverTopology, K8sAnywhereTopology, LocalhostTopology, MultisiteTopology

cluster = K8sAnywhereTopology(context="prod")
namespace = NamespaceScore("shop", {"team": "web"}, quota={"pods": "10"})
deployment = K8sDeploymentScore("web", "shop", "nginx:1.27", replicas=2)
resources = K8sResourceScore("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")

# A cluster takes every Kubernetes score.
Maestro(cluster).add(namespace, deployment, resources)

# The topology is a K8sClient structurally, without inheriting from it.
client: K8sClient = cluster

# A topology without K8sClient is refused: localhost (and any SSH host) has no Kubernetes API.
Maestro(LocalhostTopology()).add(namespace)  # type: ignore[arg-type]
Maestro(LocalhostTopology()).add(FileScore("/tmp/x", "x"), deployment)  # type: ignore[arg-type]

# A Kubernetes score on a cluster does not make file scores acceptable there.
Maestro(cluster).add(FileScore("/tmp/x", "x"))  # type: ignore[arg-type]

# Two clusters in failover provide K8sClient, because each member does.
pair = FailoverTopology(cluster, K8sAnywhereTopology(context="dr"))
assert_type(pair, FailoverTopology[K8sAnywhereTopology])
Maestro(pair).add(namespace, deployment)
pair_client: K8sClient = pair

# Two localhosts in failover do not.
local_pair = FailoverTopology(LocalhostTopology(), LocalhostTopology())
Maestro(local_pair).add(namespace)  # type: ignore[arg-type]


async def calls(topology: K8sAnywhereTopology, pair: FailoverTopology[K8sAnywhereTopology]) -> None:
    assert_type(await topology.k8s_get("v1", "ConfigMap", "c"), dict[str, Any] | None)
    assert_type(await topology.k8s_list("v1", "Pod", "shop", "app=web"), list[dict[str, Any]])
    assert_type(await topology.k8s_delete("v1", "Pod", "p", "shop"), bool)
    assert_type(
        await pair.k8s_wait("apps/v1", "Deployment", "web", "shop", condition=ROLLOUT, timeout_s=60), dict[str, Any]
    )
    assert_type(pair.k8s_watch("v1", "Pod", "shop"), AbstractAsyncContextManager[AsyncIterator[WatchEvent]])
    async with topology.k8s_watch("v1", "Pod", "shop", "app=web") as events:
        async for event in events:
            assert_type(event, WatchEvent)
    # field_manager is required: every apply names who owns the fields.
    await topology.k8s_apply({"apiVersion": "v1"})  # type: ignore[call-arg]


async def failover_of_localhosts_has_no_k8s_calls(pair: FailoverTopology[LocalhostTopology]) -> None:
    await pair.k8s_get("v1", "ConfigMap", "c")  # type: ignore[arg-type]


async def postgres_on_clusters(pair: FailoverTopology[K8sAnywhereTopology], config: PgConfig) -> None:
    # Each cluster (namespace) is a PostgreSQLServer, so a pair of them is replicated PostgreSQL.
    _server: PostgreSQLServer = K8sAnywhereTopology(namespace="pg-a")
    assert_type(await pair.postgresql().deploy(config), list[Change])
    assert_type(await pair.postgresql().status(config), ClusterStatus)
    await pair.postgresql().switchover(config)
    _database: PostgreSQL = pair
    _cluster: PostgreSQLCluster = pair
    Maestro(pair).add(PostgreSQLScore("orders", databases=("orders",), users=("app",)))
    _sites: PostgreSQLCluster = MultisiteTopology(K8sAnywhereTopology(namespace="a"), (K8sAnywhereTopology(namespace="b"),))


async def postgres_needs_exec(client: K8sClient, config: PgConfig) -> None:
    # A K8sClient alone (no exec into Pods) is not a PostgreSQL server.
    server: PostgreSQLServer = client  # type: ignore[assignment]
