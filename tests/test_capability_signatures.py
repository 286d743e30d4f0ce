"""The run-time capability check compares signatures, accessors' services, and every part of a capability.

Before issue 12 the check compared member names and ``async`` only: a member with
other parameters, a plain method written ``async def``, or an accessor handing out
a service without the service's methods all passed, and the run failed later with
a TypeError or AttributeError from inside an interpret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, overload, runtime_checkable

import pytest
from typing_extensions import get_protocol_members

from capabilities import Docker, DockerService, PostgreSQL, PostgreSQLServerService
from harmony_py import Interpret, Maestro, MissingCapabilityError, Score, TopologyReport, capability_gaps, provides
from topologies import DockerTopology, FailoverTopology, LocalhostTopology


@runtime_checkable
class Runner(Protocol):
    """A capability of plain and async methods, shaped like CommandRunner's."""

    async def run(self, command: str, *, timeout_s: float | None = None) -> str: ...

    def describe(self) -> str: ...


class GreeterService(Protocol):
    """The service a Greeting capability hands out."""

    async def greet(self, name: str, *, loud: bool = False) -> str: ...


@runtime_checkable
class Greeting(Protocol):
    """An accessor capability: one plain method, no parameters, returning the service."""

    def greeter(self) -> GreeterService: ...


@dataclass(frozen=True)
class NeedsRunner(Score[Runner]):
    def interpret(self) -> Interpret[Runner]:
        raise AssertionError("never interpreted: the check refuses the topology first")


class Topology:
    name = "t"

    async def ensure_ready(self) -> TopologyReport:
        return TopologyReport(self.name)


class GoodRunner(Topology):
    async def run(self, command: str, *, timeout_s: float | None = None) -> str:
        return command

    def describe(self) -> str:
        return "good"


class RenamedParameter(GoodRunner):
    async def run(self, cmd: str, *, timeout_s: float | None = None) -> str:
        return cmd


class MissingParameter(GoodRunner):
    async def run(self, command: str) -> str:  # type: ignore[override]
        return command


class ExtraRequiredParameter(GoodRunner):
    async def run(self, command: str, *, timeout_s: float | None = None, user: str) -> str:  # type: ignore[override]
        return command


class RequiredWhereOptional(GoodRunner):
    async def run(self, command: str, *, timeout_s: float | None) -> str:  # type: ignore[override]
        return command


class AsyncWherePlain(GoodRunner):
    async def describe(self) -> str:  # type: ignore[override]
        return "late"


class PlainWhereAsync(GoodRunner):
    def run(self, command: str, *, timeout_s: float | None = None) -> str:  # type: ignore[override]
        return command


class TakesAnything(Topology):
    async def run(self, *args: Any, **kwargs: Any) -> str:
        return ""

    def describe(self, *args: Any, **kwargs: Any) -> str:
        return ""


class MoreOptionalParameters(GoodRunner):
    async def run(self, command: str, env: dict[str, str] | None = None, *, timeout_s: float | None = None) -> str:
        return command


def test_a_member_with_other_parameter_names_is_a_gap_naming_it() -> None:
    assert capability_gaps(RenamedParameter(), Runner) == [
        "Runner (run: parameters differ: 'command' is named 'cmd' (wants (command, *, timeout_s=...), has (cmd, *, timeout_s=...)))"
    ]


def test_a_missing_or_extra_required_parameter_is_a_gap() -> None:
    assert capability_gaps(MissingParameter(), Runner) == [
        "Runner (run: parameters differ: no parameter 'timeout_s' (wants (command, *, timeout_s=...), has (command)))"
    ]
    [gap] = capability_gaps(ExtraRequiredParameter(), Runner)
    assert "run: parameters differ: 'user' is required but not in the capability" in gap


def test_a_parameter_the_capability_makes_optional_must_be_optional() -> None:
    [gap] = capability_gaps(RequiredWhereOptional(), Runner)
    assert "run: parameters differ: 'timeout_s' must be optional" in gap


def test_a_plain_method_written_async_def_is_a_gap_and_so_is_the_reverse() -> None:
    assert capability_gaps(AsyncWherePlain(), Runner) == ["Runner (describe must not be async def)"]
    assert capability_gaps(PlainWhereAsync(), Runner) == ["Runner (run must be async def)"]


def test_implementations_accepting_every_call_the_capability_allows_pass() -> None:
    assert capability_gaps(GoodRunner(), Runner) == []
    assert capability_gaps(TakesAnything(), Runner) == []
    assert capability_gaps(MoreOptionalParameters(), Runner) == []


@runtime_checkable
class Overloaded(Protocol):
    """At run time an @overload stub takes (*args, **kwargs): the check compares with each overload."""

    @overload
    async def fetch(self, key: str) -> str: ...
    @overload
    async def fetch(self, key: int, *, default: int) -> int: ...


class Fetcher(Topology):
    async def fetch(self, key: str | int, *, default: int = 0) -> str | int:
        return key


class NarrowFetcher(Topology):
    async def fetch(self, key: str) -> str:
        return key


class PlainFetcher(Topology):
    def fetch(self, key: str | int, *, default: int = 0) -> str | int:
        return key


def test_an_overloaded_capability_method_must_accept_the_calls_of_every_overload() -> None:
    assert capability_gaps(Fetcher(), Overloaded) == []
    [gap] = capability_gaps(NarrowFetcher(), Overloaded)
    assert "fetch: parameters differ: no parameter 'default' (wants (key, *, default), has (key))" in gap
    assert capability_gaps(PlainFetcher(), Overloaded) == ["Overloaded (fetch must be async def)"]


def test_the_maestro_refuses_a_topology_whose_member_signature_differs() -> None:
    topology: Any = RenamedParameter()
    with pytest.raises(MissingCapabilityError) as caught:
        Maestro(topology).add(NeedsRunner()).check_capabilities()
    assert str(caught.value) == (
        "Score NeedsRunner requires capability Runner, but topology t does not provide it: "
        "Runner (run: parameters differ: 'command' is named 'cmd' (wants (command, *, timeout_s=...), has (cmd, *, timeout_s=...)))"
    )


# -- accessors: the service they declare is checked one level down ---------------------


class Greeter:
    async def greet(self, name: str, *, loud: bool = False) -> str:
        return name.upper() if loud else name


class MuteGreeter:
    async def wave(self) -> None:
        return None


class TerseGreeter:
    async def greet(self, name: str) -> str:
        return name


class GreetingTopology(Topology):
    def greeter(self) -> Greeter:
        return Greeter()


class MuteTopology(Topology):
    def greeter(self) -> MuteGreeter:
        return MuteGreeter()


class TerseTopology(Topology):
    def greeter(self) -> TerseGreeter:
        return TerseGreeter()


class ProtocolTopology(Topology):
    """Declares the service Protocol itself (as an abstract host base does)."""

    def greeter(self) -> GreeterService:
        return Greeter()


class AsyncAccessorTopology(Topology):
    async def greeter(self) -> Greeter:
        return Greeter()


def test_an_accessor_returning_a_class_without_the_service_methods_is_a_gap() -> None:
    assert capability_gaps(MuteTopology(), Greeting) == [
        "Greeting (greeter() returns MuteGreeter, lacking GreeterService (missing greet))"
    ]


def test_an_accessor_whose_class_is_imported_for_type_checkers_only_is_still_checked() -> None:
    from tests.deferred_accessor import DeferredMuteTopology

    assert capability_gaps(DeferredMuteTopology(), Greeting) == [
        "Greeting (greeter() returns MuteGreeter, lacking GreeterService (missing greet))"
    ]


def test_the_hosts_accessors_declare_the_classes_they_build_though_their_modules_load_on_use() -> None:
    from harmony_py.capability_check import _declared_return
    from topologies.app.runtime import HostApplicationRuntime
    from topologies.balancer.nginx import NginxBalancer
    from topologies.postgres.host import HostPostgreSQL

    from topologies import LinuxHostTopology

    for host in (LocalhostTopology, LinuxHostTopology):
        assert _declared_return(host.postgresql) is HostPostgreSQL
        assert _declared_return(host.load_balancer) is NginxBalancer
        assert _declared_return(host.application_runtime) is HostApplicationRuntime


def test_an_accessor_whose_service_method_has_other_parameters_is_a_gap() -> None:
    assert capability_gaps(TerseTopology(), Greeting) == [
        "Greeting (greeter() returns TerseGreeter, lacking GreeterService (greet: parameters differ: "
        "no parameter 'loud' (wants (name, *, loud=...), has (name))))"
    ]


def test_an_accessor_written_async_def_is_a_gap() -> None:
    assert capability_gaps(AsyncAccessorTopology(), Greeting) == ["Greeting (greeter must not be async def)"]


def test_accessors_returning_the_service_or_a_class_with_its_methods_pass() -> None:
    assert provides(GreetingTopology(), Greeting)
    assert provides(ProtocolTopology(), Greeting)


# -- provides(): the supported test, where isinstance is fooled ------------------------


def test_provides_is_the_capability_test_where_isinstance_only_sees_names() -> None:
    assert isinstance(RenamedParameter(), Runner)  # the names exist ...
    assert not provides(RenamedParameter(), Runner)  # ... the signature does not match
    assert isinstance(MuteTopology(), Greeting)
    assert not provides(MuteTopology(), Greeting)
    assert provides(LocalhostTopology(), PostgreSQL)
    # The README's example: a pair of Docker engines "is" PostgreSQL to isinstance, not to provides().
    docker_pair = FailoverTopology(DockerTopology(), DockerTopology())
    assert isinstance(docker_pair, PostgreSQL) and not provides(docker_pair, PostgreSQL)


# -- every part of a capability on a pair of pairs -------------------------------------


@runtime_checkable
class ExtendedPostgreSQL(PostgreSQL, Protocol):
    """A user's capability that refines PostgreSQL with nothing more."""


@runtime_checkable
class PostgreSQLAndDocker(PostgreSQL, Docker, Protocol):
    """Two capabilities at once."""


async def _async_stub(*args: object, **kwargs: object) -> None:
    raise AssertionError("never called: only the capability check looks at it")


class _ServerService:
    """Every method of a PostgreSQL server's service (stubs)."""


for _member in sorted(get_protocol_members(PostgreSQLServerService)):
    setattr(_ServerService, _member, _async_stub)


class ServerWithDocker(Topology):
    """A PostgreSQL server and Docker's accessor (stubs), as one host."""

    def docker(self) -> DockerService:
        raise AssertionError("never called: only the capability check looks at it")

    def postgresql(self) -> _ServerService:
        return _ServerService()


def _pair_of_pairs(member: object) -> Any:
    pair = FailoverTopology(member, member)
    return FailoverTopology(pair, pair)


def test_a_capability_extending_postgresql_on_a_pair_of_pairs_is_refused_as_postgresql_is() -> None:
    pairs = _pair_of_pairs(LocalhostTopology())
    plain = capability_gaps(pairs, PostgreSQL)
    assert plain and all("PostgreSQLServer (postgresql() returns PostgreSQLClusterService, lacking " in gap for gap in plain)
    # Before: accepted, and the plan then failed with an AttributeError on the inner pair.
    assert capability_gaps(pairs, ExtendedPostgreSQL) == plain
    assert provides(FailoverTopology(LocalhostTopology(), LocalhostTopology()), ExtendedPostgreSQL)


def test_postgresql_combined_with_docker_on_a_pair_of_pairs_is_refused() -> None:
    server = ServerWithDocker()
    assert provides(server, PostgreSQLAndDocker)
    # Docker is not lifted onto higher-order topologies (adr/0062): a pair, and a
    # pair of pairs, refuse the combination and name Docker, their own gap.
    assert capability_gaps(FailoverTopology(server, server), PostgreSQLAndDocker) == ["Docker (missing docker)"]
    assert capability_gaps(_pair_of_pairs(server), PostgreSQLAndDocker) == ["Docker (missing docker)"]


def test_a_return_annotation_that_cannot_be_resolved_yet_is_tried_again_not_remembered_as_none() -> None:
    """A failure to resolve can pass (the module it names was being imported by another thread at the time):
    it is not kept, so the next check resolves it; an answer is kept."""
    from harmony_py.capability_check import _declared_return

    namespace: dict[str, Any] = {}
    exec("def build() -> 'LaterService': ...", namespace)
    build = namespace["build"]
    assert _declared_return(build) is None
    namespace["LaterService"] = Greeter
    assert _declared_return(build) is Greeter
    del namespace["LaterService"]
    assert _declared_return(build) is Greeter
