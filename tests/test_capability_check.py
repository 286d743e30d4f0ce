"""The run-time capability check: one error naming score, capability, topology and members."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from typing_extensions import get_protocol_members

from capabilities import CommandRunner, DockerService, DockerWithLoadBalancer, K8sClient, Manifest, PostgreSQL
from harmony_py import Interpret, Maestro, MissingCapabilityError, Score, TopologyReport, capability_gaps
from harmony_py.scores import ApplicationScore, FileScore
from topologies import ApplicationTopology, DockerTopology, FailoverTopology, LocalhostTopology, MultisiteTopology


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


class HalfK8sApi:
    """Has some K8sClientService members, one of them not async."""

    def apply(self, manifest: Manifest, *, field_manager: str, dry_run: bool = False) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class HalfK8s:
    """Has the K8sClient accessor, but what it returns is half a client."""

    name: str = "half"

    async def ensure_ready(self) -> TopologyReport:
        return TopologyReport(self.name)

    def k8s_client(self) -> HalfK8sApi:
        return HalfK8sApi()


def _error(maestro: Maestro[Any]) -> str:
    with pytest.raises(MissingCapabilityError) as caught:
        anyio.run(maestro.plan)
    return str(caught.value)


def test_score_on_topology_without_the_capability_names_every_missing_member() -> None:
    maestro = Maestro(LocalhostTopology()).add(NeedsK8s())  # type: ignore[arg-type]
    message = _error(maestro)
    assert message == (
        "Score NeedsK8s requires capability K8sClient, but topology localhost does not provide it: "
        "K8sClient (missing k8s_client)"
    )


def test_service_members_missing_or_not_async_are_named() -> None:
    gaps = capability_gaps(HalfK8s(), K8sClient)
    assert gaps == [
        "K8sClient (k8s_client() returns HalfK8sApi, lacking K8sClientService (missing delete, get, list, wait, watch; "
        "apply must be async def))"
    ]


def test_failover_delegates_the_check_to_each_sub_topology() -> None:
    failover = FailoverTopology(DockerTopology(), DockerTopology())
    gaps = capability_gaps(failover, PostgreSQL)
    assert any(gap.startswith("primary: PostgreSQLServer (missing postgresql") for gap in gaps), gaps
    assert any(gap.startswith("replica: PostgreSQLServer (missing postgresql") for gap in gaps), gaps


def test_multisite_names_the_site_that_lacks_it() -> None:
    sites = MultisiteTopology(DockerTopology(), (DockerTopology(),))
    gaps = capability_gaps(sites, PostgreSQL)
    assert any(gap.startswith("site[0]: PostgreSQLServer (missing postgresql") for gap in gaps), gaps


def test_kubernetes_is_not_lifted_onto_a_pair_so_the_pair_itself_lacks_it() -> None:
    failover = FailoverTopology(LocalhostTopology(), LocalhostTopology())
    message = _error(Maestro(failover).add(NeedsK8s()))  # type: ignore[arg-type]
    assert message.endswith(
        "topology FailoverTopology[LocalhostTopology, LocalhostTopology] does not provide it: K8sClient (missing k8s_client)"
    )


def test_higher_order_topology_without_the_members_itself_says_so() -> None:
    failover = FailoverTopology(LocalhostTopology(), LocalhostTopology())
    assert capability_gaps(failover, CommandRunner) == [f"CommandRunner (missing {_members(CommandRunner)})"]


def test_isinstance_alone_would_be_fooled_by_a_failover() -> None:
    # Why the check is ours: a lifted capability's members exist on the class for every T.
    failover = FailoverTopology(DockerTopology(), DockerTopology())
    assert isinstance(failover, PostgreSQL)
    assert capability_gaps(failover, PostgreSQL)


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
    """Docker's accessor and nothing of a load balancer."""

    name: str = "docker-only"

    async def ensure_ready(self) -> TopologyReport:
        return TopologyReport(self.name)

    def docker(self) -> DockerService:
        raise AssertionError("never called: only the capability check looks at it")


def test_a_combined_capability_names_the_part_that_is_missing() -> None:
    message = str(_refusal(Maestro(DockerOnly()).add(NeedsBalancedDocker())))  # type: ignore[arg-type]
    assert message == (
        "Score NeedsBalancedDocker requires capability DockerWithLoadBalancer, but topology docker-only "
        "does not provide it: LoadBalancer (missing load_balancer)"
    )


def test_a_failover_names_the_capability_each_member_lacks() -> None:
    failover = FailoverTopology(LocalhostTopology(), LocalhostTopology())
    gaps = capability_gaps(failover, DockerWithLoadBalancer)
    # Neither is lifted onto a failover (adr/0062): the pair names both, not its members.
    assert gaps == ["LoadBalancer (missing load_balancer)", "Docker (missing docker)"]
    assert capability_gaps(FailoverTopology(DockerOnly(), DockerOnly()), PostgreSQL)[0].startswith(
        "primary: PostgreSQLServer (missing postgresql)"
    )


def test_application_topology_names_the_runtime_capability_it_lacks() -> None:
    paired = ApplicationTopology(runtime=DockerOnly(), database=LocalhostTopology())  # type: ignore[arg-type]
    message = str(_refusal(Maestro(paired).add(ApplicationScore("shop", image="shop:1"))))
    assert "runtime: ApplicationRuntime (missing application_runtime)" in message
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


# -- how a score's capability is read: generic subclasses, unions, names in strings --


@dataclass(frozen=True)
class EitherEngine(Score[K8sClient | CommandRunner]):
    """Runs on a cluster or on a host: a union is provided when one of its capabilities is."""

    def interpret(self) -> Interpret[K8sClient | CommandRunner]:
        raise AssertionError("must never be interpreted")


@dataclass(frozen=True)
class NamedInAString(Score["CommandRunner"]):
    def interpret(self) -> Interpret[CommandRunner]:
        raise AssertionError("must never be interpreted")


@dataclass(frozen=True)
class NamedNowhere(Score["NoSuchCapability"]):  # type: ignore[name-defined]
    def interpret(self) -> Interpret[Any]:
        raise AssertionError("must never be interpreted")


@dataclass(frozen=True)
class Bare:
    name: str = "bare"

    async def ensure_ready(self) -> TopologyReport:
        return TopologyReport(self.name)


def test_a_union_of_capabilities_is_provided_when_one_of_them_is() -> None:
    assert capability_gaps(LocalhostTopology(), EitherEngine.required_capability()) == []
    assert capability_gaps(HalfK8s(), K8sClient) != []


def test_a_union_nothing_provides_names_each_option_and_its_gap() -> None:
    message = _error(Maestro(Bare()).add(EitherEngine()))  # type: ignore[arg-type]
    assert "requires capability K8sClient | CommandRunner" in message
    assert "none of K8sClient | CommandRunner: K8sClient (missing k8s_client); CommandRunner (missing command_runner)" in message


def test_a_capability_written_as_a_string_is_read_where_the_score_is_defined() -> None:
    assert NamedInAString.required_capability() is CommandRunner
    assert capability_gaps(LocalhostTopology(), NamedInAString.required_capability()) == []


def test_a_string_that_names_no_capability_at_run_time_is_refused_naming_it() -> None:
    with pytest.raises(TypeError, match=r"NamedNowhere declares Score\['NoSuchCapability'\], but 'NoSuchCapability' cannot be found in module tests.test_capability_check"):
        NamedNowhere.required_capability()
