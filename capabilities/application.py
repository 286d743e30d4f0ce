"""Applications: a platform that runs a service from its contract, and the database it needs.

An application platform runs ``replicas`` copies of a program listening on a
port, with its configuration injected as environment variables (secrets among
them), checks them by an HTTP health path, and says where the service answers.
How it does that is the platform's business: supervised processes on a
developer's machine, containers behind a load balancer on a Docker host, a
Deployment and a Service on Kubernetes.

:class:`ApplicationPlatform` is that *and* :class:`PostgreSQL`: the platform an
``ApplicationScore`` needs, so mypy rejects a topology lacking either half.

The contract is versioned (:data:`CONTRACT_VERSION`): a platform says which
versions it honours, and one that cannot honour a contract refuses it before
anything is changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Protocol, runtime_checkable
from urllib.parse import quote

from harmony_py.validation import (
    Count,
    ImageReference,
    InstanceOf,
    Keys,
    Matches,
    Port,
    StartsWith,
    Strings,
    Values,
    validate,
)
from harmony_py.values import Change, Secret

from .errors import ContractVersionError
from .postgresql import PgEndpoint, PostgreSQL

CONTRACT_VERSION = 1
"""The newest application contract: image, command, replicas, port, health path, environment."""

APP_NAME = Matches(r"[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?", "lower-case letters, digits and '-' (a DNS label)")
"""What an application is called on a platform (``shop-web``): it names containers, Kubernetes objects and directories."""
ENV_NAME = Matches(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name (letters, digits and '_', not starting with a digit)")


@dataclass(frozen=True)
class AppSpec:
    """One application as a platform runs it: the contract with its inputs resolved.

    ``name`` is DNS-label safe (``shop-web``): it names the containers, the
    Kubernetes objects and the local service directory. ``env`` values may be
    :class:`Secret`; a platform passes them to the program and nowhere else.
    ``source`` is the directory ``command`` runs in when the platform runs
    processes rather than ``image`` (``None``: the platform needs the image).
    """

    name: Annotated[str, APP_NAME]
    image: Annotated[str, ImageReference()]
    command: Annotated[tuple[str, ...], Strings(non_empty=True)]
    replicas: Annotated[int, Count()]
    port: Annotated[int, Port()]
    health_path: Annotated[str, StartsWith("/")]
    env: Annotated[Mapping[str, str | Secret], Keys(ENV_NAME), Values(InstanceOf(str, Secret))] = field(
        default_factory=dict
    )
    source: str | None = None
    contract: Annotated[int, Count()] = CONTRACT_VERSION
    """The version of the contract the application was written for."""
    authorities: Annotated[Mapping[str, str], Keys(ENV_NAME), Values(InstanceOf(str))] = field(default_factory=dict)
    """CA certificates (PEM, public) by the variable whose database URL verifies the server with it:
    the platform places each beside the application (:func:`authorities_beside`); "" means none."""

    def __post_init__(self) -> None:
        validate(self, prefix=f"application {self.name}:" if isinstance(self.name, str) else None)

    def secret_names(self) -> tuple[str, ...]:
        """The variables whose values are secrets (their names may be shown; their values never)."""
        return tuple(sorted(key for key, value in self.env.items() if isinstance(value, Secret)))


def database_url(endpoint: PgEndpoint) -> Secret:
    """The libpq URI of ``endpoint`` (``postgresql://user:password@host:port/database``), kept secret.

    A replicated cluster's endpoint lists every member (``host1:port1,host2:port2``) with
    ``target_session_attrs=read-write``, so the client reaches whichever member is the primary.
    Over TLS it asks for ``sslmode=verify-full`` with ``sslrootcert`` at the endpoint's path (on the
    database's host); a platform that places the CA beside the application points it at that copy
    (:func:`authorities_beside`)."""
    password = quote(endpoint.password.reveal(), safe="")
    # An IPv6 address (a server listening on ::1) is bracketed, or its colons would read as the port's.
    hosts = ",".join(f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in endpoint.addresses)
    query: list[str] = []
    if endpoint.members:
        # Several members: libpq tries each in turn and keeps the one that takes writes (the current primary).
        query.append("target_session_attrs=read-write")
    if endpoint.sslmode == "verify-full" and endpoint.sslrootcert is not None:
        # The client checks the server's certificate against the cluster's own authority.
        query.append(f"sslmode=verify-full&sslrootcert={quote(endpoint.sslrootcert, safe='/')}")
    url = f"postgresql://{quote(endpoint.user, safe='')}:{password}@{hosts}/{quote(endpoint.database, safe='')}"
    return Secret(url + ("?" + "&".join(query) if query else ""))


def database_authority(endpoint: PgEndpoint) -> str:
    """The CA certificate (PEM, public) a client of ``endpoint`` verifies the server with; "" without TLS."""
    return endpoint.ca_certificate or "" if endpoint.sslmode == "verify-full" else ""


def verified_with(url: Secret, sslrootcert: str) -> Secret:
    """Libpq URI ``url`` asking for ``sslmode=verify-full`` with the CA certificate read from ``sslrootcert``."""
    base, _, query = url.reveal().partition("?")
    kept = [part for part in query.split("&") if part and not part.startswith(("sslmode=", "sslrootcert="))]
    kept.append(f"sslmode=verify-full&sslrootcert={quote(sslrootcert, safe='/')}")
    return Secret(base + "?" + "&".join(kept))


CA_FILE_SUFFIX = ".root.crt"
"""A placed CA certificate is ``<directory>/<VARIABLE>.root.crt`` (``DATABASE_URL.root.crt``)."""


@dataclass(frozen=True)
class PlacedEnvironment:
    """An application's environment whose database URLs read their CA certificate beside the application.

    ``files`` maps each path to the PEM to write there: public, so 0644 and shown in a plan.
    """

    env: dict[str, str | Secret]
    files: dict[str, str]


def authorities_beside(spec: AppSpec, directory: str) -> PlacedEnvironment:
    """``spec``'s environment with each URL that has an authority verifying with a copy in ``directory``.

    What an application platform does for an application that may run on another machine than its
    database: the endpoint's ``sslrootcert`` is a path on the database's host, so the platform writes
    the CA certificate next to the application (``<directory>/DATABASE_URL.root.crt``) and gives the
    program a URL naming that copy.
    """
    env = dict(spec.env)
    files: dict[str, str] = {}
    for key, authority in sorted(spec.authorities.items()):
        url = env.get(key)
        if not authority or not isinstance(url, Secret):
            continue
        path = f"{directory.rstrip('/')}/{key}{CA_FILE_SUFFIX}"
        files[path] = authority
        env[key] = verified_with(url, path)
    return PlacedEnvironment(env, files)


def check_contract(platform: str, supported: range, application: str, version: int) -> None:
    """Refuse contract ``version`` of ``application`` with one clear error when ``platform`` does not honour it."""
    if version not in supported:
        honoured = f"{supported.start}" if len(supported) == 1 else f"{supported.start} to {supported.stop - 1}"
        raise ContractVersionError(
            f"application {application}: {platform} cannot honour application contract version {version} "
            f"(it honours version {honoured}); write the application for a version it honours, or use a newer harmony_py"
        )


@runtime_checkable
class ApplicationRuntimeService(Protocol):
    """How a platform runs applications, as :meth:`ApplicationRuntime.application_runtime` hands it out.

    An implementation promises that :meth:`deploy` converges idempotently (a
    second call with the same spec changes nothing and restarts nothing), that
    it returns only once ``replicas`` copies answer ``health_path``, that
    :meth:`plan` observes without changing anything, that a spec whose
    contract version is outside :meth:`contracts` is refused with
    :class:`ContractVersionError` before anything changes, and that secret
    values reach the program only: never a :class:`Change`, a label, a log
    line or an error message.
    """

    def contracts(self) -> range:
        """The contract versions this platform honours."""
        ...

    async def plan(self, spec: AppSpec) -> list[Change]:
        """The changes :meth:`deploy` would make, observed from what runs."""
        ...

    async def deploy(self, spec: AppSpec) -> list[Change]:
        """Converge the application to ``spec``; return the changes made (empty: none)."""
        ...

    async def url(self, spec: AppSpec) -> str | None:
        """Where clients reach the application (``http://host:port``), or ``None`` while it does not run."""
        ...


@runtime_checkable
class ApplicationRuntime(Protocol):
    """A topology that runs applications from their contract: ``topology.application_runtime().deploy(spec)``."""

    def application_runtime(self) -> ApplicationRuntimeService:
        """The platform's runner of applications, built on what the topology holds."""
        ...


@runtime_checkable
class ApplicationPlatform(ApplicationRuntime, PostgreSQL, Protocol):
    """Runs applications and the PostgreSQL databases they need: what ``ApplicationScore`` requires."""
