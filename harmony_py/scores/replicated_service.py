"""Several replicas of a web service behind a load balancer, updated without downtime.

Each replica is a container on the host network listening on its own
backend port, which it is told in the ``PORT`` environment variable (the
convention of Heroku and Cloud Run). Replicas carry labels naming their
service, port and *revision*: a digest of everything that defines a
replica except its port, including the id the image reference resolves to.
The replica count is not part of the revision, so changing only it scales
without touching the running replicas.

A rolling update replaces outdated replicas in batches: start the new ones,
wait until they are healthy, swap them into the balancer (which drains the
old ones), then stop the old ones. Stopped old replicas are kept until the
update has succeeded, so a rollback only has to start them again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Literal, TypeVar, cast

import anyio

from capabilities.docker import (
    ContainerInfo,
    ContainerSpec,
    HealthCheck,
    Mount,
)
from capabilities.errors import ContainerError
from capabilities.load_balancer import (
    Backend,
    BalancedService,
    DockerWithLoadBalancer,
    Frontend,
)
from harmony_py.errors import ScoreValueError, UpdateFailedError, UpdateRolledBackError
from harmony_py.events import report_progress
from harmony_py.outcome import InterpretStatus, Outcome
from harmony_py.outputs import EnvValue, env_with_placeholders, resolved_env
from harmony_py.score import Interpret, Score
from harmony_py.validation import (
    Between,
    Count,
    Duration,
    InstanceOf,
    OneOf,
    PortRange,
    StartsWith,
    validate,
)
from harmony_py.values import Change, ChangeAction

from .container import (
    MANAGED_LABEL,
    MANAGED_VALUE,
    encode_record,
    labelled,
    spec_record,
)

SERVICE_LABEL = "io.harmony.service"
REVISION_LABEL = "io.harmony.revision"
PORT_LABEL = "io.harmony.port"
KIND_LABEL = "io.harmony.kind"
REPLICA = "replica"
PORT_ENV = "PORT"
T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class UpdatePolicy:
    """How replicas are replaced (the fields follow Docker Swarm's update config).

    ``parallelism``: replicas replaced per batch. ``order``: "start-first"
    starts the new replica before the old one is stopped (no capacity lost);
    "stop-first" stops first (no extra capacity needed). ``monitor_s``: how
    long a new replica has to become healthy. ``failure_action``: on too many
    failures, "rollback" puts the previous version back, "pause" stops the
    update where it is, "continue" goes on. ``max_failure_ratio``: the share
    of new replicas allowed to fail before the failure action is taken.
    ``drain_timeout_s``: how long requests in flight to a replica leaving
    the balancer may take to finish.
    """

    parallelism: Annotated[int, Count()] = 1
    order: Annotated[Literal["start-first", "stop-first"], OneOf("start-first", "stop-first")] = "start-first"
    monitor_s: Annotated[float, Duration()] = 30.0
    failure_action: Annotated[
        Literal["rollback", "pause", "continue"], OneOf("rollback", "pause", "continue")
    ] = "rollback"
    max_failure_ratio: Annotated[float, Between(0, 1)] = 0.0
    drain_timeout_s: Annotated[float, Duration()] = 30.0

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class ReplicatedServiceScore(Score[DockerWithLoadBalancer]):
    """``replicas`` containers of ``image`` served together as ``service`` on ``address:port``.

    Each replica listens on ``127.0.0.1:$PORT`` with a port taken from
    ``backend_ports``; its health is ``health_command``, by default an HTTP
    GET of ``health_path`` with the image's ``wget``.

    Example::

        ReplicatedServiceScore("shop", "registry.example.org/shop:1.4", replicas=3, port=8080,
                               health_path="/health", env={"LOG_LEVEL": "info"})
    """

    service: str
    image: str
    replicas: Annotated[int, Count(minimum=0)]
    port: int
    health_path: Annotated[str, StartsWith("/")] = "/health"
    update: Annotated[UpdatePolicy, InstanceOf(UpdatePolicy)] = field(default_factory=UpdatePolicy)
    command: tuple[str, ...] = ()
    env: Mapping[str, EnvValue] = field(default_factory=dict)
    """Values may be references to other scores' outputs (e.g. a database URL): the Maestro resolves them."""
    health_command: str | tuple[str, ...] | None = None
    health_interval_s: float = 1.0
    health_start_period_s: Annotated[float, Duration(minimum_s=0)] = 30.0
    """How long a new replica may take to start: failed checks in that time do not count against it (Docker's
    ``start_period``; a check that passes in it makes the replica healthy at once). Without it a replica slower to
    listen than ``health_interval_s`` times three (the checks' retries) was marked unhealthy and the update rolled
    back."""
    backend_ports: Annotated[range, PortRange()] = range(20000, 21000)
    address: str = "127.0.0.1"
    stop_grace_s: Annotated[float, Duration(minimum_s=0)] = 10.0
    mounts: tuple[Mount, ...] = ()
    """Host paths bind-mounted into every replica (read-only unless a Mount says otherwise)."""

    def __post_init__(self) -> None:
        frontend = self.frontend()  # checks name, address and port
        validate(self)
        if PORT_ENV in self.env:
            raise ScoreValueError(f"ReplicatedServiceScore.env must not set {PORT_ENV}: each replica gets its own")
        if frontend.port in self.backend_ports:
            raise ScoreValueError(f"ReplicatedServiceScore.port {self.port} lies inside backend_ports")
        self.replica_spec(self.backend_ports[0])  # checks image, command, env and health values

    @property
    def name(self) -> str:
        return f"ReplicatedServiceScore({self.service})"

    def frontend(self) -> Frontend:
        return Frontend(self.service, self.port, self.address)

    def replica_spec(self, port: int) -> ContainerSpec:
        """The container of the replica on backend ``port`` (0 in the revision template)."""
        health = self.health_command or (
            "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{port}{self.health_path}"
        )
        return labelled(
            ContainerSpec(
                name=f"{self.service}-{port}",
                image=self.image,
                command=self.command,
                env={**env_with_placeholders(self.env), PORT_ENV: str(port)},
                network="host",
                mounts=tuple(self.mounts),
                init=True,
                health=HealthCheck(
                    health,
                    interval_s=self.health_interval_s,
                    timeout_s=max(2.0, self.health_interval_s),
                    start_period_s=self.health_start_period_s,
                ),
                labels={SERVICE_LABEL: self.service, KIND_LABEL: REPLICA, PORT_LABEL: str(port)},
            )
        )

    def revision(self, image_id: str | None) -> str:
        """What makes two replicas the same version, whatever their ports."""
        # Port 0 stands for "its own port" in the template every replica is made from.
        template = spec_record(self.replica_spec(0))
        digest = hashlib.sha256(f"{encode_record(template)}\0{image_id}".encode()).hexdigest()
        return digest[:16]

    def interpret(self) -> ReplicatedServiceInterpret:
        resolved_env(self.env)  # a Ref left here is an error, never a placeholder
        return ReplicatedServiceInterpret(self)


@dataclass(frozen=True)
class _Observed:
    """The service's replicas as found, sorted into what each is."""

    current: tuple[ContainerInfo, ...]
    """Running, healthy, of the wanted revision."""
    outdated: tuple[ContainerInfo, ...]
    """Running and healthy, of another revision: replaced by a rolling update."""
    stale: tuple[ContainerInfo, ...]
    """Stopped, starting or unhealthy: serving nothing, removed."""
    balanced: BalancedService | None


@dataclass(frozen=True)
class _Work:
    keep: tuple[ContainerInfo, ...]
    replace: tuple[ContainerInfo, ...]
    remove: tuple[ContainerInfo, ...]
    add: int


def _backend(info: ContainerInfo) -> Backend:
    return Backend("127.0.0.1", int(info.labels[PORT_LABEL]))


def _work(observed: _Observed, replicas: int) -> _Work:
    keep = observed.current[:replicas]
    replace = observed.outdated[: replicas - len(keep)]
    remove = observed.current[replicas:] + observed.outdated[len(replace) :] + observed.stale
    return _Work(keep, replace, remove, replicas - len(keep) - len(replace))


class ReplicatedServiceInterpret(Interpret[DockerWithLoadBalancer]):
    def __init__(self, score: ReplicatedServiceScore) -> None:
        self.score = score

    async def _observe(self, topology: DockerWithLoadBalancer, revision: str) -> _Observed:
        # The engine and the balancer are asked at once: over SSH each look is a round trip.
        found, balanced = await _both(
            topology.docker().list_containers({MANAGED_LABEL: MANAGED_VALUE, SERVICE_LABEL: self.score.service}),
            topology.load_balancer().service(self.score.service),
        )
        replicas = [info for info in found if info.labels.get(KIND_LABEL) == REPLICA and PORT_LABEL in info.labels]
        serving = [info for info in replicas if info.serving]
        return _Observed(
            current=tuple(info for info in serving if info.labels.get(REVISION_LABEL) == revision),
            outdated=tuple(info for info in serving if info.labels.get(REVISION_LABEL) != revision),
            stale=tuple(info for info in replicas if info not in serving),
            balanced=balanced,
        )

    async def plan(self, topology: DockerWithLoadBalancer) -> Sequence[Change]:
        revision = self.score.revision(await topology.docker().image_id(self.score.image))
        return self._changes(await self._observe(topology, revision))

    def _changes(self, observed: _Observed) -> list[Change]:
        score = self.score
        work = _work(observed, score.replicas)
        changes: list[Change] = []
        changes += [
            Change(ChangeAction.UPDATE, info.name, f"replace replica {info.name} ({info.image}) with one of {score.image}")
            for info in work.replace
        ]
        if work.add:
            changes.append(Change(ChangeAction.CREATE, score.service, f"start {work.add} replica(s) of {score.image}"))
        changes += [Change(ChangeAction.DELETE, info.name, _removal(info, score.replicas)) for info in work.remove]
        frontend = score.frontend()
        if observed.balanced is None or observed.balanced.frontend != frontend:
            changes.append(Change(ChangeAction.UPDATE, score.service, f"serve {score.service} on {frontend.address}:{frontend.port}"))
        elif not changes and set(observed.balanced.backends) != {_backend(info) for info in work.keep}:
            backends = ", ".join(str(_backend(info)) for info in work.keep) or "no backend"
            changes.append(Change(ChangeAction.UPDATE, score.service, f"point the balancer for {score.service} at {backends}"))
        return changes

    async def apply(self, topology: DockerWithLoadBalancer) -> Outcome:
        # What plan() sees, observed once: the update works from the same observation.
        image_id = await topology.docker().image_id(self.score.image)
        observed = await self._observe(topology, self.score.revision(image_id))
        changes = self._changes(observed)
        if not changes:
            return Outcome.noop()
        if image_id is None:
            # A missing image fails here (or is pulled), before anything running is touched.
            image_id = await topology.docker().ensure_image(self.score.image)
            observed = await self._observe(topology, self.score.revision(image_id))
        run = _RollingRun(self.score, topology, self.score.revision(image_id))
        message = await run.execute(observed)
        return Outcome(InterpretStatus.SUCCESS, message, tuple(changes))


class _RollingRun:
    """One apply of a ReplicatedServiceScore: the state it carries while it works."""

    def __init__(self, score: ReplicatedServiceScore, topology: DockerWithLoadBalancer, revision: str) -> None:
        self.score = score
        self.policy = score.update
        self.engine = topology.docker()
        self.balancer = topology.load_balancer()
        self.revision = revision
        self.live: list[Backend] = []
        self.started: list[ContainerInfo] = []
        self.stopped_old: list[ContainerInfo] = []
        self.failures: list[str] = []
        self.attempts = 0
        self.used_ports: set[int] = set()
        self.updating = False
        """Replicas of another revision are being replaced (so a failure can roll back to them)."""
        self.balanced: BalancedService | None = None
        """What the balancer serves, as last observed or set by this run; ``None``: unknown, look first."""

    async def execute(self, observed: _Observed) -> str:
        work = _work(observed, self.score.replicas)
        self.updating = bool(work.replace)
        self.balanced = observed.balanced
        # First the balancer serves only replicas that are up, then the rest goes.
        self.live = [_backend(info) for info in (*observed.current, *observed.outdated)]
        leaving = [info for info in work.remove if _backend(info) in self.live]
        self.live = [backend for backend in self.live if backend not in {_backend(info) for info in leaving}]
        # The ports in use (by every service's replicas) are needed only once new replicas start.
        all_replicas, _ = await _both(
            self.engine.list_containers({MANAGED_LABEL: MANAGED_VALUE, KIND_LABEL: REPLICA}), self._balance()
        )
        self.used_ports = {int(info.labels[PORT_LABEL]) for info in all_replicas if PORT_LABEL in info.labels}
        for info in work.remove:
            await self.engine.remove_container(info.name)
        await self._roll(list(work.replace), work.add)
        for info in self.stopped_old:
            await self.engine.remove_container(info.name)
        summary = f"{self.score.service}: {len(self.live)} replica(s) of {self.score.image} serve on {self.score.address}:{self.score.port}"
        if self.failures:
            summary += f"; {len(self.failures)} new replica(s) failed (within max_failure_ratio): {'; '.join(self.failures)}"
        return summary

    async def _roll(self, replace: list[ContainerInfo], add: int) -> None:
        total = len(replace) + add
        while replace or add:
            old_batch, replace = replace[: self.policy.parallelism], replace[self.policy.parallelism :]
            count = len(old_batch) or min(self.policy.parallelism, add)
            if not old_batch:
                add -= count
            if self.policy.order == "stop-first" and old_batch:
                await self._retire(old_batch)
            healthy, failed = await self._start_batch(count)
            self.live += [_backend(info) for info in healthy]
            if self.policy.order == "start-first" and old_batch:
                # Retire as many old replicas as new ones came up; the others keep serving.
                await self._retire(old_batch[: len(healthy)])
            else:
                await self._balance()
            self.attempts += count
            self.failures += failed
            report_progress(f"{self.attempts} of {total} new replicas started")  # shown on a terminal's live display
            if failed and len(self.failures) / total > self.policy.max_failure_ratio:
                await self._on_failure(failed[0])

    async def _retire(self, old: Sequence[ContainerInfo]) -> None:
        gone = {_backend(info) for info in old}
        self.live = [backend for backend in self.live if backend not in gone]
        await self._balance()
        for info in old:
            await self.engine.stop_container(info.name, timeout_s=self.score.stop_grace_s)
            self.stopped_old.append(info)

    async def _start_batch(self, count: int) -> tuple[list[ContainerInfo], list[str]]:
        specs = [self.score.replica_spec(self._free_port()) for _ in range(count)]
        healthy: list[ContainerInfo] = []
        failed: list[str] = []

        async def one(spec: ContainerSpec) -> None:
            spec = _with_revision(spec, self.revision)
            try:
                await self.engine.run_container(spec)
                healthy.append(await self.engine.wait_healthy(spec.name, timeout_s=self.policy.monitor_s))
            except ContainerError as exc:
                failed.append(str(exc))
                await self.engine.remove_container(spec.name)

        async with anyio.create_task_group() as group:
            for spec in specs:
                group.start_soon(one, spec)
        self.started += healthy
        return sorted(healthy, key=lambda info: info.name), failed

    def _free_port(self) -> int:
        for port in self.score.backend_ports:
            if port not in self.used_ports:
                self.used_ports.add(port)
                return port
        raise UpdateFailedError(
            f"no free port left in backend_ports {self.score.backend_ports.start}-{self.score.backend_ports.stop - 1} "
            f"for a new replica of {self.score.service}"
        )

    async def _on_failure(self, reason: str) -> None:
        action = self.policy.failure_action
        if action == "continue":
            return
        if action == "pause":
            raise UpdateFailedError(
                f"update of {self.score.service} to {self.score.image} paused: {reason}; "
                f"{len(self.live)} replica(s) serve; apply again to continue"
            )
        if not self.updating:
            # Only replicas of the wanted version were being started (replacing sick ones, or
            # scaling): there is no previous version to go back to; the healthy ones keep serving.
            raise UpdateFailedError(
                f"{self.score.service}: a new replica of {self.score.image} did not become healthy: {reason}; "
                f"{len(self.live)} of {self.score.replicas} replica(s) serve"
            )
        problems = await self._roll_back()
        raise UpdateRolledBackError(
            f"update of {self.score.service} to {self.score.image} rolled back: {reason}; "
            f"{len(self.live)} replica(s) of the previous version serve"
            + (f"; while rolling back: {'; '.join(problems)}" if problems else "")
        )

    async def _roll_back(self) -> list[str]:
        problems: list[str] = []
        for info in self.stopped_old:
            try:
                await self.engine.start_container(info.name)
                await self.engine.wait_healthy(info.name, timeout_s=self.policy.monitor_s)
                self.live.append(_backend(info))
            except ContainerError as exc:
                problems.append(str(exc))
        new = {_backend(info) for info in self.started}
        self.live = [backend for backend in self.live if backend not in new]
        await self._balance()
        for info in self.started:
            await self.engine.remove_container(info.name)
        self.stopped_old = []
        return problems

    async def _balance(self) -> None:
        frontend = self.score.frontend()
        wanted = BalancedService(frontend, tuple(sorted(set(self.live))))
        # The balancer is observed once per run; after that this run is what changes it, so what
        # it serves is what the last balance() set (over SSH each look is three round trips).
        current = self.balanced or await self.balancer.service(self.score.service)
        if current is None or current.frontend != wanted.frontend or set(current.backends) != set(wanted.backends):
            self.balanced = None  # unknown until balance() has succeeded
            await self.balancer.balance(frontend, wanted.backends, drain_timeout_s=self.policy.drain_timeout_s)
        self.balanced = wanted


async def _both(first: Awaitable[T], second: Awaitable[U]) -> tuple[T, U]:
    """Await two independent calls at once; the first failure is raised as itself (not as a group)."""
    results: list[object] = [None, None]

    async def fill(index: int, call: Awaitable[object]) -> None:
        results[index] = await call

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(fill, 0, first)
            group.start_soon(fill, 1, second)
    except BaseExceptionGroup as failed:
        leaf: BaseException = failed
        while isinstance(leaf, BaseExceptionGroup):
            leaf = leaf.exceptions[0]
        raise leaf from None
    return cast(T, results[0]), cast(U, results[1])


def _removal(info: ContainerInfo, wanted: int) -> str:
    """The plan line of a replica that goes: why it is not serving, with its last check and output."""
    if info.serving:
        return f"remove replica {info.name} (running; {wanted} wanted)"
    return f"remove replica {info.name}: {info.trouble()}"


def _with_revision(spec: ContainerSpec, revision: str) -> ContainerSpec:
    return replace(spec, labels={**spec.labels, REVISION_LABEL: revision})
