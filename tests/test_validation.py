"""Declared field validation (harmony_py.validation, ADR 0053): validators on fields, one validate() call."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated

import pytest

from capabilities.application import AppSpec
from capabilities.docker import ContainerSpec, HealthCheck, Mount, Port as PublishedPort
from capabilities.load_balancer import Frontend
from capabilities.postgresql import PgUser
from harmony_py import Ref, ScoreValueError, Secret
from harmony_py.refs import substitute
from harmony_py.scores import K8sDeploymentScore, PostgreSQLScore
from harmony_py.scores.replicated_service import UpdatePolicy
from harmony_py.validation import (
    AbsolutePath,
    Between,
    Count,
    DnsLabel,
    Duration,
    Each,
    Identifier,
    ImageReference,
    InstanceOf,
    Invalid,
    IpAddress,
    IpNetwork,
    Keys,
    Mode,
    NonEmpty,
    NotIn,
    OneOf,
    Port,
    StartsWith,
    Strings,
    Validator,
    Values,
    validate,
)

from .outputs_scores import Endpoint, ServerScore


@dataclass(frozen=True)
class Site:
    """A value class of the kind scores are: frozen, fields declared with their rules."""

    root: Annotated[str, AbsolutePath()]
    port: Annotated[int | Ref[int], Port()] = 8080
    mode: Annotated[int, Mode()] = 0o755
    names: Annotated[tuple[str, ...], Each(Identifier(), of="names")] = ()
    health_path: Annotated[str | None, StartsWith("/")] = None
    labels: Annotated[Mapping[str, str], Keys(NonEmpty()), Values(InstanceOf(str))] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate(self)


def test_values_are_normalised_and_stored_on_a_frozen_dataclass() -> None:
    site = Site("/srv//web/", names=["app"])  # type: ignore[arg-type]
    assert site.root == "/srv/web"
    assert site.names == ("app",)


def test_the_error_names_class_and_field_and_checks_in_field_order() -> None:
    with pytest.raises(ScoreValueError, match=r"^Site.root must be an absolute path, got 'srv'$"):
        Site("srv", port=0)
    with pytest.raises(ScoreValueError, match=r"^Site.port must be a port number between 1 and 65535, got 0$"):
        Site("/srv", port=0)
    with pytest.raises(ScoreValueError, match=r"^Site.mode=644 looks like a decimal number: did you mean 0o644\?$"):
        Site("/srv", mode=644)
    with pytest.raises(ScoreValueError, match=r"^Site.names\[1\] must be lower-case letters, .* got 'Bad'$"):
        Site("/srv", names=("ok", "Bad"))
    with pytest.raises(ScoreValueError, match=r"^Site.labels key must be a non-empty string, got ''$"):
        Site("/srv", labels={"": "x"})
    with pytest.raises(ScoreValueError, match=r"^Site.labels\['a'\] must be a str, got int$"):
        Site("/srv", labels={"a": 1})  # type: ignore[dict-item]


def test_none_skips_the_validators_of_a_field_that_admits_it() -> None:
    assert Site("/srv").health_path is None
    with pytest.raises(ScoreValueError, match="health_path must start with '/'"):
        Site("/srv", health_path="health")


def test_a_ref_is_checked_once_the_maestro_resolves_it() -> None:
    port = ServerScore("/nowhere/s.json", 1, Secret("p")).named("db").output().map(lambda endpoint: endpoint.port)
    site = Site("/srv", port=port)
    assert site.port is port  # known after apply: nothing to check yet
    with pytest.raises(ScoreValueError, match="Site.port must be a port number"):
        substitute(site, lambda ref: ref.value_from(Endpoint("127.0.0.1", 0, Secret("p"))))
    assert substitute(site, lambda ref: ref.value_from(Endpoint("127.0.0.1", 5432, Secret("p")))).port == 5432


def test_replace_validates_again() -> None:
    with pytest.raises(ScoreValueError, match="Site.port"):
        replace(Site("/srv"), port=70000)


def test_a_prefix_replaces_the_class_name() -> None:
    @dataclass(frozen=True)
    class App:
        name: str
        replicas: Annotated[int, Count()]

        def __post_init__(self) -> None:
            validate(self, prefix=f"application {self.name}:")

    with pytest.raises(ScoreValueError, match=r"^application shop: replicas must be a positive int, got 0$"):
        App("shop", 0)


def test_validate_refuses_what_it_cannot_read() -> None:
    with pytest.raises(TypeError, match="checks dataclasses"):
        validate(object())


@pytest.mark.parametrize(
    ("validator", "value", "reason"),
    [
        (Count(), True, "must be a positive int, got True"),
        (Count(minimum=0), -1, "must be a non-negative int, got -1"),
        (Count(minimum=13), 9, "must be an int of at least 13, got 9"),
        (Duration(), 0, "must be positive, got 0"),
        (Duration(minimum_s=0), -1, "must not be negative, got -1"),
        (Duration(minimum_s=0.001), 0, "must be at least 0.001 s, got 0"),
        (Between(0, 1), 2, "must be between 0 and 1, got 2"),
        (OneOf("a", "b", "c"), "d", "must be 'a', 'b' or 'c', got 'd'"),
        (NotIn({"port"}, "it is managed"), "port", "must not be 'port': it is managed"),
        (DnsLabel(), "Not_A_Label", "must be a DNS label (lowercase letters, digits and '-', at most 63), got 'Not_A_Label'"),
        (DnsLabel(), "a" * 64, "must be a DNS label"),
        (ImageReference(), "two words", "must be an image reference such as 'web:1.2', got 'two words'"),
        (IpAddress(), "nowhere", "must be an IP address, got 'nowhere'"),
        (IpNetwork(), "10.0.0.0/33", "must be an IP network such as '10.0.0.0/8', got '10.0.0.0/33'"),
        (InstanceOf(str, Secret), 3, "must be a str or Secret, got int"),
        (InstanceOf(int), True, "must be an int, got bool"),
        (Strings(), "ls -l", "must be a tuple of strings, got 'ls -l'"),
        (NonEmpty(), "  ", "must be a non-empty string, got '  '"),
        (AbsolutePath(), "/", "must not be the root directory"),
        (Mode(), 0o17777, "must be between 0o0 and 0o7777, got 8191"),
    ],
)
def test_each_validator_says_what_the_value_must_be(validator: Validator, value: object, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        validator(value)
    assert caught.value.reason.startswith(reason)


def test_a_secret_value_is_never_shown() -> None:
    with pytest.raises(ScoreValueError) as caught:
        ContainerSpec("web", "web:1", env={"TOKEN": 12345})  # type: ignore[dict-item]
    assert str(caught.value) == "ContainerSpec.env['TOKEN'] must be a str or Secret, got int"
    with pytest.raises(ScoreValueError) as plain:
        PgUser("app", "hunter2")  # type: ignore[arg-type]
    assert "hunter2" not in str(plain.value)


# -- the converted classes keep their promises --------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Mount("relative", "/in"), "Mount.source must be an absolute path, got 'relative'"),
        (lambda: PublishedPort(80, 0), "Port.host must be a port number between 1 and 65535, got 0"),
        (lambda: HealthCheck(("wget", "")), "HealthCheck.command must be a shell string or a non-empty tuple"),
        (lambda: HealthCheck("true", retries=0), "HealthCheck.retries must be a positive int, got 0"),
        (lambda: ContainerSpec("x", "web:1"), "ContainerSpec.name must be a container name"),
        (lambda: ContainerSpec("web", "web:1", restart_policy="sometimes"), "ContainerSpec.restart_policy must be 'no', "),  # type: ignore[arg-type]
        (lambda: Frontend("no/slash", 80), "Frontend.service must be letters, digits, '_' or '-', got 'no/slash'"),
        (lambda: Frontend("web", 80, address="localhost"), "Frontend.address must be an IP address, got 'localhost'"),
        (lambda: AppSpec("shop-web", "shop:1", (), 0, 80, "/"), "application shop-web: replicas must be a positive int, got 0"),
        (lambda: UpdatePolicy(order="sideways"), "UpdatePolicy.order must be 'start-first' or 'stop-first', got 'sideways'"),  # type: ignore[arg-type]
        (lambda: PostgreSQLScore("app", users=["ok", 3]), "PostgreSQLScore.users[1] must be a name or a PgUser, got 3"),  # type: ignore[list-item]
        (lambda: PostgreSQLScore("app", settings={"port": "1"}), "PostgreSQLScore.settings key must not be 'port': it is managed by harmony_py"),
        (lambda: PostgreSQLScore("app", listen_addresses=()), "PostgreSQLScore.listen_addresses must not be empty"),
        (lambda: K8sDeploymentScore("web", "shop", "nginx", env={"A": 1}), "K8sDeploymentScore.env['A'] must be a str, got int"),  # type: ignore[dict-item]
    ],
)
def test_the_converted_classes_refuse_bad_values_with_one_clear_error(build: object, message: str) -> None:
    with pytest.raises(ScoreValueError) as caught:
        build()  # type: ignore[operator]
    assert str(caught.value).startswith(message)


def test_postgresql_users_given_by_name_become_pg_users() -> None:
    score = PostgreSQLScore("app", databases=["app"], users=["app", PgUser("reports", databases=("app",))])
    assert [user.name for user in score.pg_users] == ["app", "reports"]
    assert score.config.users[1].databases == ("app",)
