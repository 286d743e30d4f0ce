"""The contract's rules that need no server: versions, names, secrets, identities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from capabilities.application import AppSpec, ApplicationPlatform
from capabilities.errors import ContractVersionError
from capabilities.postgresql import PostgreSQL, PostgreSQLCluster, PostgreSQLServer
from harmony_py import Maestro, MissingCapabilityError, ScoreState, ScoreValueError, Secret, provides
from harmony_py.capability_check import capability_gaps
from harmony_py.outputs import Ref
from harmony_py.scores import ApplicationScore, PostgreSQLDatabase
from topologies import ApplicationTopology, DockerTopology, FailoverTopology, LocalInstance, LocalhostTopology
from topologies.app.containers import ReplicatedContainers
from topologies.app.processes import SupervisedProcesses


def shop(**fields: object) -> ApplicationScore:
    return ApplicationScore("shop", image="shop:1", command=("python3", "server.py"), **fields)  # type: ignore[arg-type]


def test_a_platform_refuses_a_contract_version_it_cannot_honour_before_anything_changes(tmp_path: Path) -> None:
    host = LocalInstance("here", root=str(tmp_path / "pg"), apps_root=str(tmp_path / "apps"))
    report = anyio.run(Maestro(host).add(shop(contract=2, database=PostgreSQLDatabase(port=5999))).apply)
    by_identity = {score.identity: score for score in report.scores}
    refused = by_identity["shop.contract"]
    assert refused.state is ScoreState.FAILED
    assert "cannot honour application contract version 2 (it honours version 1)" in refused.message
    assert by_identity["shop.db"].state is ScoreState.SKIPPED and by_identity["shop.web"].state is ScoreState.SKIPPED
    assert "shop.contract" in by_identity["shop.web"].message
    assert not (tmp_path / "pg").exists() and not (tmp_path / "apps").exists()


async def test_the_runtime_refuses_it_too_when_called_directly(tmp_path: Path) -> None:
    host: ApplicationPlatform = LocalInstance("here", root=str(tmp_path / "pg"), apps_root=str(tmp_path / "apps"))
    with pytest.raises(ContractVersionError, match="contract version 3"):
        await host.application_runtime().deploy(AppSpec("shop-web", "shop:1", ("true",), 1, 8000, "/health", contract=3))


def test_parts_have_hierarchical_identities_and_the_url_is_a_secret_reference() -> None:
    parts = shop(secrets={"API_KEY": Secret("k")}).parts()
    assert [part.identity for part in parts] == ["contract", "db", "web"]
    web = parts[2]
    url = web.env["DATABASE_URL"]  # type: ignore[attr-defined]
    assert isinstance(url, Ref) and url.source == "db"
    assert web.env["API_KEY"] == Secret("k")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"secrets": {"API_KEY": "plain"}}, "must be a Secret"),
        ({"secrets": {"DATABASE_URL": Secret("x")}}, "DATABASE_URL set twice"),
        ({"replicas": 0}, "replicas must be a positive int"),
        ({"health_path": "health"}, "health_path must start with '/'"),
        ({"env": {"BAD-NAME": "x"}}, "env key must be an environment variable name"),
    ],
)
def test_bad_contracts_fail_when_written_with_one_clear_error(fields: dict[str, object], problem: str) -> None:
    with pytest.raises(ScoreValueError, match=problem):
        shop(**fields)


def test_no_database_means_no_database_url() -> None:
    parts = shop(database=None).parts()
    assert [part.identity for part in parts] == ["contract", "web"]
    assert "DATABASE_URL" not in parts[1].env  # type: ignore[attr-defined]


def test_a_topology_without_the_platform_is_refused_at_run_time_too() -> None:
    maestro = Maestro(DockerTopology()).add(shop())  # type: ignore[arg-type]
    with pytest.raises(MissingCapabilityError) as refused:
        maestro.check_capabilities()
    text = str(refused.value)
    assert "requires capability ApplicationRuntime" in text
    assert "ApplicationRuntime (missing application_runtime)" in text
    assert "requires capability PostgreSQL" in text and "PostgreSQL (missing postgresql)" in text

    docker_pair = FailoverTopology(DockerTopology(), DockerTopology())
    paired = ApplicationTopology(runtime=LocalInstance("here"), database=docker_pair)  # type: ignore[arg-type]
    with pytest.raises(MissingCapabilityError, match=r"database: primary: PostgreSQLServer \(missing postgresql\)"):
        Maestro(paired).add(shop()).check_capabilities()


def test_the_docker_runtime_without_an_engine_is_refused_before_anything_runs(tmp_path: Path) -> None:
    host = LocalInstance("here", root=str(tmp_path / "pg"), app_runtime="docker", docker_host=str(tmp_path / "none.sock"))
    with pytest.raises(MissingCapabilityError, match="applications run in containers here, but no Docker engine answers"):
        Maestro(host).add(shop()).check_capabilities()
    # The process runtime needs no engine.
    Maestro(LocalInstance("here", root=str(tmp_path / "pg"))).add(shop()).check_capabilities()


@pytest.mark.parametrize(("field", "value"), [("app_runtime", "podman"), ("app_address", "localhost:80")])
def test_a_bad_runtime_setting_fails_when_the_topology_is_written(field: str, value: str) -> None:
    with pytest.raises(ScoreValueError, match=field):
        LocalInstance("here", **{field: value})  # type: ignore[arg-type]


# -- how each host builds its runtime --------------------------------------------------


def test_a_host_runtime_is_built_on_the_host_it_belongs_to() -> None:
    host = LocalhostTopology()
    processes = host.application_runtime().apps
    assert isinstance(processes, SupervisedProcesses) and processes.runner is host.command_runner()
    containers_host = LocalhostTopology(app_runtime="docker", app_address="127.0.0.2")
    containers = containers_host.application_runtime().apps
    assert isinstance(containers, ReplicatedContainers) and containers.host is containers_host
    assert containers.address == "127.0.0.2"


@pytest.mark.parametrize(
    ("settings", "problem"),
    [({"app_runtime": "vm"}, "app_runtime must be 'process' or 'docker'"), ({"app_address": "here"}, "app_address must be an IP address")],
)
def test_localhost_refuses_bad_application_settings_when_it_is_made(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ScoreValueError, match=problem):
        LocalhostTopology(**settings)
def test_an_application_topology_is_postgresql_but_no_server_nor_cluster_at_run_time() -> None:
    """Its postgresql() is the database's plain PostgreSQLService, as mypy sees it: a refinement is refused."""
    pair = ApplicationTopology(runtime=LocalInstance("here"), database=FailoverTopology(LocalInstance("a"), LocalInstance("b", port_shift=1)))
    assert provides(pair, PostgreSQL)
    assert not provides(pair, PostgreSQLServer) and not provides(pair, PostgreSQLCluster)
    assert "postgresql() returns PostgreSQLService, lacking PostgreSQLClusterService" in capability_gaps(pair, PostgreSQLCluster)[0]
