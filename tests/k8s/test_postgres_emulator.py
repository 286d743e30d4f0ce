"""PostgreSQL on Kubernetes (the K8sAnywhereTopology mixin): the objects it converges, against the emulator.

The emulator runs no containers, so this checks the API side (objects, passwords
generated once, roles); a real cluster runs the pods in the real_cluster tier.
"""

from __future__ import annotations

import base64

from capabilities.postgresql import PgConfig, PgUser, ReplicationRole, ReplicationSource
from harmony_py.capability_check import capability_gaps
from harmony_py.secret import Secret
from capabilities.postgresql import PostgreSQL
from topologies.failover import FailoverTopology
from topologies.k8s_anywhere import K8sAnywhereTopology

from .harness import EmulatorThread

CONFIG = PgConfig("orders", port=5432, databases=("orders",), users=(PgUser("app", databases=("orders",)),), settings={"max_connections": "50"})


def test_clusters_are_refused_as_replicated_postgresql_members_until_they_are_servers() -> None:
    # The Kubernetes mixin predates the PostgreSQLServer protocol the replicated
    # orchestration needs; the run-time check says exactly what is missing.
    gaps = capability_gaps(FailoverTopology(K8sAnywhereTopology(), K8sAnywhereTopology()), PostgreSQL)
    assert "primary: missing fence_postgres" in gaps and "replica: missing plan_postgres" in gaps


async def test_deploy_creates_statefulset_service_secret_and_reuses_passwords(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    endpoint = await topology.deploy_postgres(CONFIG)
    assert (endpoint.host, endpoint.port, endpoint.database, endpoint.user) == ("orders.default.svc", 5432, "orders", "postgres")
    statefulset = server.call(lambda: server.api.find("StatefulSet", "orders"))
    assert statefulset is not None
    assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    assert "-c max_connections=50" in container["command"][2]
    secret = server.call(lambda: server.api.find("Secret", "orders-credentials"))
    assert secret is not None and set(secret["data"]) == {"postgres", "app"}
    again = await topology.deploy_postgres(CONFIG)
    assert again.password.reveal() == endpoint.password.reveal()
    assert "orders" not in repr(endpoint.password) and endpoint.password.reveal() not in repr(endpoint)
    assert (await topology.postgres_replication(CONFIG)).role is ReplicationRole.PRIMARY


async def test_follow_then_promote(topology: K8sAnywhereTopology, server: EmulatorThread) -> None:
    assert (await topology.postgres_replication(CONFIG)).role is ReplicationRole.ABSENT
    source = ReplicationSource("orders.primary.svc", 5432, "replicator", Secret("repl-pass"), "replica_1", "replica_1")
    await topology.follow_postgres(CONFIG, source)
    state = await topology.postgres_replication(CONFIG)
    assert (state.role, state.upstream) == (ReplicationRole.REPLICA, "orders.primary.svc:5432")
    statefulset = server.call(lambda: server.api.find("StatefulSet", "orders"))
    assert statefulset is not None
    clone = statefulset["spec"]["template"]["spec"]["initContainers"][0]
    assert "pg_basebackup" in clone["command"][2] and "-R" in clone["command"][2]
    secret = server.call(lambda: server.api.find("Secret", "orders-credentials"))
    assert secret is not None and base64.b64decode(secret["data"]["replication-source"]) == b"repl-pass"
    await topology.promote_postgres(CONFIG)
    assert (await topology.postgres_replication(CONFIG)).role is ReplicationRole.PRIMARY
    promoted = server.call(lambda: server.api.find("StatefulSet", "orders"))
    assert promoted is not None and promoted["spec"]["template"]["spec"]["initContainers"] == []
