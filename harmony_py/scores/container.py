"""One container, kept running exactly as its spec says."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any

from capabilities.docker import ContainerInfo, ContainerSpec, Docker, DockerService
from harmony_py.errors import HarmonyError
from harmony_py.score import ConvergingInterpret, Score
from harmony_py.validation import Duration, InstanceOf, validate
from harmony_py.values import Change, ChangeAction, Secret

MANAGED_LABEL = "io.harmony.managed-by"
MANAGED_VALUE = "harmony_py"
SPEC_LABEL = "io.harmony.spec"
HEALTH = "health"
"""The attribute of a change that only waits for a container's health check to pass."""


def spec_record(spec: ContainerSpec) -> dict[str, Any]:
    """The spec as plain JSON values, with each secret replaced by a digest of it.

    It is stored on the container (a label), so the next plan compares
    against what the container was created from, not against what the engine
    reports after filling in its defaults.
    """
    return {
        "image": spec.image,
        "command": list(spec.command),
        "env": {key: _env_record(spec.name, value) for key, value in sorted(spec.env.items())},
        "ports": [[port.container, port.host, port.host_ip, port.protocol] for port in spec.ports],
        "network": spec.network,
        "mounts": [[mount.source, mount.target, mount.read_only] for mount in spec.mounts],
        "labels": {key: value for key, value in sorted(spec.labels.items()) if key != SPEC_LABEL},
        "restart_policy": spec.restart_policy,
        "health": None
        if spec.health is None
        else {
            "command": spec.health.command if isinstance(spec.health.command, str) else list(spec.health.command),
            "interval_s": spec.health.interval_s,
            "timeout_s": spec.health.timeout_s,
            "retries": spec.health.retries,
            "start_period_s": spec.health.start_period_s,
        },
        "init": spec.init,
    }


def encode_record(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def labelled(spec: ContainerSpec) -> ContainerSpec:
    """``spec`` with the labels that let harmony_py find it and compare it later."""
    labels = {**spec.labels, MANAGED_LABEL: MANAGED_VALUE, SPEC_LABEL: encode_record(spec_record(spec))}
    return replace(spec, labels=labels)


def _env_record(name: str, value: str | Secret) -> str:
    # An unkeyed digest: whoever can read a container's labels can read its
    # environment through the engine's inspect, so it exposes nothing Docker
    # does not; it only keeps the value itself out of the label and of plans.
    if isinstance(value, Secret):
        digest = hashlib.sha256(f"{name}\0{value.reveal()}".encode()).hexdigest()
        return f"secret:sha256:{digest}"
    return value


@dataclass(frozen=True)
class ContainerScore(Score[Docker]):
    """A container created from ``spec``, running (and healthy, when it has a check).

    The container is recreated only when the spec it was created from differs
    from ``spec``, when its image reference now names another image, or when
    it stopped or turned unhealthy (the engine's health status; the plan says
    why, with its last check and output). One whose check has not passed yet
    is waited for. An apply that cannot make it healthy fails with the
    container's last output. A container of the same name that harmony_py did
    not create is never touched.

    Example::

        ContainerScore(ContainerSpec("cache", "redis:7", command=("redis-server", "--save", ""), restart_policy="unless-stopped"))
    """

    spec: Annotated[ContainerSpec, InstanceOf(ContainerSpec)]
    ready_timeout_s: Annotated[float, Duration()] = 60.0

    def __post_init__(self) -> None:
        validate(self)

    @property
    def name(self) -> str:
        return f"ContainerScore({self.spec.name})"

    def interpret(self) -> ContainerInterpret:
        return ContainerInterpret(self)


class ContainerInterpret(ConvergingInterpret[Docker]):
    def __init__(self, score: ContainerScore) -> None:
        self.score = score

    async def plan(self, topology: Docker) -> Sequence[Change]:
        spec = self.score.spec
        engine = topology.docker()
        found = await engine.inspect_container(spec.name)
        if found is None:
            return [Change(ChangeAction.CREATE, spec.name, f"create container {spec.name} from {spec.image}")]
        _require_managed(found)
        reasons = await self._reasons_to_recreate(engine, found)
        if reasons:
            return [Change(ChangeAction.UPDATE, spec.name, f"recreate container {spec.name}: {'; '.join(reasons)}")]
        if found.running and found.health == "starting":
            # As it should be, but its check has not passed yet (an apply was interrupted, or the
            # engine restarted it): waiting, not recreating, is what is left to do.
            return [Change(ChangeAction.RUN, spec.name, f"wait for container {spec.name}: {found.trouble()}", attribute=HEALTH)]
        return []

    async def _reasons_to_recreate(self, engine: DockerService, found: ContainerInfo) -> list[str]:
        spec = self.score.spec
        recorded = json.loads(found.labels.get(SPEC_LABEL, "{}"))
        desired = spec_record(spec)
        reasons = [_describe(key, recorded.get(key), value) for key, value in desired.items() if recorded.get(key) != value]
        if not reasons:
            current_image = await engine.image_id(spec.image)
            if current_image is not None and current_image != found.image_id:
                reasons.append(f"image {spec.image} now refers to {current_image[:19]}")
        if not found.running or found.health == "unhealthy":
            reasons.append(found.trouble())
        return reasons

    async def converge(self, topology: Docker, changes: Sequence[Change]) -> None:
        engine = topology.docker()
        if all(change.attribute == HEALTH for change in changes):
            # Only its first health check is missing: the container is left as it is either way.
            await engine.wait_healthy(self.score.spec.name, timeout_s=self.score.ready_timeout_s)
            return
        spec = labelled(self.score.spec)
        # The image is checked first, so a missing one leaves the old container running.
        await engine.ensure_image(spec.image)
        await engine.remove_container(spec.name)
        await engine.run_container(spec)
        try:
            await engine.wait_healthy(spec.name, timeout_s=self.score.ready_timeout_s)
        except HarmonyError:
            # Leave nothing half-applied: the next run starts from a clean slate.
            await engine.remove_container(spec.name)
            raise


def _require_managed(found: ContainerInfo) -> None:
    if found.labels.get(MANAGED_LABEL) != MANAGED_VALUE:
        raise HarmonyError(
            f"a container named {found.name} exists that harmony_py did not create; "
            "it will not replace it: remove or rename it first"
        )


def _describe(key: str, old: object, new: object) -> str:
    if key == "env":
        names = sorted({*(old if isinstance(old, dict) else {}), *(new if isinstance(new, dict) else {})})
        changed = [
            name
            for name in names
            if (old.get(name) if isinstance(old, dict) else None) != (new.get(name) if isinstance(new, dict) else None)
        ]
        return f"env {', '.join(changed)} changed"
    if key in ("image", "network", "restart_policy", "init"):
        return f"{key} {old!r} -> {new!r}"
    return f"{key} changed"
