"""An application's contract: what it needs, provided by whichever topology it is applied to.

``ApplicationScore`` declares, in one versioned contract, the program (image,
command, replicas, port, health path) and the resources it requires (a
PostgreSQL database, secrets). It is a composite of three parts, applied in order:

- ``<app>.contract``: the platform honours the contract's version (or the
  whole application is refused there, before anything changes);
- ``<app>.db``: a :class:`PostgreSQLScore`, whose output is the database's
  endpoint (``Ref[PgEndpoint]``);
- ``<app>.web``: an :class:`ApplicationServiceScore` taking
  ``DATABASE_URL`` from that endpoint by reference, so the Maestro starts it
  only once the database exists, with the URL (a :class:`Secret`) in its
  environment. Its own output is the URL where the application answers.

The topology says how: supervised processes on localhost, containers behind
a balancer on a Docker host, a Deployment on Kubernetes. A topology that does
not honour the contract's version refuses it before anything changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Annotated, ClassVar

from capabilities.application import (
    CONTRACT_VERSION,
    ApplicationPlatform,
    ApplicationRuntime,
    AppSpec,
    check_contract,
    database_authority,
    database_url,
)
from capabilities.postgresql import PgUser
from harmony_py.errors import ScoreValueError
from harmony_py.outcome import Outcome
from harmony_py.outputs import (
    EnvValue,
    Produces,
    Ref,
    ProducingInterpret,
    env_with_placeholders,
    resolved_env,
)
from harmony_py.score import CompositeScore, Interpret, Score
from harmony_py.validation import InstanceOf, Matches, Values, validate
from harmony_py.values import Change, Secret

from .postgresql import PostgreSQLScore

DATABASE_URL = "DATABASE_URL"
_APP_NAME = Matches(r"[a-z][a-z0-9_]{0,30}", "lower-case letters, digits and '_', starting with a letter")


@dataclass(frozen=True)
class PostgreSQLDatabase:
    """The PostgreSQL database an application requires; it reaches it through ``DATABASE_URL``."""

    version: int = 15
    port: int = 5432


@dataclass(frozen=True)
class ApplicationServiceScore(Score[ApplicationRuntime], Produces[str]):
    """The running program of an application; its output is the URL where it answers.

    ``app`` is the name the platform runs it under (a DNS label such as
    ``shop-web``). ``env`` values may be references to other scores' outputs.

    Example::

        ApplicationServiceScore("shop-web", "registry.example.org/shop:1.4", replicas=2, env={"LOG_LEVEL": "info"})
    """

    app: str
    image: str
    command: tuple[str, ...] = ()
    replicas: int = 1
    port: int = 8000
    health_path: str = "/health"
    env: Mapping[str, EnvValue] = field(default_factory=dict)
    source: str | None = None
    contract: int = CONTRACT_VERSION
    authorities: Mapping[str, str | Ref[str]] = field(default_factory=dict)
    """The CA certificate (PEM) each database URL in ``env`` verifies its server with ("" for none):
    the platform places it beside the program and points the URL at it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        object.__setattr__(self, "authorities", MappingProxyType(dict(self.authorities)))
        self.spec()  # every value checked now; references stand in for their values

    def __hash__(self) -> int:
        # The generated hash would cover the env mapping, which is unhashable; these fields suffice.
        return hash((self.app, self.image, self.port))

    @property
    def name(self) -> str:
        return f"ApplicationServiceScore({self.app})"

    def spec(self) -> AppSpec:
        """The contract as the platform gets it (a reference reads as a placeholder until resolved)."""
        return self._spec(env_with_placeholders(self.env))

    def interpret(self) -> ApplicationServiceInterpret:
        return ApplicationServiceInterpret(self._spec(resolved_env(self.env)))

    def with_unknown_inputs(self) -> ApplicationServiceScore:
        # Planned with a masked placeholder per unknown variable: the plan says the service will start or change.
        return replace(self, env=env_with_placeholders(self.env), authorities=self._known_authorities())

    def _known_authorities(self) -> dict[str, str]:
        # An authority not known yet is left out: the plan cannot name a file whose content it does not know.
        return {key: value for key, value in self.authorities.items() if not isinstance(value, Ref)}

    def _spec(self, env: Mapping[str, str | Secret]) -> AppSpec:
        return AppSpec(
            self.app, self.image, tuple(self.command), self.replicas, self.port, self.health_path, env, self.source,
            self.contract, self._known_authorities(),
        )  # fmt: skip


class ApplicationServiceInterpret(ProducingInterpret[ApplicationRuntime, str]):
    def __init__(self, spec: AppSpec) -> None:
        self.spec = spec

    async def plan(self, topology: ApplicationRuntime) -> Sequence[Change]:
        return await topology.application_runtime().plan(self.spec)

    async def apply(self, topology: ApplicationRuntime) -> Outcome:
        runtime = topology.application_runtime()
        changes = await runtime.deploy(self.spec)
        if not changes:
            return Outcome.noop()
        url = await runtime.url(self.spec)
        return Outcome.changed(changes, f"{self.spec.name} answers on {url}")

    async def output(self, topology: ApplicationRuntime) -> str | None:
        return await topology.application_runtime().url(self.spec)


@dataclass(frozen=True)
class ApplicationContractScore(Score[ApplicationRuntime]):
    """The platform honours version ``contract`` of the application contract; changes nothing.

    The first part of an :class:`ApplicationScore`: a platform that cannot
    honour the version fails it, in the plan and before anything is applied,
    and the application's other parts are skipped.

    Example::

        ApplicationContractScore("shop", contract=1)
    """

    app: str
    contract: int = CONTRACT_VERSION

    @property
    def name(self) -> str:
        return f"ApplicationContractScore({self.app} v{self.contract})"

    def interpret(self) -> ApplicationContractInterpret:
        return ApplicationContractInterpret(self.app, self.contract)


class ApplicationContractInterpret(Interpret[ApplicationRuntime]):
    def __init__(self, app: str, contract: int) -> None:
        self.app, self.contract = app, contract

    def _check(self, topology: ApplicationRuntime) -> None:
        platform = getattr(topology, "name", None)
        check_contract(platform if isinstance(platform, str) else type(topology).__name__, topology.application_runtime().contracts(), self.app, self.contract)

    async def plan(self, topology: ApplicationRuntime) -> Sequence[Change]:
        self._check(topology)
        return []

    async def apply(self, topology: ApplicationRuntime) -> Outcome:
        self._check(topology)
        return Outcome.noop(f"application contract version {self.contract} is honoured")


@dataclass(frozen=True)
class ApplicationScore(CompositeScore[ApplicationPlatform]):
    """An application and what it requires, in one versioned contract.

    ``app`` names it (lower-case letters, digits and ``_``). ``secrets``
    reach the program as environment variables, like ``DATABASE_URL``, and
    are never shown. ``source`` is the directory ``command`` runs in where the
    platform runs processes instead of images (localhost, for debugging).
    ``contract`` is the version of this contract the file was written for.

    The parts: ``<app>.contract``, ``<app>.db`` (when ``database`` is given)
    and ``<app>.web``. They apply in order: ``<app>.contract`` first (a platform that cannot
    honour the version refuses there, before anything changes), then the
    database, then the service once the database's endpoint is known.

    Example::

        ApplicationScore("shop", "registry.example.org/shop:1.4", replicas=2,
                         database=PostgreSQLDatabase(version=16), secrets={"API_KEY": Secret("k3y")})
    """

    in_order: ClassVar[bool] = True

    app: Annotated[str, _APP_NAME]
    image: str
    command: tuple[str, ...] = ()
    replicas: int = 1
    port: int = 8000
    health_path: str = "/health"
    database: PostgreSQLDatabase | None = field(default_factory=PostgreSQLDatabase)
    secrets: Annotated[Mapping[str, Secret], Values(InstanceOf(Secret))] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None
    contract: int = CONTRACT_VERSION

    def __post_init__(self) -> None:
        validate(self)
        both = set(self.secrets) & set(self.env)
        if both or (self.database is not None and DATABASE_URL in {*self.secrets, *self.env}):
            taken = sorted(both) or [DATABASE_URL]
            raise ScoreValueError(f"ApplicationScore {self.app}: {', '.join(taken)} set twice (the database sets {DATABASE_URL})")
        object.__setattr__(self, "secrets", MappingProxyType(dict(self.secrets)))
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        self.parts()  # every part checks its values now

    def __hash__(self) -> int:
        # The generated hash would cover the env mapping, which is unhashable; these fields suffice.
        return hash((self.app, self.image, self.port))

    @property
    def name(self) -> str:
        return self.app

    def database_score(self) -> PostgreSQLScore | None:
        """The database part: a cluster named for the app, whose owner is the app's user."""
        if self.database is None:
            return None
        return PostgreSQLScore(
            self.app,
            port=self.database.port,
            version=self.database.version,
            databases=[self.app],
            users=[PgUser(self.app, databases=(self.app,))],
        ).named("db")

    def service_score(self) -> ApplicationServiceScore:
        env: dict[str, EnvValue] = {**self.env, **self.secrets}
        database = self.database_score()
        authorities: dict[str, str | Ref[str]] = {}
        if database is not None:
            env[DATABASE_URL] = database.output().map(database_url)
            # Over TLS the program verifies the server with the cluster's CA, placed beside it by the platform.
            authorities[DATABASE_URL] = database.output().map(database_authority)
        return ApplicationServiceScore(
            app=f"{self.app.replace('_', '-')}-web",
            image=self.image,
            command=tuple(self.command),
            replicas=self.replicas,
            port=self.port,
            health_path=self.health_path,
            env=env,
            source=self.source,
            contract=self.contract,
            authorities=authorities,
        ).named("web")

    def parts(self) -> Sequence[Score[ApplicationPlatform]]:
        contract = ApplicationContractScore(self.app, self.contract).named("contract")
        database = self.database_score()
        return [contract, *([database] if database is not None else []), self.service_score()]
