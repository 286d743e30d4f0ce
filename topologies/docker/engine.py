"""DockerEngine: the ``DockerService`` over the docker SDK, for every topology with an engine.

The SDK is imported inside the functions that use it, so importing this
module (and ``topologies``) stays light. The SDK blocks: every call to it
runs in a worker thread through ``anyio.to_thread``.

A container's health is the engine's own health status (its check runs
inside the container, wherever the engine is; adr/0035). What a container
printed is shown only bounded and with the values of its secret variables
masked: the names of those variables are kept in a label
(:data:`SECRET_ENV_LABEL`) when it is created, their values are read back from
the container's own configuration.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import anyio
import anyio.to_thread

from capabilities.docker import ContainerInfo, ContainerSpec
from capabilities.errors import ContainerError, ImageNotFoundError
from harmony_py.values import Secret
from topologies.concurrently import on_all
from topologies.log_tail import TAIL_LINES, last_lines

_POLL_S = 0.1
_PROBE_TIMEOUT_S = 3
SECRET_ENV_LABEL = "io.harmony.secret-env"
"""Names (comma-separated) of a container's environment variables whose values are secret."""
_LOG_TAIL_BYTES = 8192
_CONCURRENT_REQUESTS = 8
"""Requests to one engine at once from one call (the SDK keeps up to 10 connections per engine)."""

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def engine_url(base_url: str | None) -> str | None:
    """``/path/docker.sock`` becomes ``unix:///path/docker.sock``; ``None`` means DOCKER_HOST."""
    if base_url is not None and base_url.startswith("/"):
        return f"unix://{base_url}"
    return base_url


def _client(url: str | None) -> Any:
    """One SDK client per engine, shared by worker threads (its connection pool is thread-safe)."""
    key = url or ""
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            import docker

            client = docker.DockerClient(base_url=url) if url else docker.from_env()
            _clients[key] = client
        return client


def close_client(url: str) -> None:
    """Close and forget the cached client for ``url`` (its engine is no longer reachable there)."""
    with _clients_lock:
        client = _clients.pop(url, None)
    if client is not None:
        client.close()


def close_clients() -> None:
    """Close every cached SDK client (tests and long-lived programs call this at the end)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def probe_engine(url: str | None) -> str | None:
    """Why no engine answers at ``url``, or ``None`` when one does. Blocking; seconds at most."""
    import docker

    try:
        client = docker.DockerClient(base_url=url, timeout=_PROBE_TIMEOUT_S) if url else docker.from_env(
            timeout=_PROBE_TIMEOUT_S
        )
    except docker.errors.DockerException as exc:
        return f"{url or 'DOCKER_HOST'}: {exc}"
    try:
        client.ping()
    except Exception as exc:  # the SDK raises requests' and its own errors here
        return f"{url or 'DOCKER_HOST'}: {exc}"
    finally:
        client.close()
    return None


class EngineAddress(Protocol):
    """Where a :class:`DockerEngine`'s SDK client connects."""

    def where(self) -> str:
        """Where the engine is, for messages."""
        ...

    async def url(self) -> str | None:
        """The URL the SDK connects to (``None``: ``DOCKER_HOST``); may first open a way to the engine."""
        ...


@dataclass(frozen=True)
class SocketAddress:
    """An engine at a fixed URL: a unix socket, ``tcp://...``, or ``None`` for ``DOCKER_HOST``."""

    location: str | None

    def where(self) -> str:
        return self.location or "DOCKER_HOST"

    async def url(self) -> str | None:
        return self.location

    def problem(self) -> str | None:
        """Why no engine answers there, or ``None`` when one does. Blocking; seconds at most."""
        return probe_engine(self.location)


class DockerEngine:
    """``DockerService`` over an engine the docker SDK reaches at ``address``.

    Missing images are an error unless ``pull_missing`` (a registry is
    configured). Topologies make one per topology object and return it from
    ``docker()``.
    """

    def __init__(self, address: EngineAddress, *, pull_missing: bool = False) -> None:
        self.address = address
        self.pull_missing = pull_missing

    def __repr__(self) -> str:
        return f"DockerEngine({self.address.where()!r})"

    async def _call(self, function: Any, *args: Any) -> Any:
        url = await self.address.url()
        return await anyio.to_thread.run_sync(lambda: function(_client(url), *args))

    async def version(self) -> dict[str, str]:
        """The engine's version facts, for a topology report (not part of ``DockerService``)."""
        version: dict[str, Any] = await self._call(lambda client: client.version())
        return {
            "docker.version": str(version.get("Version", "unknown")),
            "docker.api_version": str(version.get("ApiVersion", "unknown")),
            "docker.os": str(version.get("Os", "unknown")),
        }

    async def image_id(self, reference: str) -> str | None:
        found: str | None = await self._call(_image_id, reference)
        return found

    async def ensure_image(self, reference: str) -> str:
        found = await self.image_id(reference)
        if found is not None:
            return found
        if not self.pull_missing:
            raise ImageNotFoundError(
                f"image {reference!r} is not in the local image store of the Docker engine "
                f"at {self.address.where()}, and pulling is off "
                "(configure a registry and set pull_missing=True to pull it)"
            )
        pulled: str = await self._call(_pull, reference)
        return pulled

    async def run_container(self, spec: ContainerSpec) -> ContainerInfo:
        await self.ensure_image(spec.image)
        info: ContainerInfo = await self._call(_run, spec)
        return info

    async def start_container(self, name: str) -> ContainerInfo:
        info: ContainerInfo = await self._call(_start, name)
        return info

    async def inspect_container(self, name: str) -> ContainerInfo | None:
        info: ContainerInfo | None = await self._call(_inspect, name)
        return info

    async def stop_container(self, name: str, *, timeout_s: float = 10.0) -> None:
        await self._call(_stop, name, timeout_s)

    async def remove_container(self, name: str) -> None:
        await self._call(_remove, name)

    async def list_containers(self, labels: Mapping[str, str]) -> list[ContainerInfo]:
        summaries: list[str] = await self._call(_list_ids, dict(labels))
        # Each container is looked at in a request of its own, all at once: through a forwarded
        # socket a request is a round trip over SSH, and one after another they added up.
        # Bounded below the SDK's pool of connections per engine (10), which would otherwise
        # open and discard extra connections with a warning.
        limit = anyio.Semaphore(_CONCURRENT_REQUESTS)

        async def inspect(container_id: str) -> ContainerInfo | None:
            async with limit:
                info: ContainerInfo | None = await self._call(_inspect, container_id)
                return info

        found = await on_all(summaries, inspect)
        return sorted((info for info in found if info is not None), key=lambda info: info.name)

    async def wait_healthy(self, name: str, *, timeout_s: float) -> ContainerInfo:
        deadline = anyio.current_time() + timeout_s
        while True:
            attrs: dict[str, Any] | None = await self._call(_attrs, name)
            if attrs is None:
                raise ContainerError(f"container {name} vanished while waiting for it to become healthy")
            info = _info(attrs)
            if info.serving:
                return info
            if info.state in ("exited", "dead"):
                problem = f"container {name} exited with status {info.exit_code} before becoming healthy"
            elif info.health == "unhealthy":
                problem = f"container {name} is unhealthy: {info.health_output or 'no check has finished yet'}"
            elif anyio.current_time() >= deadline:
                problem = (
                    f"container {name} did not become healthy within {timeout_s:g} s "
                    f"(health: {info.health or info.state}; last check: {info.health_output or 'no check has finished yet'})"
                )
            else:
                await anyio.sleep(_POLL_S)
                continue
            logs: str = await self._call(_logs_tail, name, attrs)
            raise ContainerError(problem + (f"; its last output: {logs}" if logs else "; it printed nothing"))


# -- blocking helpers, run in worker threads --------------------------------


def _image_id(client: Any, reference: str) -> str | None:
    import docker

    try:
        image = client.images.get(reference)
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as exc:
        raise ContainerError(f"cannot look up image {reference!r}: {_explain(exc)}") from exc
    return str(image.id)


def _pull(client: Any, reference: str) -> str:
    import docker

    try:
        return str(client.images.pull(reference).id)
    except docker.errors.APIError as exc:
        raise ImageNotFoundError(f"cannot pull image {reference!r}: {_explain(exc)}") from exc


def create_arguments(spec: ContainerSpec) -> dict[str, Any]:
    """The SDK's ``containers.create`` keyword arguments for ``spec``."""
    from docker.types import Mount as SdkMount

    arguments: dict[str, Any] = {
        "image": spec.image,
        "name": spec.name,
        "command": list(spec.command) or None,
        "environment": {key: _plain(value) for key, value in spec.env.items()},
        "labels": dict(spec.labels),
        "detach": True,
        "init": spec.init or None,
        "mounts": [
            SdkMount(target=mount.target, source=mount.source, type="bind", read_only=mount.read_only)
            for mount in spec.mounts
        ],
    }
    if spec.network in ("host", "none"):
        arguments["network_mode"] = spec.network
    elif spec.network is not None:
        arguments["network"] = spec.network
    if spec.ports:
        arguments["ports"] = {
            f"{port.container}/{port.protocol}": (port.host_ip, port.host) for port in spec.ports
        }
    secret_names = sorted(key for key, value in spec.env.items() if isinstance(value, Secret))
    if secret_names:
        arguments["labels"][SECRET_ENV_LABEL] = ",".join(secret_names)
    if spec.restart_policy != "no":
        arguments["restart_policy"] = {"Name": spec.restart_policy}
    if spec.health is not None:
        health = spec.health
        test = ["CMD-SHELL", health.command] if isinstance(health.command, str) else ["CMD", *health.command]
        arguments["healthcheck"] = {
            "test": test,
            "interval": _nanoseconds(health.interval_s),
            "timeout": _nanoseconds(health.timeout_s),
            "retries": health.retries,
            "start_period": _nanoseconds(health.start_period_s),
        }
    return arguments


def _run(client: Any, spec: ContainerSpec) -> ContainerInfo:
    import docker

    try:
        container = client.containers.create(**create_arguments(spec))
    except docker.errors.APIError as exc:
        raise ContainerError(f"the engine refused container {spec.name}: {_explain(exc)}") from exc
    try:
        container.start()
    except docker.errors.APIError as exc:
        # A container that cannot start is removed, so a re-run starts clean.
        _remove(client, spec.name)
        raise ContainerError(f"container {spec.name} could not start: {_explain(exc)}") from exc
    container.reload()
    return _info(container.attrs)


def _start(client: Any, name: str) -> ContainerInfo:
    import docker

    try:
        container = client.containers.get(name)
        container.start()
        container.reload()
    except docker.errors.NotFound as exc:
        raise ContainerError(f"container {name} does not exist") from exc
    except docker.errors.APIError as exc:
        raise ContainerError(f"container {name} could not start: {_explain(exc)}") from exc
    return _info(container.attrs)


def _attrs(client: Any, name: str) -> dict[str, Any] | None:
    import docker

    try:
        attrs: dict[str, Any] = client.api.inspect_container(name)
    except docker.errors.NotFound:
        return None
    return attrs


def _inspect(client: Any, name: str) -> ContainerInfo | None:
    attrs = _attrs(client, name)
    return None if attrs is None else _observed(client, attrs)


def _observed(client: Any, attrs: Mapping[str, Any]) -> ContainerInfo:
    """The container, with its last output when it is not serving (logs are read for those only)."""
    info = _info(attrs)
    if info.serving:
        return info
    return replace(info, last_output=_logs_tail(client, info.id or info.name, attrs, lines=1))


def _stop(client: Any, name: str, timeout_s: float) -> None:
    import docker

    try:
        client.api.stop(name, timeout=max(0, math.ceil(timeout_s)))
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as exc:
        raise ContainerError(f"cannot stop container {name}: {_explain(exc)}") from exc


def _remove(client: Any, name: str) -> None:
    import docker

    try:
        client.api.remove_container(name, force=True)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError as exc:
        if exc.status_code == 409 and "already in progress" in _explain(exc):
            return
        raise ContainerError(f"cannot remove container {name}: {_explain(exc)}") from exc


def _list_ids(client: Any, labels: dict[str, str]) -> list[str]:
    """The ids of the containers carrying all of ``labels``, running or not.

    Each is then inspected by :func:`_inspect`, which returns ``None`` for one
    removed between the listing and the look.
    """
    filters = {"label": [f"{key}={value}" for key, value in labels.items()]}
    summaries: list[dict[str, Any]] = client.api.containers(all=True, filters=filters)
    return [str(summary["Id"]) for summary in summaries]


def _logs_tail(client: Any, name: str, attrs: Mapping[str, Any], lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines the container printed, bounded, secrets masked, as one `` | ``-separated line."""
    try:
        raw: bytes = client.api.logs(name, stdout=True, stderr=True, tail=lines * 4)
    except Exception:  # logs are a courtesy in an error message or a plan, never a new failure
        return ""
    cut = len(raw) > _LOG_TAIL_BYTES
    text = raw[-_LOG_TAIL_BYTES:].decode("utf-8", "replace")
    return " | ".join(last_lines(text, _secret_values(attrs), lines=lines, cut=cut))


def _secret_values(attrs: Mapping[str, Any]) -> list[Secret]:
    """The values of the container's secret variables, read from its configuration (see SECRET_ENV_LABEL)."""
    config = attrs.get("Config") or {}
    names = set(str((config.get("Labels") or {}).get(SECRET_ENV_LABEL, "")).split(",")) - {""}
    values: list[Secret] = []
    for item in config.get("Env") or []:
        key, _, value = str(item).partition("=")
        if key in names:
            values.append(Secret(value))
    return values


def _info(attrs: Mapping[str, Any]) -> ContainerInfo:
    state = attrs.get("State") or {}
    health = state.get("Health") or {}
    config = attrs.get("Config") or {}
    return ContainerInfo(
        name=str(attrs.get("Name", "")).lstrip("/"),
        id=str(attrs.get("Id", "")),
        image=str(config.get("Image", "")),
        image_id=str(attrs.get("Image", "")),
        state=str(state.get("Status", "unknown")),
        health=health.get("Status"),
        labels=dict(config.get("Labels") or {}),
        exit_code=state.get("ExitCode") if state.get("Status") in ("exited", "dead") else None,
        health_output=_last_health_output(attrs),
    )


def _last_health_output(attrs: Mapping[str, Any]) -> str:
    """The engine's last health check as ``exit N: output`` (empty before the first), one line, secrets masked."""
    log = ((attrs.get("State") or {}).get("Health") or {}).get("Log") or []
    if not log:
        return ""
    last = log[-1]
    output = " ".join(last_lines(str(last.get("Output", "")), _secret_values(attrs), lines=3))
    return f"exit {last.get('ExitCode')}" + (f": {output}" if output else "")


def _explain(exc: Any) -> str:
    return str(getattr(exc, "explanation", None) or exc)


def _plain(value: object) -> str:
    return value.reveal() if isinstance(value, Secret) else str(value)


def _nanoseconds(seconds: float) -> int:
    return int(seconds * 1_000_000_000)
