"""LoadBalancer: one address in front of the replicas of a service."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from harmony_py.errors import ScoreValueError

from .docker import Docker, port_number

_SERVICE_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")


@dataclass(frozen=True, order=True)
class Backend:
    """One replica the balancer sends requests to."""

    address: str
    port: int

    def __post_init__(self) -> None:
        _ip_address("Backend.address", self.address)
        port_number("Backend.port", self.port)

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

    service: str
    port: int
    address: str = "127.0.0.1"
    max_fails: int = 1
    fail_timeout_s: int = 5
    connect_timeout_s: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.service, str) or not _SERVICE_NAME.match(self.service):
            raise ScoreValueError(
                f"Frontend.service must be letters, digits, '_' or '-', got {self.service!r}"
            )
        _ip_address("Frontend.address", self.address)
        port_number("Frontend.port", self.port)
        if isinstance(self.max_fails, bool) or not isinstance(self.max_fails, int) or self.max_fails < 0:
            raise ScoreValueError(f"Frontend.max_fails must be a non-negative int, got {self.max_fails!r}")
        if isinstance(self.fail_timeout_s, bool) or not isinstance(self.fail_timeout_s, int) or self.fail_timeout_s < 1:
            raise ScoreValueError(f"Frontend.fail_timeout_s must be a positive int, got {self.fail_timeout_s!r}")
        if not isinstance(self.connect_timeout_s, (int, float)) or self.connect_timeout_s <= 0:
            raise ScoreValueError(f"Frontend.connect_timeout_s must be positive, got {self.connect_timeout_s!r}")


@dataclass(frozen=True)
class BalancedService:
    """What the balancer serves for one service now."""

    frontend: Frontend
    backends: tuple[Backend, ...]


@runtime_checkable
class LoadBalancer(Protocol):
    """A topology that spreads a service's requests over its healthy backends.

    A topology implementing it promises that a new configuration is validated
    before it is activated (a bad one is never activated, and the old one
    keeps serving), that activation drops no connection, and that
    ``balance`` returns only once requests still in flight to backends it
    removed have finished, so the caller may stop those backends.
    """

    async def balanced_service(self, service: str) -> BalancedService | None:
        """What is served for ``service`` now, or ``None`` when nothing is."""
        ...

    async def balance(
        self, frontend: Frontend, backends: Sequence[Backend], *, drain_timeout_s: float = 30.0
    ) -> None:
        """Serve ``frontend`` from exactly ``backends``; wait for removed ones to drain."""
        ...

    async def remove_balanced_service(self, service: str, *, drain_timeout_s: float = 30.0) -> None:
        """Stop serving ``service``; absent is not an error."""
        ...


def _ip_address(what: str, value: object) -> str:
    if not isinstance(value, str):
        raise ScoreValueError(f"{what} must be an IP address string, got {value!r}")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ScoreValueError(f"{what} must be an IP address, got {value!r}") from None
    return value


@runtime_checkable
class DockerWithLoadBalancer(Docker, LoadBalancer, Protocol):
    """A topology that runs containers and balances requests over them."""
