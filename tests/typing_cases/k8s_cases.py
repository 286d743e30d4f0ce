"""Type-level promises of the Kubernetes area, checked by mypy --strict --warn-unused-ignores.

Each expected error carries its ``# type: ignore[code]``; inferred types use ``assert_type``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

from typing_extensions import assert_type

from capabilities.k8s import ROLLOUT, ExecResult, K8sClient, K8sClientService, K8sPodClient, K8sPodClientService, WatchEvent
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

# The topology is a K8sClient structurally, without inheriting from it, and a K8sPodClient:
# its one accessor hands out a client that also reaches into Pods.
client: K8sClient = cluster
pod_client: K8sPodClient = cluster
service: K8sClientService = cluster.k8s_client()
pod_service: K8sPodClientService = cluster.k8s_client()

# A topology without K8sClient is refused: localhost (and any SSH host) has no Kubernetes API.
Maestro(LocalhostTopology()).add(namespace)  # type: ignore[arg-type]
Maestro(LocalhostTopology()).add(FileScore("/tmp/x", "x"), deployment)  # type: ignore[arg-type]

# A Kubernetes score on a cluster does not make file scores acceptable there.
Maestro(cluster).add(FileScore("/tmp/x", "x"))  # type: ignore[arg-type]

# Kubernetes is not lifted onto the replicated topologies (adr/0007): two clusters in failover
# are a PostgreSQL cluster, not one Kubernetes API, so Kubernetes scores go to each cluster.
pair = FailoverTopology(cluster, K8sAnywhereTopology(context="dr"))
assert_type(pair, FailoverTopology[K8sAnywhereTopology])
Maestro(pair).add(namespace, deployment)  # type: ignore[arg-type]
pair_client: K8sClient = pair  # type: ignore[assignment]

# Two localhosts in failover do not.
local_pair = FailoverTopology(LocalhostTopology(), LocalhostTopology())
Maestro(local_pair).add(namespace)  # type: ignore[arg-type]


async def calls(topology: K8sClient, pods: K8sPodClient) -> None:
    client = topology.k8s_client()
    assert_type(await client.get("v1", "ConfigMap", "c"), dict[str, Any] | None)
    assert_type(await client.list("v1", "Pod", "shop", "app=web"), list[dict[str, Any]])
    assert_type(await client.delete("v1", "Pod", "p", "shop"), bool)
    assert_type(
        await client.wait("apps/v1", "Deployment", "web", "shop", condition=ROLLOUT, timeout_s=60), dict[str, Any]
    )
    assert_type(client.watch("v1", "Pod", "shop"), AbstractAsyncContextManager[AsyncIterator[WatchEvent]])
    async with client.watch("v1", "Pod", "shop", "app=web") as events:
        async for event in events:
            assert_type(event, WatchEvent)
    # field_manager is required: every apply names who owns the fields.
    await client.apply({"apiVersion": "v1"})  # type: ignore[call-arg]
    # Exec into Pods belongs to the refinement: a plain K8sClient's client has none.
    await client.exec("web-0", ["true"])  # type: ignore[attr-defined]
    assert_type(await pods.k8s_client().exec("web-0", ["true"]), ExecResult)
    assert_type(await pods.k8s_client().namespace(), str)


async def failover_of_clusters_has_no_k8s_client(pair: FailoverTopology[K8sAnywhereTopology]) -> None:
    pair.k8s_client()  # type: ignore[attr-defined]


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
