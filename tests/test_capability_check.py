"""The run-time capability check: one error naming score, capability, topology and members."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from capabilities import CommandRunner, K8sClient, Manifest
from harmony_py import Interpret, Maestro, MissingCapabilityError, Score, TopologyReport, capability_gaps
from harmony_py.scores import FileScore
from topologies import FailoverTopology, LocalhostTopology, MultisiteTopology


@dataclass(frozen=True)
class NeedsK8s(Score[K8sClient]):
    def interpret(self) -> Interpret[K8sClient]:
        raise AssertionError("must never be interpreted")


@dataclass(frozen=True)
class HalfK8s:
    """Has some K8sClient members, one of them not async."""

    name: str = "half"

    async def ensure_ready(self) -> TopologyReport:
        return TopologyReport(self.name)

    def k8s_apply(self, manifest: Manifest, *, field_manager: str, dry_run: bool = False) -> dict[str, Any]:
        raise NotImplementedError


def _error(maestro: Maestro[Any]) -> str:
    with pytest.raises(MissingCapabilityError) as caught:
        anyio.run(maestro.plan)
    return str(caught.value)


def test_score_on_topology_without_the_capability_names_every_missing_member() -> None:
    maestro = Maestro(LocalhostTopology()).add(NeedsK8s())  # type: ignore[arg-type]
    message = _error(maestro)
    assert message.startswith(
        "Score NeedsK8s requires capability K8sClient, but topology localhost does not provide it: "
    )
    for member in ("k8s_apply", "k8s_delete", "k8s_get", "k8s_list", "k8s_wait"):
        assert f"missing {member}" in message


def test_members_that_must_be_async_are_named() -> None:
    gaps = capability_gaps(HalfK8s(), K8sClient)
    assert "k8s_apply must be async def" in gaps
    assert "missing k8s_get" in gaps


def test_failover_delegates_the_check_to_each_sub_topology() -> None:
    failover = FailoverTopology(LocalhostTopology(), LocalhostTopology())
    message = _error(Maestro(failover).add(NeedsK8s()))  # type: ignore[arg-type]
    assert "topology FailoverTopology[LocalhostTopology, LocalhostTopology] does not provide it" in message
    assert "primary: missing k8s_apply" in message
    assert "replica: missing k8s_apply" in message


def test_multisite_names_the_site_that_lacks_it() -> None:
    sites = MultisiteTopology(LocalhostTopology(), (LocalhostTopology(),))
    message = _error(Maestro(sites).add(NeedsK8s()))  # type: ignore[arg-type]
    assert "site[0]: missing k8s_apply" in message


def test_higher_order_topology_without_the_members_itself_says_so() -> None:
    failover = FailoverTopology(LocalhostTopology(), LocalhostTopology())
    assert "missing make_directory" in capability_gaps(failover, CommandRunner)


def test_isinstance_alone_would_be_fooled_by_a_failover() -> None:
    # Why the check is ours: the methods exist on the class for every T.
    failover = FailoverTopology(LocalhostTopology(), LocalhostTopology())
    assert isinstance(failover, K8sClient)
    assert capability_gaps(failover, K8sClient)


def test_nothing_is_touched_when_a_capability_is_missing(tmp_path: Path) -> None:
    target = f"{tmp_path}/never-written"
    maestro = Maestro(LocalhostTopology()).add(FileScore(target, "x"), NeedsK8s())  # type: ignore[arg-type]
    with pytest.raises(MissingCapabilityError):
        anyio.run(maestro.apply)
    assert not os.path.exists(target)


def test_localhost_provides_command_runner() -> None:
    assert capability_gaps(LocalhostTopology(), CommandRunner) == []
