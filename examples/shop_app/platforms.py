"""Where the shop example runs, chosen by ``SHOP_TOPOLOGY`` (the tests set it; a user edits one line).

- ``localhost``: this machine for debugging: PostgreSQL under ``SHOP_ROOT``, the
  shop a supervised process.
- ``docker``: this machine as a Docker host: the shop's image as replicated
  containers behind nginx (``SHOP_DOCKER_HOST``: the engine's socket).
- ``failover``: the shop a process here, its database a primary and a streaming
  replica (two PostgreSQL servers here, ports ``SHOP_DB_PORT`` and one above).
- ``failover-auto``: as ``failover``, with a witness (a third LocalInstance, running only
  etcd): the database runs under Patroni and fails over by itself when the primary's host
  dies; the shop keeps serving through its multi-host ``DATABASE_URL``. Ports
  ``SHOP_DB_PORT`` + 0..2, and + 2000..4002 for Patroni and etcd (README "Automatic failover").
- ``linux``: a Linux host over SSH (``SHOP_SSH_HOST``, an IP address;
  ``SHOP_SSH_PORT``, ``SHOP_SSH_USER``, ``SHOP_SSH_KEY``, ``SHOP_SSH_KNOWN_HOSTS``):
  the shop's image as replicated containers behind nginx on that host, through
  its Docker engine (``SHOP_DOCKER_SOCKET``, the socket's path there) reached
  over SSH, and PostgreSQL on the host. The image must be on the host's engine,
  and the host must have this Python at the same paths (see shop_app.host_paths).
  With ``SHOP_SSH_DB_HOSTS="a[:port] b[:port]"`` the database is a primary and a
  streaming replica on those two hosts instead, each listening on its own
  address and accepting ``SHOP_DB_NETWORK``.
- ``k8s``: a Kubernetes cluster found as kubectl does (``SHOP_K8S_CONTEXT``,
  ``SHOP_K8S_NAMESPACE``): the shop a Deployment, its database a StatefulSet.

Every one is an ``ApplicationPlatform``: the return type below lists them, so
mypy checks each against what the shop's ``ApplicationScore`` requires.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TypeAlias, TypedDict

from topologies import ApplicationTopology, FailoverTopology, K8sAnywhereTopology, LocalInstance, LocalhostTopology

from . import host_paths

if TYPE_CHECKING:
    from topologies import LinuxHostTopology

ShopPlatform: TypeAlias = "LocalhostTopology | ApplicationTopology | K8sAnywhereTopology | LinuxHostTopology"


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
    if kind == "failover-auto":
        # The witness shares this machine: fine for trying it; the plan says a crash of the machine is not covered.
        database = FailoverTopology[LocalhostTopology](
            LocalInstance("pg-a", root=f"{root}/pg-a"),
            LocalInstance("pg-b", root=f"{root}/pg-b", port_shift=1),
            witness=LocalInstance("pg-w", root=f"{root}/pg-w", port_shift=2),
        )
        return ApplicationTopology(runtime=here, database=database)
    if kind == "linux":
        runtime = linux_host(root)
        db_hosts = os.environ.get("SHOP_SSH_DB_HOSTS", "").split()
        if not db_hosts:
            return runtime
        from topologies import LinuxHostTopology

        if len(db_hosts) != 2:
            raise ValueError(f"SHOP_SSH_DB_HOSTS names a primary and a replica (two hosts), got {db_hosts!r}")
        primary, replica = (database_host(where) for where in db_hosts)
        return ApplicationTopology(runtime=runtime, database=FailoverTopology[LinuxHostTopology](primary, replica))
    if kind == "k8s":
        return K8sAnywhereTopology(
            context=os.environ.get("SHOP_K8S_CONTEXT"), namespace=os.environ.get("SHOP_K8S_NAMESPACE")
        )
    raise ValueError(f"SHOP_TOPOLOGY must be localhost, docker, failover, failover-auto, linux or k8s, got {kind!r}")


def linux_host(root: str) -> LinuxHostTopology:
    """The host ``SHOP_SSH_HOST`` over SSH (imported here: asyncssh is loaded only when it is wanted)."""
    from topologies import LinuxHostTopology

    return LinuxHostTopology(
        os.environ.get("SHOP_SSH_HOST", "192.0.2.10"),
        port=int(os.environ.get("SHOP_SSH_PORT", "22")),
        **ssh_login(),
        docker_socket=os.environ.get("SHOP_DOCKER_SOCKET", "/var/run/docker.sock"),
        balancer_root=os.environ.get("SHOP_BALANCER_ROOT", f"{root}/nginx"),
        app_host_paths=host_paths(),
    )


def database_host(where: str) -> LinuxHostTopology:
    """A database host ``address[:port]``: its servers listen on that address, accepting ``SHOP_DB_NETWORK``."""
    from topologies import LinuxHostTopology

    address, _, port = where.partition(":")
    return LinuxHostTopology(
        address,
        port=int(port or "22"),
        **ssh_login(),
        postgres_listen=(address,),
        postgres_networks=tuple(os.environ.get("SHOP_DB_NETWORK", "10.0.0.0/24").split()),
    )


def ssh_login() -> SshLogin:
    key = os.environ.get("SHOP_SSH_KEY")
    return {
        "user": os.environ.get("SHOP_SSH_USER", "root"),
        "client_keys": (key,) if key else None,
        "known_hosts": os.environ.get("SHOP_SSH_KNOWN_HOSTS", "~/.ssh/known_hosts"),
    }


class SshLogin(TypedDict):
    user: str
    client_keys: tuple[str, ...] | None
    known_hosts: str
