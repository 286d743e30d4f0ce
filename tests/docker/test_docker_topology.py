"""DockerTopology and Docker on localhost against the suite's own engine."""

from __future__ import annotations

import sys
import subprocess

import anyio
import pytest

from capabilities import ContainerError, ContainerSpec, Docker, DockerWithLoadBalancer, HealthCheck, ImageNotFoundError
from harmony_py import Maestro, MissingCapabilityError, capability_gaps
from harmony_py.capability_check import member_gaps
from harmony_py.scores import ContainerScore
from topologies import DockerTopology, LocalhostTopology
from topologies.balancer.nginx import NginxBalancer

from .conftest import IMAGE, Engine, free_port


def web(name: str, port: int, tag: str = "v1", **extra: object) -> ContainerSpec:
    return ContainerSpec(
        name=name,
        image=f"{IMAGE}:{tag}",
        env={"PORT": str(port)},
        network="host",
        init=True,
        labels={"test": "yes"},
        health=HealthCheck(("wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{port}/health"), interval_s=0.2),
        **extra,  # type: ignore[arg-type]
    )


def test_engine_lifecycle(docker_topology: DockerTopology, clean_engine: Engine) -> None:
    async def main() -> None:
        report = await docker_topology.ensure_ready()
        assert report.facts["docker.version"]
        engine = docker_topology.docker()
        assert docker_topology.docker() is engine  # one service per topology object
        assert await engine.image_id(f"{IMAGE}:v1") is not None
        assert await engine.image_id(f"{IMAGE}:nope") is None
        port = free_port()
        started = await engine.run_container(web("life", port))
        assert started.running and started.labels["test"] == "yes"
        healthy = await engine.wait_healthy("life", timeout_s=30)
        assert healthy.health == "healthy"
        assert [info.name for info in await engine.list_containers({"test": "yes"})] == ["life"]
        assert await engine.list_containers({"test": "no"}) == []
        await engine.stop_container("life", timeout_s=5)
        stopped = await engine.inspect_container("life")
        assert stopped is not None and not stopped.running
        again = await engine.start_container("life")
        assert again.running
        await engine.remove_container("life")
        await engine.remove_container("life")  # absent is not an error
        assert await engine.inspect_container("life") is None

    anyio.run(main)


def test_unknown_image_is_a_clear_error(docker_topology: DockerTopology) -> None:
    with pytest.raises(ImageNotFoundError, match="not in the local image store.*pulling is off"):
        anyio.run(docker_topology.docker().run_container, web("ghost", 1, tag="missing"))


def test_invalid_health_command_names_the_cause(docker_topology: DockerTopology, clean_engine: Engine) -> None:
    spec = ContainerSpec(
        name="sick",
        image=f"{IMAGE}:v1",
        env={"PORT": str(free_port())},
        network="host",
        health=HealthCheck(("no-such-program",), interval_s=0.1, retries=1),
    )

    async def main() -> None:
        await docker_topology.docker().run_container(spec)
        await docker_topology.docker().wait_healthy("sick", timeout_s=30)

    with pytest.raises(ContainerError, match="sick is unhealthy.*no-such-program"):
        anyio.run(main)


def test_ensure_ready_without_engine_is_not_ready(tmp_path: object) -> None:
    from harmony_py import TopologyNotReadyError

    with pytest.raises(TopologyNotReadyError, match="no Docker engine answers"):
        anyio.run(DockerTopology(f"{tmp_path}/absent.sock").ensure_ready)


def test_localhost_has_docker_only_when_an_engine_answers(host: LocalhostTopology, tmp_path: object) -> None:
    assert capability_gaps(host, Docker) == []
    without = LocalhostTopology(docker_host=f"{tmp_path}/absent.sock")
    gaps = capability_gaps(without, Docker)
    assert len(gaps) == 1 and "no Docker engine answers" in gaps[0]
    maestro = Maestro(without).add(ContainerScore(web("never", 1)))
    with pytest.raises(MissingCapabilityError, match="requires capability Docker.*no Docker engine answers"):
        anyio.run(maestro.prepare)


def test_importing_harmony_py_does_not_import_the_sdk() -> None:
    code = "import harmony_py, harmony_py.scores, capabilities, topologies, sys; print('docker' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_hosts_hold_one_engine_each_and_a_balancer_on_their_runner(tmp_path: object) -> None:
    local = LocalhostTopology(docker_host=f"{tmp_path}/e.sock", balancer_root=f"{tmp_path}/nginx")
    assert local.docker() is local.docker()  # made once per topology object, not per call
    assert local.docker().address.where() == f"unix://{tmp_path}/e.sock"
    balancer = local.load_balancer()
    assert isinstance(balancer, NginxBalancer)
    assert balancer.runner is local.command_runner() and balancer.root == f"{tmp_path}/nginx"
    engine = DockerTopology(f"{tmp_path}/e.sock")
    assert engine.docker() is engine.docker() and engine.docker() is not DockerTopology(engine.base_url).docker()
    # What the classes provide is structural; only the engine answering is a run-time condition.
    assert member_gaps(local, DockerWithLoadBalancer) == [] and member_gaps(engine, Docker) == []
    assert member_gaps(engine, DockerWithLoadBalancer) == ["LoadBalancer (missing load_balancer)"]
