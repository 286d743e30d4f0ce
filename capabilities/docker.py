"""Docker: a container engine running images as named, labelled containers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from harmony_py.secret import Secret


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class HealthCheck:
    command: tuple[str, ...]
    interval_s: float = 2.0
    timeout_s: float = 2.0
    retries: int = 3


@dataclass(frozen=True)
class ContainerSpec:
    """Everything that defines a container; two equal specs are the same container."""

    name: str
    image: str
    command: tuple[str, ...] = ()
    env: Mapping[str, str | Secret] = field(default_factory=dict)
    ports: Mapping[int, int] = field(default_factory=dict)
    network: str | None = None
    mounts: tuple[Mount, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    restart_policy: str = "no"
    health: HealthCheck | None = None


@dataclass(frozen=True)
class ContainerInfo:
    name: str
    id: str
    image: str
    state: str
    health: str | None
    labels: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Docker(Protocol):
    """A topology with a container engine.

    A topology implementing it promises that containers it creates carry the
    spec's labels, that ``list_containers`` finds them by those labels, and
    that images are used from the local store unless a registry is configured.
    """

    async def ensure_image(self, reference: str) -> str:
        """Make sure the image is present; return its id."""
        ...

    async def run_container(self, spec: ContainerSpec) -> ContainerInfo:
        """Create and start a container from ``spec``."""
        ...

    async def inspect_container(self, name: str) -> ContainerInfo | None:
        """The container called ``name``, or ``None``."""
        ...

    async def stop_container(self, name: str, *, timeout_s: float = 10.0) -> None:
        """Stop a running container, giving it ``timeout_s`` to exit cleanly."""
        ...

    async def remove_container(self, name: str) -> None:
        """Remove a container (stopping it first); absent is not an error."""
        ...

    async def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        """Containers carrying all of ``labels``."""
        ...

    async def wait_healthy(self, name: str, *, timeout_s: float) -> ContainerInfo:
        """Wait until the container's health check passes, or raise on timeout."""
        ...
