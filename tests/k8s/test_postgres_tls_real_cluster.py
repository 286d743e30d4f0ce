"""PostgreSQL over TLS on a real cluster (adr/0103): opt-in, runs only when KUBECONFIG is set.

What neither the emulator nor the scripts run on this machine can show: the
image, the kubelet mounting the member's TLS Secret, the Service's DNS name in
the server certificate, and a replica in another namespace streaming over TLS
authenticated by its certificate. Needs the postgres:15 image to be pullable
and a default StorageClass for the PVCs, as tests/k8s/test_real_cluster.py.
"""

from __future__ import annotations

import os

import pytest

from capabilities.application import database_url
from capabilities.postgresql import PgConfig, PgUser
from topologies import FailoverTopology, K8sAnywhereTopology

from .test_real_cluster import _psql, pg_pair  # noqa: F401  (a fixture)

pytestmark = [
    pytest.mark.real_cluster,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="real_cluster tier: KUBECONFIG is not set"),
]

PG = PgConfig("orders", databases=("orders",), users=(PgUser("app", databases=("orders",)),), tls=True)


async def test_postgres_replication_runs_over_tls_on_a_real_cluster(pg_pair: FailoverTopology[K8sAnywhereTopology]) -> None:
    await pg_pair.postgresql().deploy(PG)
    # On the primary: the replica's walsender connection is TLS, authenticated by the replication role's certificate.
    streaming = "SELECT r.state, s.ssl, s.client_dn FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid) WHERE r.application_name = 'replica'"
    assert await _psql(pg_pair.primary, streaming) == "streaming|t|/CN=replicator"
    # A client verifying the server by its Service name (verify-full) against the CA in the Pod
    # (the URL, password included, goes in the exec: a throwaway namespace's generated password).
    endpoint = await pg_pair.postgresql().endpoint(PG, "orders")
    assert endpoint.sslmode == "verify-full" and endpoint.host.endswith(".svc")
    result = await pg_pair.primary.k8s_client().exec(
        "orders-0", ["psql", "-XAtq", "-d", database_url(endpoint).reveal(), "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],
        container="postgres",
    )
    assert result.ok and result.stdout.strip() == "t", result.stderr
    assert await pg_pair.postgresql().plan(PG) == []
    assert await pg_pair.postgresql().deploy(PG) == []
