"""Docker: a container engine running images as named, labelled containers.

The values here check themselves when built, so a spec with a bad value fails
with one clear :class:`ScoreValueError` before any engine is asked anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from harmony_py.errors import ScoreValueError
from harmony_py.values import Secret

# Docker's own rule for container names (daemon/names: RestrictedNamePattern).
_CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
RestartPolicy = Literal["no", "always", "unless-stopped", "on-failure"]
_RESTART_POLICIES: tuple[str, ...] = ("no", "always", "unless-stopped", "on-failure")


@dataclass(frozen=True)
class Mount:
    """A host path bind-mounted into the container (read-only unless asked)."""

    source: str
    target: str
    read_only: bool = True

    def __post_init__(self) -> None:
        for name in ("source", "target"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.startswith("/"):
                raise ScoreValueError(f"Mount.{name} must be an absolute path, got {value!r}")


@dataclass(frozen=True)
class Port:
    """Publish ``container`` (tcp or udp) on ``host_ip:host``; loopback unless asked."""

    container: int
    host: int
    host_ip: str = "127.0.0.1"
    protocol: Literal["tcp", "udp"] = "tcp"

    def __post_init__(self) -> None:
        for name in ("container", "host"):
            _port_number(f"Port.{name}", getattr(self, name))
        if self.protocol not in ("tcp", "udp"):
            raise ScoreValueError(f"Port.protocol must be 'tcp' or 'udp', got {self.protocol!r}")


@dataclass(frozen=True)
class HealthCheck:
    """A command the engine runs inside the container; exit 0 means healthy.

    A string runs through the image's shell (``CMD-SHELL``); a tuple runs as
    exactly those arguments (``CMD``).
    """

    command: str | tuple[str, ...]
    interval_s: float = 2.0
    timeout_s: float = 2.0
    retries: int = 3
    start_period_s: float = 0.0

    def __post_init__(self) -> None:
        command = self.command
        if isinstance(command, str):
            if not command.strip():
                raise ScoreValueError("HealthCheck.command must not be empty")
        elif not (
            isinstance(command, tuple) and command and all(isinstance(part, str) and part for part in command)
        ):
            raise ScoreValueError(
                f"HealthCheck.command must be a shell string or a non-empty tuple of strings, got {command!r}"
            )
        # The engine counts in nanoseconds and refuses intervals under 1 ms.
        for name in ("interval_s", "timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0.001:
                raise ScoreValueError(f"HealthCheck.{name} must be at least 0.001 s, got {value!r}")
        if not isinstance(self.start_period_s, (int, float)) or self.start_period_s < 0:
            raise ScoreValueError(f"HealthCheck.start_period_s must not be negative, got {self.start_period_s!r}")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 1:
            raise ScoreValueError(f"HealthCheck.retries must be a positive int, got {self.retries!r}")


@dataclass(frozen=True)
class ContainerSpec:
    """Everything that defines a container; two equal specs are the same container.

    ``network`` is ``None`` for the engine's default network, or a network
    name such as ``"host"`` or ``"none"``. Ports cannot be published with
    ``"host"`` or ``"none"``: the container already shares, or has no, network.
    ``env`` values may be :class:`Secret`; they reach the engine, never a plan.
    """

    name: str
    image: str
    command: tuple[str, ...] = ()
    env: Mapping[str, str | Secret] = field(default_factory=dict)
    ports: tuple[Port, ...] = ()
    network: str | None = None
    mounts: tuple[Mount, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    restart_policy: RestartPolicy = "no"
    health: HealthCheck | None = None
    init: bool = False
    """Run a tiny init as PID 1, so the program gets the stop signal and its children are reaped."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _CONTAINER_NAME.match(self.name):
            raise ScoreValueError(
                f"ContainerSpec.name {self.name!r} is not a valid container name "
                "(letters, digits, '_', '.', '-'; at least two characters, not starting with a symbol)"
            )
        if not isinstance(self.image, str) or not self.image.strip() or any(c.isspace() for c in self.image):
            raise ScoreValueError(f"ContainerSpec.image must be an image reference such as 'web:1.2', got {self.image!r}")
        if isinstance(self.command, str) or not all(isinstance(part, str) for part in self.command):
            raise ScoreValueError(f"ContainerSpec.command must be a tuple of strings, got {self.command!r}")
        object.__setattr__(self, "command", tuple(self.command))
        for key, value in self.env.items():
            if not isinstance(key, str) or not key or "=" in key:
                raise ScoreValueError(f"ContainerSpec.env has an invalid variable name: {key!r}")
            if not isinstance(value, (str, Secret)):
                raise ScoreValueError(f"ContainerSpec.env[{key!r}] must be a str or Secret, got {type(value).__name__}")
        for key, label in self.labels.items():
            if not isinstance(key, str) or not key or not isinstance(label, str):
                raise ScoreValueError(f"ContainerSpec.labels must map strings to strings, got {key!r}: {label!r}")
        if self.restart_policy not in _RESTART_POLICIES:
            raise ScoreValueError(
                f"ContainerSpec.restart_policy must be one of {', '.join(_RESTART_POLICIES)}, got {self.restart_policy!r}"
            )
        if self.ports and self.network in ("host", "none"):
            raise ScoreValueError(
                f"ContainerSpec {self.name}: ports cannot be published on network {self.network!r}"
            )
        published = [(port.host_ip, port.host, port.protocol) for port in self.ports]
        if len(set(published)) != len(published):
            raise ScoreValueError(f"ContainerSpec {self.name}: a host port is published twice")


@dataclass(frozen=True)
class ContainerInfo:
    """A container as the engine reports it.

    ``state`` is the engine's word ("created", "running", "exited", ...);
    ``health`` is "starting", "healthy" or "unhealthy", ``None`` without a check.
    ``health_output`` is the engine's last health check ("exit 1: <its output>"),
    and ``last_output`` the last line the container printed, read only for a
    container that is not :attr:`serving`. Both are bounded and have the
    values of the container's secret variables masked.
    """

    name: str
    id: str
    image: str
    image_id: str
    state: str
    health: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    health_output: str = ""
    last_output: str = ""

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def serving(self) -> bool:
        """Running, and healthy when it has a health check."""
        return self.running and self.health in (None, "healthy")

    def trouble(self) -> str:
        """Why the container is not serving, in a few words with its last output (empty when it is)."""
        if self.serving:
            return ""
        if not self.running:
            said = f"it is {self.state}" + (f" (exit status {self.exit_code})" if self.exit_code is not None else "")
        elif self.health == "unhealthy":
            said = "it runs but is unhealthy"
        else:
            said = "it runs but its health check has not passed yet"
        details = [
            *([f"last check: {self.health_output}"] if self.health_output and self.running else []),
            *([f"last output: {self.last_output}"] if self.last_output else []),
        ]
        return said + (f" ({'; '.join(details)})" if details else "")


@runtime_checkable
class Docker(Protocol):
    """A topology with a container engine.

    A topology implementing it promises that containers it creates carry the
    spec's labels, that ``list_containers`` finds them by those labels, that
    images are used from the local store unless a registry is configured, and
    that a container which fails to start is removed again, with a
    :class:`ContainerError` saying why.
    """

    async def image_id(self, reference: str) -> str | None:
        """The id of a locally present image, or ``None``; never pulls."""
        ...

    async def ensure_image(self, reference: str) -> str:
        """Make sure the image is present; return its id, or raise :class:`ImageNotFoundError`."""
        ...

    async def run_container(self, spec: ContainerSpec) -> ContainerInfo:
        """Create and start a container from ``spec``."""
        ...

    async def start_container(self, name: str) -> ContainerInfo:
        """Start an existing, stopped container again."""
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
        """Containers carrying all of ``labels``, running or not."""
        ...

    async def wait_healthy(self, name: str, *, timeout_s: float) -> ContainerInfo:
        """Wait until the container's health check passes (or, without one, it runs).

        Raises :class:`ContainerError` when it exits, turns unhealthy or the
        time is up, with the engine's last health output in the message.
        """
        ...


def _port_number(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ScoreValueError(f"{what} must be a port number between 1 and 65535, got {value!r}")
    return value


def port_number(what: str, value: object) -> int:
    """Check ``value`` is a TCP/UDP port number; ``what`` names it in the error."""
    return _port_number(what, value)
