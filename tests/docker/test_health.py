"""Health is part of what a plan observes, for containers and replicated services (real engine, real nginx).

A container or replica that runs but whose health check fails is a pending
recreate or replacement, named with its last check and output; an apply that
cannot make it healthy fails with the container's last output, secrets masked;
a plan right after a successful apply is empty.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest

from capabilities import HealthCheck, Mount
from harmony_py import Maestro, RunReport, ScoreState, Secret
from harmony_py.score import Score
from harmony_py.scores import ContainerScore, UpdatePolicy
from harmony_py.scores.container import labelled
from tests.ports import free_port
from topologies import DockerTopology, LocalhostTopology

from .conftest import Engine, free_range
from .load import LoadClient
from .test_docker_topology import web
from .test_replicated_service import replica_ids
from .test_replicated_service import web as replicated

TOKEN = "tok-61c0ffee"
QUIET_HTTPD = 'echo "starting with token $TOKEN"; exec httpd -f -p 127.0.0.1:"$PORT" -h /www'
NOT_FOUND = "exit 1: wget: server returned error: HTTP/1.1 404 Not Found"
RESPONSE = r"127\.0\.0\.1:\d+: response:{status}"
"""A request line of httpd -v (its client's port differs each time)."""


def low_port() -> int:
    """A free port below the kernel's ephemeral range, outside the replicas' backend ports."""
    return free_port()


def run(topology: DockerTopology | LocalhostTopology, operation: str, score: Score[Any]) -> RunReport:
    maestro = Maestro(topology).add(score)
    report = anyio.run(maestro.apply if operation == "apply" else maestro.plan)
    print(f"{operation}: {report.scores[0].state}: {report.scores[0].message} {report.scores[0].changes}")
    return report


def summaries(report: RunReport) -> list[str]:
    return [change.summary for change in report.scores[0].changes]


def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def health(engine: Engine, name: str) -> str | None:
    status: str | None = engine.client.api.inspect_container(name)["State"].get("Health", {}).get("Status")
    return status


def test_a_container_whose_health_check_starts_failing_is_a_pending_recreate_and_is_recreated(
    docker_topology: DockerTopology, clean_engine: Engine
) -> None:
    score = ContainerScore(web("turns", low_port()), ready_timeout_s=30)
    assert run(docker_topology, "apply", score).scores[0].state is ScoreState.CHANGED
    assert summaries(run(docker_topology, "plan", score)) == []  # healthy: nothing to do

    clean_engine.client.containers.get("turns").exec_run(["busybox", "rm", "/www/health"])
    wait_for(lambda: health(clean_engine, "turns") == "unhealthy", "the engine to find it unhealthy")
    [pending] = summaries(run(docker_topology, "plan", score))
    expected = f"recreate container turns: it runs but is unhealthy (last check: {NOT_FOUND}; last output: ZZZ)"
    assert re.fullmatch(re.escape(expected).replace("ZZZ", RESPONSE.format(status=404)), pending), pending
    assert run(docker_topology, "apply", score).scores[0].state is ScoreState.CHANGED  # a new one, from the image
    assert summaries(run(docker_topology, "plan", score)) == []


def test_a_container_that_never_turns_healthy_fails_with_its_last_output_secrets_masked(
    docker_topology: DockerTopology, clean_engine: Engine
) -> None:
    port = low_port()
    spec = replace(
        web("never", port, tag="v3"),  # v3 has no /health
        command=("sh", "-c", QUIET_HTTPD),
        env={"PORT": str(port), "TOKEN": Secret(TOKEN)},
    )
    report = run(docker_topology, "apply", ContainerScore(spec, ready_timeout_s=30))
    assert report.scores[0].state is ScoreState.FAILED
    message = report.scores[0].message
    assert f"never is unhealthy: {NOT_FOUND}; its last output: starting with token ********" in message
    assert TOKEN not in repr(report)


def test_a_container_whose_check_has_not_passed_yet_is_waited_for_not_reported_unchanged(
    docker_topology: DockerTopology, clean_engine: Engine
) -> None:
    """As an interrupted apply leaves it: created as the spec says, its health still "starting"."""
    port = low_port()
    check = HealthCheck(f"test -f /tmp/ready && wget -q -O /dev/null http://127.0.0.1:{port}/health", interval_s=0.2, retries=100_000)
    score = ContainerScore(replace(web("slow", port), health=check), ready_timeout_s=1)
    anyio.run(docker_topology.docker().run_container, labelled(score.spec))
    before = clean_engine.client.containers.get("slow").id
    wait_for(lambda: bool(clean_engine.client.api.inspect_container("slow")["State"]["Health"]["Log"]), "a first check")

    assert summaries(run(docker_topology, "plan", score)) == [
        "wait for container slow: it runs but its health check has not passed yet (last check: exit 1)"
    ]
    failed = run(docker_topology, "apply", score)
    assert failed.scores[0].state is ScoreState.FAILED
    assert "slow did not become healthy within 1 s (health: starting; last check: exit 1); it printed nothing" in failed.scores[0].message

    clean_engine.client.containers.get("slow").exec_run(["busybox", "touch", "/tmp/ready"])
    wait_for(lambda: health(clean_engine, "slow") == "healthy", "its check to pass")
    assert run(docker_topology, "apply", score).scores[0].state is ScoreState.UNCHANGED
    assert clean_engine.client.containers.get("slow").id == before  # waited for, never recreated


@pytest.fixture
def service(host: LocalhostTopology, clean_engine: Engine) -> Iterator[list[str]]:
    """Names of balanced services the test creates; they stop being served afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        anyio.run(lambda: host.load_balancer().remove(name, drain_timeout_s=2))


def test_a_replica_that_turns_unhealthy_after_a_deploy_is_a_pending_replacement_and_is_replaced(
    host: LocalhostTopology, clean_engine: Engine, service: list[str]
) -> None:
    service.append("heal")
    port = low_port()
    score = replicated("heal", "v1", 2, port, free_range(20))
    assert run(host, "apply", score).scores[0].state is ScoreState.CHANGED
    assert summaries(run(host, "plan", score)) == []

    sick, kept = sorted(replica_ids(clean_engine, "heal"))
    clean_engine.client.containers.get(sick).exec_run(["busybox", "rm", "/www/health"])
    wait_for(lambda: health(clean_engine, sick) == "unhealthy", "the engine to find the replica unhealthy")
    removal, start = sorted(summaries(run(host, "plan", score)))
    expected = f"remove replica {sick}: it runs but is unhealthy (last check: {NOT_FOUND}; last output: ZZZ)"
    assert re.fullmatch(re.escape(expected).replace("ZZZ", RESPONSE.format(status=404)), removal), removal
    assert start == "start 1 replica(s) of harmony-test/web:v1"
    with LoadClient(port) as load:
        assert run(host, "apply", score).scores[0].state is ScoreState.CHANGED
    assert load.failures == [] and load.requests > 0
    now = replica_ids(clean_engine, "heal")
    assert len(now) == 2 and kept in now and sick not in now
    assert summaries(run(host, "plan", score)) == []


def test_replicas_that_cannot_turn_healthy_fail_the_apply_naming_the_replica(
    host: LocalhostTopology, clean_engine: Engine, service: list[str], tmp_path: Path
) -> None:
    """Every replica's check needs a file of the host (a dependency): while it is gone, no replacement helps."""
    service.append("dep")
    flag = tmp_path / "flag"
    flag.mkdir()
    (flag / "ok").write_text("")
    port, ports = low_port(), free_range(20)
    score = replicated(
        "dep", "v1", 2, port, ports,
        health_command='test -f /flag/ok && wget -q -O /dev/null "http://127.0.0.1:$PORT/health"',
        mounts=(Mount(str(flag), "/flag"),),
        update=UpdatePolicy(monitor_s=10, drain_timeout_s=5),
        health_start_period_s=1,  # a new replica is found unhealthy 1.6 s after its start
    )  # fmt: skip
    assert run(host, "apply", score).scores[0].state is ScoreState.CHANGED
    before = sorted(replica_ids(clean_engine, "dep"))

    (flag / "ok").unlink()
    wait_for(lambda: all(health(clean_engine, name) == "unhealthy" for name in before), "both replicas to turn unhealthy")
    *removals, start = sorted(summaries(run(host, "plan", score)))
    for name, removal in zip(before, removals, strict=True):
        expected = f"remove replica {name}: it runs but is unhealthy (last check: exit 1; last output: ZZZ)"
        assert re.fullmatch(re.escape(expected).replace("ZZZ", RESPONSE.format(status=200)), removal), removal
    assert start == "start 2 replica(s) of harmony-test/web:v1"
    failed = run(host, "apply", score)
    assert failed.scores[0].state is ScoreState.FAILED
    message = failed.scores[0].message
    assert message.startswith("dep: a new replica of harmony-test/web:v1 did not become healthy: container dep-"), message
    assert "is unhealthy: exit 1; it printed nothing" in message and "rolled back" not in message

    (flag / "ok").write_text("")
    assert run(host, "apply", score).scores[0].state is ScoreState.CHANGED
    assert summaries(run(host, "plan", score)) == []


def test_a_replica_slower_to_answer_than_three_checks_is_given_its_start_period_and_deploys(
    host: LocalhostTopology, clean_engine: Engine, service: list[str], tmp_path: Path
) -> None:
    """Checks every 0.2 s with three retries: without a start period the replica is unhealthy after 0.6 s and
    the update rolls back; the start period lets a replica that answers after 2.5 s (a slow start) deploy."""
    service.append("slowstart")
    flag = tmp_path / "flag"
    flag.mkdir()
    port, ports = low_port(), free_range(20)
    score = replicated(
        "slowstart", "v1", 1, port, ports,
        health_command='test -f /flag/ok && wget -q -O /dev/null "http://127.0.0.1:$PORT/health"',
        mounts=(Mount(str(flag), "/flag"),),
        health_start_period_s=20,
    )  # fmt: skip
    answers = threading.Timer(2.5, (flag / "ok").write_text, args=("",))
    answers.start()
    try:
        assert run(host, "apply", score).scores[0].state is ScoreState.CHANGED
    finally:
        answers.cancel()
    [replica] = replica_ids(clean_engine, "slowstart")
    check = clean_engine.client.containers.get(replica).attrs["Config"]["Healthcheck"]
    assert check["StartPeriod"] == 20 * 1_000_000_000 and check["Interval"] == 200_000_000
    assert summaries(run(host, "plan", score)) == []
