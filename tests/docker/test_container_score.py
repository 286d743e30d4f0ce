"""ContainerScore: created once, NOOP after, recreated only on a real difference."""

from __future__ import annotations

import socket
from dataclasses import replace

import anyio
from hypothesis import HealthCheck as HypothesisHealthCheck
from hypothesis import given, settings
from hypothesis import strategies as st

from capabilities import ContainerSpec, HealthCheck
from harmony_py import Maestro, RunReport, ScoreState, Secret
from harmony_py.scores import ContainerScore
from topologies import DockerTopology

from .conftest import IMAGE, Engine, free_port
from .test_docker_topology import web


def apply(topology: DockerTopology, *scores: ContainerScore) -> RunReport:
    return anyio.run(Maestro(topology).add(*scores).apply)


def plan(topology: DockerTopology, *scores: ContainerScore) -> RunReport:
    return anyio.run(Maestro(topology).add(*scores).plan)


def states(report: RunReport) -> list[ScoreState]:
    return [score.state for score in report.scores]


def container_id(engine: Engine, name: str) -> str:
    return str(engine.client.containers.get(name).id)


def test_create_then_noop_then_recreate_on_change(docker_topology: DockerTopology, clean_engine: Engine) -> None:
    port = free_port()
    score = ContainerScore(web("app", port), ready_timeout_s=30)
    assert states(apply(docker_topology, score)) == [ScoreState.CHANGED]
    first = container_id(clean_engine, "app")
    assert states(apply(docker_topology, score)) == [ScoreState.UNCHANGED]
    assert plan(docker_topology, score).scores[0].changes == ()
    assert container_id(clean_engine, "app") == first

    changed = ContainerScore(web("app", port, tag="v2"), ready_timeout_s=30)
    pending = plan(docker_topology, changed)
    assert "image 'harmony-test/web:v1' -> 'harmony-test/web:v2'" in pending.scores[0].changes[0].summary
    assert states(apply(docker_topology, changed)) == [ScoreState.CHANGED]
    assert container_id(clean_engine, "app") != first
    assert states(apply(docker_topology, changed)) == [ScoreState.UNCHANGED]


def test_a_stopped_container_is_started_again(docker_topology: DockerTopology, clean_engine: Engine) -> None:
    score = ContainerScore(web("stops", free_port()), ready_timeout_s=30)
    apply(docker_topology, score)
    clean_engine.client.containers.get("stops").stop(timeout=0)
    assert "it is exited" in plan(docker_topology, score).scores[0].changes[0].summary
    assert states(apply(docker_topology, score)) == [ScoreState.CHANGED]
    assert clean_engine.client.containers.get("stops").status == "running"


def test_secret_env_never_shown(docker_topology: DockerTopology, clean_engine: Engine) -> None:
    port = free_port()
    base = web("secretive", port)
    one = ContainerScore(replace(base, env={"PORT": str(port), "TOKEN": Secret("hunter2")}))
    two = ContainerScore(replace(base, env={"PORT": str(port), "TOKEN": Secret("swordfish")}))
    reports = [apply(docker_topology, one), plan(docker_topology, two), apply(docker_topology, two)]
    said = repr(reports)
    assert "hunter2" not in said and "swordfish" not in said
    assert "env TOKEN changed" in said
    labels = clean_engine.client.containers.get("secretive").labels
    assert "swordfish" not in repr(labels)
    assert "TOKEN=swordfish" in clean_engine.client.containers.get("secretive").attrs["Config"]["Env"]


def test_unknown_image_leaves_the_running_container(docker_topology: DockerTopology, clean_engine: Engine) -> None:
    port = free_port()
    apply(docker_topology, ContainerScore(web("keeper", port)))
    before = container_id(clean_engine, "keeper")
    report = apply(docker_topology, ContainerScore(web("keeper", port, tag="missing")))
    assert states(report) == [ScoreState.FAILED]
    assert "harmony-test/web:missing" in report.scores[0].message
    assert "not in the local image store" in report.scores[0].message
    assert container_id(clean_engine, "keeper") == before


def test_port_taken_is_a_clear_error(docker_topology: DockerTopology, clean_engine: Engine) -> None:
    with socket.socket() as holder:
        port = free_port()
        holder.bind(("127.0.0.1", port))
        holder.listen()
        report = apply(docker_topology, ContainerScore(web("clash", port), ready_timeout_s=30))
    assert states(report) == [ScoreState.FAILED]
    message = report.scores[0].message
    assert "clash exited with status" in message and "Address already in use" in message
    # Nothing half-applied: the failed container is gone, a re-run starts clean.
    assert clean_engine.client.containers.list(all=True, filters={"name": "clash"}) == []


def test_invalid_health_command_is_a_clear_error(docker_topology: DockerTopology, clean_engine: Engine) -> None:
    spec = ContainerSpec(
        name="nohealth",
        image=f"{IMAGE}:v1",
        env={"PORT": str(free_port())},
        network="host",
        health=HealthCheck("exit 3", interval_s=0.1, retries=1),
    )
    report = apply(docker_topology, ContainerScore(spec))
    assert states(report) == [ScoreState.FAILED]
    assert "nohealth is unhealthy: exit 3" in report.scores[0].message


def test_foreign_container_is_not_touched(docker_topology: DockerTopology, clean_engine: Engine) -> None:
    clean_engine.client.containers.create(f"{IMAGE}:v1", name="theirs", network_mode="none")
    report = apply(docker_topology, ContainerScore(web("theirs", 1)))
    assert states(report) == [ScoreState.FAILED]
    assert "harmony_py did not create" in report.scores[0].message


@settings(max_examples=4, deadline=None, suppress_health_check=list(HypothesisHealthCheck))
@given(
    env=st.dictionaries(st.sampled_from(["A", "B", "MODE"]), st.text("abc xyz-=$'\"", max_size=8), max_size=2),
    restart=st.sampled_from(["no", "unless-stopped"]),
)
def test_idempotent_for_any_spec(
    docker_topology: DockerTopology, clean_engine: Engine, env: dict[str, str], restart: str
) -> None:
    port = free_port()
    spec = ContainerSpec(
        name="prop",
        image=f"{IMAGE}:v1",
        env={**env, "PORT": str(port)},
        network="host",
        restart_policy=restart,  # type: ignore[arg-type]
        init=True,
    )
    score = ContainerScore(spec)
    assert states(apply(docker_topology, score)) in ([ScoreState.CHANGED], [ScoreState.UNCHANGED])
    assert states(apply(docker_topology, score)) == [ScoreState.UNCHANGED]
    assert plan(docker_topology, score).scores[0].changes == ()
