"""Replicated PostgreSQL on Kubernetes: a primary and a synchronous streaming replica, one per namespace.

    python -m harmony_py plan examples/k8s_postgres.py
    python -m harmony_py apply examples/k8s_postgres.py

Each member of the FailoverTopology is a namespace of the cluster kubectl uses ($KUBECONFIG or
~/.kube/config; HARMONY_K8S_CONTEXT picks a context). The primary is a StatefulSet ``orders`` in
``orders-a`` (Service ``orders.orders-a.svc``); the replica, in ``orders-b``, is cloned from it with
pg_basebackup by an init container and streams from it. Generated passwords are kept in the project's
secret store (.harmony/secrets) and in each namespace's Secret ``orders-credentials``.

The two namespaces must exist first (``kubectl create namespace orders-a``, the same for
``orders-b``, or a NamespaceScore applied to one K8sAnywhereTopology): Kubernetes scores apply
to one cluster topology, not to the pair, which provides PostgreSQL only (adr/0007).
"""

import os

from harmony_py import Maestro
from harmony_py.scores import PostgreSQLScore
from topologies import FailoverTopology, K8sAnywhereTopology

context = os.environ.get("HARMONY_K8S_CONTEXT")
pair = FailoverTopology(
    K8sAnywhereTopology(context=context, namespace="orders-a"),
    K8sAnywhereTopology(context=context, namespace="orders-b"),
)

maestro = Maestro(pair).add(PostgreSQLScore("orders", databases=("orders",), users=("app",)))
