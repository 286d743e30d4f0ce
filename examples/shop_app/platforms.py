"""Where the shop example runs, chosen by ``SHOP_TOPOLOGY`` (the tests set it; a user edits one line).

- ``localhost``: this machine for debugging: PostgreSQL under ``SHOP_ROOT``, the
  shop a supervised process.
- ``docker``: this machine as a Docker host: the shop's image as replicated
  containers behind nginx (``SHOP_DOCKER_HOST``: the engine's socket).
- ``failover``: the shop a process here, its database a primary and a streaming
  replica (two PostgreSQL servers here, ports ``SHOP_DB_PORT`` and one above).
- ``k8s``: a Kubernetes cluster found as kubectl does (``SHOP_K8S_CONTEXT``,
  ``SHOP_K8S_NAMESPACE``): the shop a Deployment, its database a StatefulSet.

Every one is an ``ApplicationPlatform``: the return type below lists them, so
mypy checks each against what the shop's ``ApplicationScore`` requires.
"""

from __future__ import annotations

import os

from topologies import FailoverTopology, LocalhostTopology
from topologies.k8s_anywhere import K8sAnywhereTopology
from topologies.application_topology import ApplicationTopology
from topologies.local_instance import LocalInstance

from . import host_paths

ShopPlatform = LocalhostTopology | ApplicationTopology | K8sAnywhereTopology


def from_environment() -> ShopPlatform:
    kind = os.environ.get("SHOP_TOPOLOGY", "localhost")
    root = os.environ.get("SHOP_ROOT", "/var/lib/harmony/shop")
    address = os.environ.get("SHOP_ADDRESS", "127.0.0.1")
    here = LocalInstance("localhost", root=f"{root}/pg", apps_root=f"{root}/apps", app_address=address)
    if kind == "localhost":
        return here
    if kind == "docker":
        return LocalInstance(
            "docker-host",
            root=f"{root}/pg",
            app_runtime="docker",
            app_address=address,
            app_host_paths=host_paths(),
            docker_host=os.environ.get("SHOP_DOCKER_HOST"),
            balancer_root=os.environ.get("SHOP_BALANCER_ROOT", f"{root}/nginx"),
        )
    if kind == "failover":
        database = FailoverTopology[LocalhostTopology](
            LocalInstance("pg-a", root=f"{root}/pg-a"), LocalInstance("pg-b", root=f"{root}/pg-b", port_shift=1)
        )
        return ApplicationTopology(runtime=here, database=database)
    if kind == "k8s":
        return K8sAnywhereTopology(
            context=os.environ.get("SHOP_K8S_CONTEXT"), namespace=os.environ.get("SHOP_K8S_NAMESPACE")
        )
    raise ValueError(f"SHOP_TOPOLOGY must be localhost, docker, failover or k8s, got {kind!r}")
