"""K8sAnywhereTopology: any Kubernetes cluster, reached the way kubectl reaches it.

The topology holds settings and assembles services: its API client
(:class:`~topologies.k8s.client.K8sApiClient`, made once per topology object
and kept for the run), the application runtime built on that client
(:class:`~topologies.k8s.applications.K8sApplicationRuntime`), and
PostgreSQL (topologies/k8s/postgres.py). ``import topologies`` stays free of
the ``kubernetes`` package: the client imports it on first use.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from harmony_py.errors import ScoreValueError
from harmony_py.topology import TopologyReport

from .applications import K8sApplicationRuntime
from .client import K8sApiClient
from .connection import K8sSettings
from .postgres import K8sPostgreSQL


@dataclass(frozen=True)
class K8sAnywhereTopology:
    """A Kubernetes cluster (one namespace of it, for namespaced objects).

    Provides ``K8sPodClient`` (and so ``K8sClient``) through :meth:`k8s_client`,
    ``ApplicationRuntime`` (a Deployment and a Service) through
    :meth:`application_runtime`, and ``PostgreSQLServer`` through :meth:`postgresql`
    (a :class:`~topologies.k8s.postgres.K8sPostgreSQL`): two of them in a
    ``FailoverTopology`` are a primary and a streaming replica (see
    topologies/k8s/postgres.py).

    ``kubeconfig`` defaults to ``$KUBECONFIG`` then ``~/.kube/config``, and
    ``context`` to that file's current context, as for kubectl; ``namespace``
    (like ``kubectl -n``) overrides the context's namespace. With
    ``in_cluster=None`` the in-cluster configuration is used when no kubeconfig
    exists and the process runs in a Pod. Requests that fail with 429/5xx or
    time out are retried ``retries`` times (every request this topology sends is
    idempotent: reads, server-side apply, delete).

    Every request, discovery and ``/version`` included, must answer within
    ``request_timeout_s`` (connecting within at most 10 s of it); cancelling a
    call (Ctrl-C, a score's timeout) returns at once and closes its connection
    (see topologies/k8s/calls.py).
    """

    context: str | None = None
    kubeconfig: str | None = None
    in_cluster: bool | None = None
    namespace: str | None = None
    request_timeout_s: float = 30.0
    retries: int = 3
    watch_idle_s: float = 30.0
    """A watch that receives nothing for this long reconnects (and notices a dead server)."""
    postgres_ready_timeout_s: float = 300.0
    """How long PostgreSQL operations wait for a server's Pod to become ready."""
    concurrent_requests: int = 8
    """Requests sent at once (applying many objects, say), each on its own pooled connection."""

    def __post_init__(self) -> None:
        if self.concurrent_requests < 1:
            raise ScoreValueError(f"K8sAnywhereTopology.concurrent_requests must be at least 1, got {self.concurrent_requests}")

    @property
    def name(self) -> str:
        where = self.context or "current-context"
        return f"K8sAnywhereTopology({where}{'/' + self.namespace if self.namespace else ''})"

    def postgresql(self) -> K8sPostgreSQL:
        return K8sPostgreSQL(self._client, ready_timeout_s=self.postgres_ready_timeout_s)

    async def ensure_ready(self) -> TopologyReport:
        return TopologyReport(self.name, await self._client.facts())

    def k8s_client(self) -> K8sApiClient:
        return self._client

    def application_runtime(self) -> K8sApplicationRuntime:
        return K8sApplicationRuntime(self._client)

    @functools.cached_property
    def _client(self) -> K8sApiClient:
        # Made on first use and kept: a frozen dataclass without slots has a __dict__ to keep it in.
        settings = K8sSettings(
            self.context, self.kubeconfig, self.in_cluster, self.namespace,
            self.request_timeout_s, self.retries, self.watch_idle_s, self.concurrent_requests,
        )  # fmt: skip
        return K8sApiClient(settings)
