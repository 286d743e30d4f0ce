"""LoadBalancer: one address in front of the replicas of a service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Protocol, runtime_checkable

from harmony_py.validation import Count, Duration, IpAddress, Matches, Port, validate

from .docker import Docker

_SERVICE_NAME = Matches(r"[a-zA-Z0-9][a-zA-Z0-9_-]*", "letters, digits, '_' or '-'")


@dataclass(frozen=True, order=True)
class Backend:
    """One replica the balancer sends requests to."""

    address: Annotated[str, IpAddress()]
    port: Annotated[int, Port()]

    def __post_init__(self) -> None:
        validate(self)

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


@dataclass(frozen=True)
class Frontend:
    """Where clients reach a named service, and how backends are judged.

    A backend that fails ``max_fails`` requests is left out for
    ``fail_timeout_s``; a request that fails on one backend before any byte
    of the answer was sent is retried on the next, so removing a backend
    never fails a client request.
    """

    service: Annotated[str, _SERVICE_NAME]
    port: Annotated[int, Port()]
    address: Annotated[str, IpAddress()] = "127.0.0.1"
    max_fails: Annotated[int, Count(minimum=0)] = 1
    fail_timeout_s: Annotated[int, Count()] = 5
    connect_timeout_s: Annotated[float, Duration()] = 1.0

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class BalancedService:
    """What the balancer serves for one service now."""

    frontend: Frontend
    backends: tuple[Backend, ...]


class LoadBalancerService(Protocol):
    """One address in front of the replicas of each service it serves.

    A balancer promises that a new configuration is validated before it is
    activated (a bad one is never activated, and the old one keeps serving),
    that activation drops no connection, and that ``balance`` returns only
    once requests still in flight to backends it removed have finished, so
    the caller may stop those backends.
    """

    async def service(self, name: str) -> BalancedService | None:
        """What is served for service ``name`` now, or ``None`` when nothing is."""
        ...

    async def balance(
        self, frontend: Frontend, backends: Sequence[Backend], *, drain_timeout_s: float = 30.0
    ) -> None:
        """Serve ``frontend`` from exactly ``backends``; wait for removed ones to drain."""
        ...

    async def remove(self, name: str, *, drain_timeout_s: float = 30.0) -> None:
        """Stop serving service ``name``; absent is not an error."""
        ...


@runtime_checkable
class LoadBalancer(Protocol):
    """A topology that spreads a service's requests over its healthy backends, through :meth:`load_balancer`."""

    def load_balancer(self) -> LoadBalancerService:
        """The topology's balancer."""
        ...


@runtime_checkable
class DockerWithLoadBalancer(Docker, LoadBalancer, Protocol):
    """A topology that runs containers and balances requests over them."""
