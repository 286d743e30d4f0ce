"""ReplicatedServiceScore on localhost: real engine, real nginx, a client sending requests throughout."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from capabilities import Backend, Frontend, LoadBalancerError
from harmony_py import Maestro, RunReport, ScoreState
from harmony_py.scores import ReplicatedServiceScore, UpdatePolicy
from topologies import LocalhostTopology

from .conftest import IMAGE, Engine, free_port, free_range
from .load import LoadClient, get


def web(service: str, tag: str, replicas: int, port: int, ports: range, **extra: Any) -> ReplicatedServiceScore:
    policy = extra.pop("update", UpdatePolicy(monitor_s=10, drain_timeout_s=5))
    return ReplicatedServiceScore(
        service,
        f"{IMAGE}:{tag}",
        replicas,
        port,
        backend_ports=ports,
        health_interval_s=0.2,
        stop_grace_s=2,
        update=policy,
        **extra,
    )


def apply(host: LocalhostTopology, score: ReplicatedServiceScore) -> RunReport:
    return anyio.run(Maestro(host).add(score).apply)


def plan(host: LocalhostTopology, score: ReplicatedServiceScore) -> RunReport:
    return anyio.run(Maestro(host).add(score).plan)


def state(report: RunReport) -> ScoreState:
    print(f"{report.scores[0].state}: {report.scores[0].message}")  # shown when a test fails
    return report.scores[0].state


def versions(port: int, count: int = 12) -> set[str]:
    answers = {get(port) for _ in range(count)}
    assert all(status == 200 for status, _ in answers), answers
    return {body for _, body in answers}


def replica_ids(engine: Engine, service: str) -> dict[str, str]:
    found = engine.client.containers.list(filters={"label": f"io.harmony.service={service}"})
    return {container.name: container.id for container in found}


@pytest.fixture
def services(host: LocalhostTopology, clean_engine: Engine) -> Iterator[list[str]]:
    """Names of balanced services the test creates; they stop being served afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        anyio.run(lambda: host.load_balancer().remove(name, drain_timeout_s=2))


def test_update_without_downtime_then_automatic_rollback(host: LocalhostTopology, services: list[str]) -> None:
    services.append("web")
    port, ports = free_port(), free_range(20)
    v1 = web("web", "v1", 3, port, ports)
    assert state(apply(host, v1)) is ScoreState.CHANGED
    assert versions(port) == {"v1"}
    assert state(apply(host, v1)) is ScoreState.UNCHANGED
    assert plan(host, v1).scores[0].changes == ()

    with LoadClient(port) as load:
        assert state(apply(host, web("web", "v2", 3, port, ports))) is ScoreState.CHANGED
    assert load.failures == [] and load.requests > 0
    assert versions(port) == {"v2"}
    assert state(apply(host, web("web", "v2", 3, port, ports))) is ScoreState.UNCHANGED

    with LoadClient(port) as load:
        report = apply(host, web("web", "v3", 3, port, ports, health_start_period_s=1))  # unhealthy 1.6 s after its start
    assert state(report) is ScoreState.FAILED
    assert "rolled back" in report.scores[0].message and "is unhealthy" in report.scores[0].message
    assert load.failures == [] and set(load.answers) <= {"v2"}
    assert versions(port) == {"v2"}
    # The balancer points only at the three healthy v2 replicas, and a re-apply of v2 changes nothing.
    served = anyio.run(host.load_balancer().service, "web")
    assert served is not None and len(served.backends) == 3
    assert state(apply(host, web("web", "v2", 3, port, ports))) is ScoreState.UNCHANGED


def test_rollback_restores_replicas_already_replaced(
    host: LocalhostTopology, services: list[str], clean_engine: Engine
) -> None:
    services.append("api")
    port, ports = free_port(), free_range(20)
    assert state(apply(host, web("api", "v1", 2, port, ports))) is ScoreState.CHANGED
    before = replica_ids(clean_engine, "api")
    # v2's second new replica (on the fourth port) never turns healthy: the first was already swapped in.
    failing_second = f'wget -q -O /dev/null http://127.0.0.1:$PORT/health && test "$PORT" != {ports[3]}'
    with LoadClient(port) as load:
        report = apply(host, web("api", "v2", 2, port, ports, health_command=failing_second, health_start_period_s=1))
    assert state(report) is ScoreState.FAILED and "rolled back" in report.scores[0].message
    assert load.failures == [] and "v2" in load.answers
    assert versions(port) == {"v1"}
    assert replica_ids(clean_engine, "api") == before


def test_scaling_leaves_running_replicas_alone(
    host: LocalhostTopology, services: list[str], clean_engine: Engine
) -> None:
    services.append("scale")
    port, ports = free_port(), free_range(20)
    apply(host, web("scale", "v1", 2, port, ports))
    two = replica_ids(clean_engine, "scale")
    with LoadClient(port) as load:
        assert state(apply(host, web("scale", "v1", 3, port, ports))) is ScoreState.CHANGED
        three = replica_ids(clean_engine, "scale")
        assert len(three) == 3 and two.items() <= three.items()
        assert state(apply(host, web("scale", "v1", 1, port, ports))) is ScoreState.CHANGED
    assert load.failures == []
    one = replica_ids(clean_engine, "scale")
    assert len(one) == 1 and one.items() <= three.items()
    assert state(apply(host, web("scale", "v1", 1, port, ports))) is ScoreState.UNCHANGED


SICK_SCORE_FILE = """
import os
from harmony_py import Maestro
from harmony_py.scores import ReplicatedServiceScore, UpdatePolicy
from topologies import LocalhostTopology

host = LocalhostTopology(docker_host=os.environ["T_DOCKER"], balancer_root=os.environ["T_NGINX"])
maestro = Maestro(host).add(
    ReplicatedServiceScore(
        "bad", "harmony-test/web:v1", 2, {port}, backend_ports=range({start}, {stop}),
        health_command=("no-such-program",), health_interval_s=0.2, stop_grace_s=2,
        update=UpdatePolicy(monitor_s=10, drain_timeout_s=5),
    )
)
"""


def test_bad_values_leave_running_replicas_untouched(
    host: LocalhostTopology, services: list[str], clean_engine: Engine, tmp_path: Path
) -> None:
    services.append("bad")
    port, ports = free_port(), free_range(20)
    apply(host, web("bad", "v1", 2, port, ports))
    before = replica_ids(clean_engine, "bad")

    unknown = apply(host, web("bad", "v9", 2, port, ports))
    assert state(unknown) is ScoreState.FAILED and "not in the local image store" in unknown.scores[0].message

    # Through the command line, as a user runs it: a non-zero exit with the reason.
    score_file = tmp_path / "sick.py"
    score_file.write_text(SICK_SCORE_FILE.format(port=port, start=ports.start, stop=ports.stop))
    done = subprocess.run(
        [sys.executable, "-m", "harmony_py", "apply", "--yes", "--json", str(score_file)],
        capture_output=True,
        text=True,
        env={**os.environ, "T_DOCKER": clean_engine.socket, "T_NGINX": host.balancer_root},
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "rolled back" in done.stdout and "no-such-program" in done.stdout

    with socket.socket() as holder:  # the port the next replica would get
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", ports[2]))
        holder.listen()
        taken = apply(host, web("bad", "v2", 2, port, ports))
    assert state(taken) is ScoreState.FAILED
    assert "rolled back" in taken.scores[0].message and "Address already in use" in taken.scores[0].message

    assert replica_ids(clean_engine, "bad") == before
    assert versions(port) == {"v1"}


def test_a_configuration_nginx_cannot_apply_is_never_activated(
    host: LocalhostTopology, services: list[str]
) -> None:
    services += ["first", "second"]
    good, other = free_port(), free_port()
    balancer = host.load_balancer()
    with socket.socket() as server:
        backend = Backend("127.0.0.1", free_port())
        server.bind((backend.address, backend.port))
        server.listen()
        anyio.run(lambda: balancer.balance(Frontend("first", good), [backend], drain_timeout_s=2))
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", other))
            holder.listen()
            # nginx -t accepts it (it does not bind); the reload cannot: the port is taken.
            with pytest.raises(LoadBalancerError, match="kept its previous configuration"):
                anyio.run(lambda: balancer.balance(Frontend("second", other), [backend], drain_timeout_s=2))
        assert anyio.run(balancer.service, "second") is None
        served = anyio.run(balancer.service, "first")
        assert served is not None and served.backends == (backend,)
        # A configuration nginx -t refuses (here a service file broken by hand) is not even tried.
        first_conf = Path(host.balancer_root) / "services" / "first.conf"
        kept = first_conf.read_bytes()
        first_conf.write_bytes(kept + b"this is not nginx;\n")
        with pytest.raises(LoadBalancerError, match="nginx refused the new configuration.*unknown directive"):
            anyio.run(lambda: balancer.balance(Frontend("second", other), [backend], drain_timeout_s=2))
        first_conf.write_bytes(kept)
        assert anyio.run(balancer.service, "second") is None
    services.remove("second")


def test_stop_first_update_keeps_serving_from_the_other_replicas(
    host: LocalhostTopology, services: list[str], clean_engine: Engine
) -> None:
    services.append("sf")
    port, ports = free_port(), free_range(20)
    policy = UpdatePolicy(order="stop-first", monitor_s=10, drain_timeout_s=5)
    apply(host, web("sf", "v1", 2, port, ports, update=policy))
    with LoadClient(port) as load:
        assert state(apply(host, web("sf", "v2", 2, port, ports, update=policy))) is ScoreState.CHANGED
    assert load.failures == []
    assert versions(port) == {"v2"}
    assert len(replica_ids(clean_engine, "sf")) == 2


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"replicas": -1}, "replicas must be a non-negative int"),
        ({"env": {"PORT": "80"}}, "must not set PORT"),
        ({"health_path": "health"}, "health_path must start with '/'"),
        ({"port": 20005}, "lies inside backend_ports"),
        ({"image": "two words"}, "image must be an image reference"),
        ({"service": "no/slash"}, "Frontend.service must be"),
        ({"update": "fast"}, "update must be an UpdatePolicy"),
    ],
)
def test_bad_score_values_are_refused_when_built(change: dict[str, Any], complaint: str) -> None:
    from harmony_py import ScoreValueError

    values: dict[str, Any] = {"service": "web", "image": "web:1", "replicas": 2, "port": 8080, **change}
    with pytest.raises(ScoreValueError, match=complaint):
        ReplicatedServiceScore(**values)


def test_bad_update_policy_values_are_refused() -> None:
    from harmony_py import ScoreValueError

    with pytest.raises(ScoreValueError, match="parallelism must be a positive int"):
        UpdatePolicy(parallelism=0)
    with pytest.raises(ScoreValueError, match="max_failure_ratio must be between 0 and 1"):
        UpdatePolicy(max_failure_ratio=2)
    with pytest.raises(ScoreValueError, match="order must be"):
        UpdatePolicy(order="sideways")  # type: ignore[arg-type]
