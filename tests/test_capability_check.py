"""The run-time capability check: one error naming score, capability, topology and members."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from typing_extensions import get_protocol_members

from capabilities import CommandRunner, Docker, DockerWithLoadBalancer, K8sClient, Manifest, PostgreSQL
from harmony_py import Interpret, Maestro, MissingCapabilityError, Score, TopologyReport, capability_gaps
from harmony_py.scores import ApplicationScore, FileScore
from topologies import ApplicationTopology, FailoverTopology, LocalhostTopology, MultisiteTopology


@dataclass(frozen=True)
class NeedsK8s(Score[K8sClient]):
    def interpret(self) -> Interpret[K8sClient]:
        raise AssertionError("must never be interpreted")


@dataclass(frozen=True)
class NeedsBalancedDocker(Score[DockerWithLoadBalancer]):
    def interpret(self) -> Interpret[DockerWithLoadBalancer]:
        raise AssertionError("must never be interpreted")


async def _async_stub(*args: object, **kwargs: object) -> None:
    raise AssertionError("never called: only the capability check looks at it")


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
    assert message == (
        "Score NeedsK8s requires capability K8sClient, but topology localhost does not provide it: "
        "K8sClient (missing k8s_apply, k8s_delete, k8s_get, k8s_list, k8s_wait, k8s_watch)"
    )


def test_members_that_must_be_async_are_named() -> None:
    gaps = capability_gaps(HalfK8s(), K8sClient)
    assert gaps == ["K8sClient (missing k8s_delete, k8s_get, k8s_list, k8s_wait, k8s_watch; k8s_apply must be async def)"]


def test_failover_delegates_the_check_to_each_sub_topology() -> None:
    failover = FailoverTopology(LocalhostTopology(), LocalhostTopology())
    message = _error(Maestro(failover).add(NeedsK8s()))  # type: ignore[arg-type]
    assert "topology FailoverTopology[LocalhostTopology, LocalhostTopology] does not provide it" in message
    assert "primary: K8sClient (missing k8s_apply, " in message
    assert "replica: K8sClient (missing k8s_apply, " in message


def test_multisite_names_the_site_that_lacks_it() -> None:
    sites = MultisiteTopology(LocalhostTopology(), (LocalhostTopology(),))
    message = _error(Maestro(sites).add(NeedsK8s()))  # type: ignore[arg-type]
    assert "site[0]: K8sClient (missing k8s_apply, " in message


def test_higher_order_topology_without_the_members_itself_says_so() -> None:
    failover = FailoverTopology(LocalhostTopology(), LocalhostTopology())
    assert capability_gaps(failover, CommandRunner) == [f"CommandRunner (missing {_members(CommandRunner)})"]


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


# -- a refusal names the capability first, then its missing members ------------------


@dataclass(frozen=True)
class DockerOnly:
    """Docker's members and nothing of a load balancer."""

    name: str = "docker-only"

    async def ensure_ready(self) -> TopologyReport:
        return TopologyReport(self.name)


for _member in sorted(get_protocol_members(Docker)):
    setattr(DockerOnly, _member, _async_stub)


def test_a_combined_capability_names_the_part_that_is_missing() -> None:
    message = str(_refusal(Maestro(DockerOnly()).add(NeedsBalancedDocker())))  # type: ignore[arg-type]
    assert message == (
        "Score NeedsBalancedDocker requires capability DockerWithLoadBalancer, but topology docker-only "
        "does not provide it: LoadBalancer (missing balance, balanced_service, remove_balanced_service)"
    )


def test_a_failover_names_the_capability_each_member_lacks() -> None:
    failover = FailoverTopology(LocalhostTopology(), LocalhostTopology())
    gaps = capability_gaps(failover, DockerWithLoadBalancer)
    assert gaps == ["LoadBalancer (missing balance, balanced_service, remove_balanced_service)"]
    assert capability_gaps(FailoverTopology(DockerOnly(), DockerOnly()), PostgreSQL)[0].startswith(
        "primary: PostgreSQLServer (missing postgresql)"
    )


def test_application_topology_names_the_runtime_capability_it_lacks() -> None:
    paired = ApplicationTopology(runtime=DockerOnly(), database=LocalhostTopology())  # type: ignore[arg-type]
    message = str(_refusal(Maestro(paired).add(ApplicationScore("shop", image="shop:1"))))
    assert "runtime: ApplicationRuntime (missing application_contracts, application_url, deploy_application, plan_application)" in message
    assert "_ProtocolMeta" not in message


def test_application_topology_refuses_a_capability_it_never_offers_by_name() -> None:
    paired = ApplicationTopology(runtime=LocalhostTopology(), database=LocalhostTopology())
    message = str(_refusal(Maestro(paired).add(FileScore("/never/written", "x"))))  # type: ignore[arg-type]
    assert message == (
        "Score FileScore requires capability CommandRunner, but topology ApplicationTopology[localhost, localhost] "
        f"does not provide it: CommandRunner (missing {_members(CommandRunner)}: "
        "an ApplicationTopology provides only ApplicationRuntime, from its runtime, and PostgreSQL, from its database)"
    )
    assert "_ProtocolMeta" not in message


def _refusal(maestro: Maestro[Any]) -> MissingCapabilityError:
    with pytest.raises(MissingCapabilityError) as caught:
        maestro.check_capabilities()
    return caught.value


def _members(capability: type) -> str:
    return ", ".join(sorted(get_protocol_members(capability)))
