"""Docker: a container engine running images as named, labelled containers.

The values here check themselves when built, so a spec with a bad value fails
with one clear :class:`ScoreValueError` before any engine is asked anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Literal, Protocol, runtime_checkable

from harmony_py.errors import ScoreValueError
from harmony_py.validation import (
    AbsolutePath,
    Count,
    Duration,
    ImageReference,
    InstanceOf,
    Invalid,
    Keys,
    Matches,
    NonEmpty,
    OneOf,
    Strings,
    Values,
    validate,
)
from harmony_py.validation import (
    Port as PortNumber,
)
from harmony_py.values import Secret

# Docker's own rule for container names (daemon/names: RestrictedNamePattern).
_CONTAINER_NAME = Matches(
    r"[a-zA-Z0-9][a-zA-Z0-9_.-]+",
    "a container name (letters, digits, '_', '.', '-'; at least two characters, not starting with a symbol)",
)
RestartPolicy = Literal["no", "always", "unless-stopped", "on-failure"]
_RESTART_POLICIES: tuple[str, ...] = ("no", "always", "unless-stopped", "on-failure")


@dataclass(frozen=True)
class Mount:
    """A host path bind-mounted into the container (read-only unless asked)."""

    source: Annotated[str, AbsolutePath(normalise=False, allow_root=True)]
    target: Annotated[str, AbsolutePath(normalise=False, allow_root=True)]
    read_only: bool = True

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class Port:
    """Publish ``container`` (tcp or udp) on ``host_ip:host``; loopback unless asked."""

    container: Annotated[int, PortNumber()]
    host: Annotated[int, PortNumber()]
    host_ip: str = "127.0.0.1"
    protocol: Annotated[Literal["tcp", "udp"], OneOf("tcp", "udp")] = "tcp"

    def __post_init__(self) -> None:
        validate(self)


class _ShellOrArguments(Strings):
    """A health command: a shell string, or a non-empty tuple of non-empty strings."""

    def __init__(self) -> None:
        super().__init__(non_empty=True)

    def __call__(self, value: object) -> object:
        if isinstance(value, str):
            return NonEmpty()(value)
        try:
            if not isinstance(value, tuple) or not value:
                raise Invalid("empty")
            return super().__call__(value)
        except Invalid:
            raise Invalid(f"must be a shell string or a non-empty tuple of non-empty strings, got {value!r}") from None


@dataclass(frozen=True)
class HealthCheck:
    """A command the engine runs inside the container; exit 0 means healthy.

    A string runs through the image's shell (``CMD-SHELL``); a tuple runs as
    exactly those arguments (``CMD``).
    """

    command: Annotated[str | tuple[str, ...], _ShellOrArguments()]
    # The engine counts in nanoseconds and refuses intervals under 1 ms.
    interval_s: Annotated[float, Duration(minimum_s=0.001)] = 2.0
    timeout_s: Annotated[float, Duration(minimum_s=0.001)] = 2.0
    retries: Annotated[int, Count()] = 3
    start_period_s: Annotated[float, Duration(minimum_s=0)] = 0.0

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class ContainerSpec:
    """Everything that defines a container; two equal specs are the same container.

    ``network`` is ``None`` for the engine's default network, or a network
    name such as ``"host"`` or ``"none"``. Ports cannot be published with
    ``"host"`` or ``"none"``: the container already shares, or has no, network.
    ``env`` values may be :class:`Secret`; they reach the engine, never a plan.
    """

    name: Annotated[str, _CONTAINER_NAME]
    image: Annotated[str, ImageReference()]
    command: Annotated[tuple[str, ...], Strings()] = ()
    env: Annotated[
        Mapping[str, str | Secret], Keys(Matches(r"[^=]+", "a variable name (no '=')")), Values(InstanceOf(str, Secret))
    ] = field(default_factory=dict)
    ports: tuple[Port, ...] = ()
    network: str | None = None
    mounts: tuple[Mount, ...] = ()
    labels: Annotated[Mapping[str, str], Keys(NonEmpty()), Values(InstanceOf(str))] = field(default_factory=dict)
    restart_policy: Annotated[RestartPolicy, OneOf(*_RESTART_POLICIES)] = "no"
    health: HealthCheck | None = None
    init: bool = False
    """Run a tiny init as PID 1, so the program gets the stop signal and its children are reaped."""

    def __post_init__(self) -> None:
        validate(self)
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


class DockerService(Protocol):
    """A container engine running images as named, labelled containers.

    An engine promises that containers it creates carry the spec's labels,
    that ``list_containers`` finds them by those labels, that images are used
    from the local store unless a registry is configured, and that a
    container which fails to start is removed again, with a
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


@runtime_checkable
class Docker(Protocol):
    """A topology with a container engine, reached through :meth:`docker`."""

    def docker(self) -> DockerService:
        """The topology's engine (the same object for the whole run)."""
        ...
