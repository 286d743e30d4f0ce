"""An application (``AppSpec``) as replicated containers: the one translation Docker hosts and ``render`` share.

A Docker host runs an application as a :class:`ReplicatedServiceScore`
(``topologies.app.containers``); ``harmony_py.render`` writes the same
replica's container (image, command, environment, health check) into a
compose file. Both build it here, so the files cannot drift from apply.
"""

from __future__ import annotations

from collections.abc import Sequence

from capabilities.application import AppSpec
from capabilities.docker import Mount

from .replicated_service import ReplicatedServiceScore, UpdatePolicy

DEFAULT_BACKEND_PORTS = range(20000, 21000)


def replicated_service(
    spec: AppSpec,
    *,
    address: str = "127.0.0.1",
    backend_ports: range = DEFAULT_BACKEND_PORTS,
    host_paths: Sequence[str] = (),
    start_timeout_s: float = 30.0,
) -> ReplicatedServiceScore:
    """The replicated service running ``spec`` behind the balancer on ``address``, replicas on ``backend_ports``."""
    return ReplicatedServiceScore(
        spec.name,
        spec.image,
        spec.replicas,
        spec.port,
        health_path=spec.health_path,
        command=spec.command,
        env=dict(spec.env),
        backend_ports=backend_ports,
        address=address,
        health_interval_s=0.5,
        health_start_period_s=start_timeout_s,
        stop_grace_s=5.0,
        update=UpdatePolicy(monitor_s=start_timeout_s, drain_timeout_s=5.0),
        mounts=tuple(Mount(path, path) for path in host_paths),
    )
