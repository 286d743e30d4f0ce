"""The Docker platform as one ``compose.yaml``: services, replicas, health checks, start order.

An application's service is the container a Docker host runs for each of its
replicas (built by :func:`harmony_py.scores.application_containers.replicated_service`,
as apply builds it): same image, command, environment and health check, with
``deploy.replicas``. Compose has no balancer of ours: the replicas share the
service's name on the project network and, with one replica, its port is
published as apply publishes it; with more, Docker picks the host ports.
A PostgreSQL score is a ``postgres:<version>`` service (the official image's
``POSTGRES_USER``/``POSTGRES_DB``), checked with ``pg_isready``. A service
starts once the services it waits for are healthy (``depends_on`` with
``condition: service_healthy``), the order apply follows.

No secret value is written: each secret variable is ``${VARIABLE}``, a
reference compose resolves from the environment or an ``.env`` file at
``up`` (``compose.env.example`` lists them), and refuses to start without.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from capabilities.application import CONTRACT_VERSION, check_contract
from capabilities.docker import ContainerSpec, HealthCheck
from harmony_py.capability_check import capability_name
from harmony_py.errors import CannotRenderError
from harmony_py.graph import Graph
from harmony_py.score import Score
from harmony_py.scores.application import (
    DATABASE_URL,
    ApplicationContractScore,
    ApplicationServiceScore,
)
from harmony_py.scores.application_containers import replicated_service
from harmony_py.scores.container import SPEC_LABEL, ContainerScore
from harmony_py.scores.postgresql import PostgreSQLScore
from harmony_py.scores.replicated_service import PORT_LABEL, ReplicatedServiceScore
from harmony_py.values import Secret

from .rendering import (
    NotRendered,
    Rendering,
    ScoreNode,
    apply_order,
    rendered_dependencies,
)
from .yaml_text import yaml_document

COMPOSE_FILE = "compose.yaml"
ENV_EXAMPLE = "compose.env.example"
CONTRACTS = range(1, CONTRACT_VERSION + 1)
PLATFORM = "compose files"
POSTGRES_DATA = "/var/lib/postgresql/data"
_NOT_A_VARIABLE = re.compile(r"[^A-Z0-9]+")
_LEFT_OUT_LABELS = (SPEC_LABEL, PORT_LABEL)
"""Labels apply uses to compare a running replica with its spec: meaningless in a file."""


@dataclass
class _Service:
    """One compose service and the secret variables it refers to."""

    body: dict[str, Any]
    variables: dict[str, str] = field(default_factory=dict)
    """Variable -> what it holds, for the env example."""
    volume: str | None = None


def render_compose(graph: Graph[Score[Any]]) -> Rendering:
    """``compose.yaml`` for the scores that have a compose form (and the example of its variables)."""
    services: dict[str, _Service] = {}
    rendered: dict[str, str] = {}
    left_out: list[NotRendered] = []
    for node in apply_order(graph):
        try:
            made = service_of(node.score, _database_urls(node, graph))
        except CannotRenderError as exc:
            left_out.append(NotRendered(node.identity, node.score.name, str(exc)))
            continue
        if made is None:
            continue
        name, service = made
        if name in services:
            taken = next(identity for identity, other in rendered.items() if other == name)
            left_out.append(NotRendered(node.identity, node.score.name, f"its compose service {name} is {taken}'s already"))
            continue
        waits = rendered_dependencies(node, graph, rendered)
        if waits:
            service.body["depends_on"] = {
                other: {"condition": "service_healthy" if "healthcheck" in services[other].body else "service_started"}
                for other in waits
            }
        services[name] = service
        rendered[node.identity] = name
    if not services:
        return Rendering({}, tuple(left_out))
    document: dict[str, Any] = {"services": {name: service.body for name, service in services.items()}}
    volumes = sorted(service.volume for service in services.values() if service.volume)
    if volumes:
        document["volumes"] = {volume: {} for volume in volumes}
    comments = ["Rendered by harmony_py: the Docker platform of the score file, for docker compose."]
    files = {COMPOSE_FILE: yaml_document(document, comments)}
    variables = {name: what for service in services.values() for name, what in service.variables.items()}
    if variables:
        files[ENV_EXAMPLE] = _env_example(variables)
    return Rendering(files, tuple(left_out))


def service_of(score: Score[Any], hints: Mapping[str, str] | None = None) -> tuple[str, _Service] | None:
    """The compose service of ``score`` (``None``: nothing to run, a check); ``hints`` say what a
    secret variable holds, by name, in the env example."""
    if isinstance(score, ApplicationContractScore):
        try:
            check_contract(PLATFORM, CONTRACTS, score.app, score.contract)
        except Exception as exc:
            raise CannotRenderError(str(exc)) from exc
        return None
    if isinstance(score, ApplicationServiceScore):
        spec = score.spec()
        # The container apply runs for each replica, on the port the application serves.
        container = replicated_service(spec, backend_ports=_beside(spec.port)).replica_spec(spec.port)
        service = _container_service(container, spec.name, publish=spec.port if spec.replicas == 1 else None, hints=hints)
        # Reached over the project network, not the host's loopback (as on Kubernetes).
        service.body["environment"].setdefault("HOST", "0.0.0.0")
        service.body["deploy"] = {"replicas": spec.replicas}
        return spec.name, service
    if isinstance(score, ContainerScore):
        service = _container_service(score.spec, score.spec.name, publish=None)
        if score.spec.network is not None:
            service.body["network_mode"] = score.spec.network
        if score.spec.restart_policy != "no":
            service.body["restart"] = score.spec.restart_policy
        return score.spec.name, service
    if isinstance(score, ReplicatedServiceScore):
        raise CannotRenderError(
            "its replicas listen on the host's loopback behind the host's balancer, which compose does not run "
            "(an ApplicationScore renders as a compose service)"
        )
    if isinstance(score, PostgreSQLScore):
        return _postgres_service(score)
    raise CannotRenderError(
        f"{type(score).__name__} needs {capability_name(score.required_capability())}, "
        "which no compose service describes"
    )


def _container_service(spec: ContainerSpec, name: str, publish: int | None, hints: Mapping[str, str] | None = None) -> _Service:
    service = _Service({"image": _escaped(spec.image)})
    if spec.command:
        service.body["command"] = [_escaped(argument) for argument in spec.command]
    service.body["environment"] = {
        key: _value(service, name, key, value, (hints or {}).get(key)) for key, value in sorted(spec.env.items())
    }
    if spec.health is not None:
        service.body["healthcheck"] = _healthcheck(spec.health)
    if spec.init:
        service.body["init"] = True
    labels = {key: _escaped(value) for key, value in spec.labels.items() if key not in _LEFT_OUT_LABELS}
    if labels:
        service.body["labels"] = labels
    ports = [f"{port.host_ip}:{port.host}:{port.container}/{port.protocol}" for port in spec.ports]
    if publish is not None:
        ports.append(f"{publish}:{publish}")
    if ports:
        service.body["ports"] = ports
    if spec.mounts:
        service.body["volumes"] = [
            f"{_escaped(mount.source)}:{_escaped(mount.target)}{':ro' if mount.read_only else ''}" for mount in spec.mounts
        ]
    return service


def _postgres_service(score: PostgreSQLScore) -> tuple[str, _Service]:
    config = score.config
    users, databases = config.users, config.databases
    if len(users) > 1 or len(databases) > 1:
        raise CannotRenderError(
            "the postgres image creates one user and one database (POSTGRES_USER, POSTGRES_DB); "
            f"this cluster declares {len(users)} users and {len(databases)} databases"
        )
    name = _postgres_service_name(config.name)
    user = users[0].name if users else "postgres"
    service = _Service({"image": f"postgres:{config.version}"})
    environment = {"PGPORT": str(config.port), "POSTGRES_USER": user}
    if databases:
        environment["POSTGRES_DB"] = databases[0]
    environment["POSTGRES_PASSWORD"] = _reference(service, name, "PASSWORD", f"the password of PostgreSQL user {user}")
    service.body["environment"] = environment
    settings = [f"-c{key}={value}" for key, value in sorted(config.settings.items())]
    if settings:
        service.body["command"] = ["postgres", *(_escaped(setting) for setting in settings)]
    service.body["healthcheck"] = _healthcheck(
        HealthCheck(("pg_isready", "-h", "127.0.0.1", "-U", user, "-p", str(config.port)), interval_s=5.0, timeout_s=5.0)
    )
    service.volume = f"{name}-data"
    service.body["volumes"] = [f"{service.volume}:{POSTGRES_DATA}"]
    return name, service


def _beside(port: int) -> range:
    """A backend range without ``port``: compose runs each replica on the application's own port, so
    the balancer's backend ports (which must not hold it) play no part."""
    return range(port + 1, port + 2) if port < 65535 else range(port - 1, port)


def _healthcheck(health: HealthCheck) -> dict[str, Any]:
    command = health.command
    test = ["CMD-SHELL", _escaped(command)] if isinstance(command, str) else ["CMD", *(_escaped(part) for part in command)]
    check: dict[str, Any] = {
        "test": test,
        "interval": _duration(health.interval_s),
        "timeout": _duration(health.timeout_s),
        "retries": health.retries,
    }
    if health.start_period_s:
        check["start_period"] = _duration(health.start_period_s)
    return check


def _duration(seconds: float) -> str:
    """Compose's duration (``500ms``, ``5s``): whole milliseconds, the unit the engine rounds to."""
    milliseconds = round(seconds * 1000)
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


def _value(service: _Service, name: str, key: str, value: str | Secret, hint: str | None) -> str:
    if isinstance(value, Secret):
        return _reference(service, name, key, f"{key} of {name}: {hint}" if hint else f"{key} of {name}")
    return _escaped(value)


def _database_urls(node: ScoreNode, graph: Graph[Score[Any]]) -> dict[str, str]:
    """What ``DATABASE_URL`` holds here when it is taken from a PostgreSQL score's endpoint (the URI of
    that database's service in this file), for the env example."""
    hints: dict[str, str] = {}
    for path, ref in node.inputs:
        producer = graph.by_identity.get(node.producers.get(ref.source, ""))
        variable = path.removeprefix("env[").removesuffix("]")
        if variable != DATABASE_URL or producer is None or not isinstance(producer.score, PostgreSQLScore):
            continue
        config = producer.score.config
        if len(config.users) > 1 or len(config.databases) > 1:
            continue  # no compose form (listed by its own score)
        database = config.databases[0] if config.databases else "postgres"
        user = config.owner_of(database)
        service = _postgres_service_name(config.name)
        password = _variable(service, "PASSWORD")
        hints[variable] = f"postgresql://{user}:<{password}, percent-encoded>@{service}:{config.port}/{database}"
    return hints


def _postgres_service_name(cluster: str) -> str:
    return f"{cluster.replace('_', '-')}-db"


def _variable(name: str, key: str) -> str:
    """The variable holding secret ``key`` of service ``name`` (``SHOP_WEB_SHOP_API_KEY``)."""
    return _NOT_A_VARIABLE.sub("_", f"{name}_{key}".upper()).strip("_")


def _reference(service: _Service, name: str, key: str, what: str) -> str:
    """``${NAME_KEY:?...}``: compose takes the value from the environment at ``up``, and refuses without it."""
    variable = _variable(name, key)
    service.variables[variable] = what
    return f"${{{variable}:?set {variable} (see {ENV_EXAMPLE})}}"


def _escaped(text: str) -> str:
    """``text`` as compose reads it literally (``$`` would start a variable)."""
    return text.replace("$", "$$")


def _env_example(variables: Mapping[str, str]) -> bytes:
    lines = [
        "# Rendered by harmony_py: the secret values compose.yaml refers to, which it never writes.",
        "# Copy to .env beside compose.yaml (or export them) and fill in each one.",
    ]
    for variable, what in sorted(variables.items()):
        lines += [f"# {what}", f"{variable}="]
    return ("\n".join(lines) + "\n").encode()
