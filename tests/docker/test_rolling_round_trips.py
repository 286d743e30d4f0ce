"""How often a rolling update and the balancer wait on the host: over SSH each wait is a round trip.

Real engine and nginx (as tests/docker), with the engine's and the balancer's
methods counted in place: a rolling update over SSH was 1.27-1.38x the same on
localhost, and these are the steps that cross SSH (issue 14, adr/0104).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from capabilities import Backend, Frontend
from capabilities.load_balancer import BalancedService
from harmony_py import Maestro, ScoreState
from harmony_py.scores import ReplicatedServiceScore, UpdatePolicy
from topologies import LocalhostTopology
from topologies.balancer.nginx import NginxBalancer, _parse_header, render_service
from topologies.docker.engine import DockerEngine
from topologies.host.local_runner import LocalCommandRunner

from .conftest import IMAGE, Engine, free_port, free_range
from .load import LoadClient


def counted(monkeypatch: pytest.MonkeyPatch, cls: type, name: str, calls: Counter[str]) -> None:
    """Count the calls of the async method ``cls.name``."""
    method = getattr(cls, name)

    @functools.wraps(method)
    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return await method(*args, **kwargs)

    monkeypatch.setattr(cls, name, counting)


class Waves:
    """Counts the times the caller waited on the host with nothing else in flight (sequential round trips)."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.count = 0

    def wrap(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        async def waiting(*args: Any, **kwargs: Any) -> Any:
            if self.in_flight == 0:
                self.count += 1
            self.in_flight += 1
            try:
                return await method(*args, **kwargs)
            finally:
                self.in_flight -= 1

        return waiting


def test_rolling_update_looks_at_the_balancer_once_and_lists_the_engine_once_before_verifying(
    host: LocalhostTopology, clean_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, ports = free_port(), free_range(8)

    def web(tag: str) -> ReplicatedServiceScore:
        return ReplicatedServiceScore(
            "trips", f"{IMAGE}:{tag}", 3, port, backend_ports=ports,
            health_interval_s=0.2, stop_grace_s=2, update=UpdatePolicy(monitor_s=10, drain_timeout_s=5),
        )  # fmt: skip

    balancer = host.load_balancer()
    try:
        assert anyio.run(Maestro(host).add(web("v1")).apply).scores[0].state is ScoreState.CHANGED
        calls: Counter[str] = Counter()
        counted(monkeypatch, NginxBalancer, "service", calls)
        counted(monkeypatch, DockerEngine, "list_containers", calls)
        with LoadClient(port) as load:
            report = anyio.run(Maestro(host).add(web("v2")).apply)
        assert report.scores[0].state is ScoreState.CHANGED, report.scores[0].message
        assert load.failures == [] and set(load.answers) >= {"v2"}
        # Once to see what serves (each of the three replacements then knows what it set), once
        # in the verification after the apply. It was seven.
        assert calls["service"] == 2
        # The service's replicas (once, not for plan and again for apply), the ports in use, and
        # the verification. It was four.
        assert calls["list_containers"] == 3
    finally:
        anyio.run(lambda: balancer.remove("trips", drain_timeout_s=2))


def test_balancer_change_waits_on_the_host_five_times(
    host: LocalhostTopology, monkeypatch: pytest.MonkeyPatch
) -> None:
    frontend = Frontend("waves", free_port())
    balancer = host.load_balancer()
    anyio.run(lambda: balancer.balance(frontend, [Backend("127.0.0.1", free_port())], drain_timeout_s=2))
    try:
        waves = Waves()
        for name in ("run", "stat", "read_file", "write_file", "make_directory"):
            monkeypatch.setattr(LocalCommandRunner, name, waves.wrap(getattr(LocalCommandRunner, name)))
        anyio.run(lambda: balancer.balance(frontend, [Backend("127.0.0.1", free_port())], drain_timeout_s=2))
        # Looks and directories; candidates; nginx -t with the files in place and the master;
        # the files; the reload and its waits (one program). It was nine, one after another.
        assert waves.count == 5
    finally:
        monkeypatch.undo()
        anyio.run(lambda: balancer.remove("waves", drain_timeout_s=2))


def test_a_service_of_three_hundred_backends_is_balanced_and_read_back(host: LocalhostTopology) -> None:
    """Its record is about 13 KB of JSON: nginx reads no line over 4 KiB, so it spans several comment lines."""
    frontend = Frontend("wide", free_port())
    backends = [Backend("127.0.0.1", port) for port in range(20000, 20300)]
    balancer = host.load_balancer()
    try:
        anyio.run(lambda: balancer.balance(frontend, backends, drain_timeout_s=2))
        served = anyio.run(balancer.service, "wide")
        assert served is not None and served.backends == tuple(backends)
    finally:
        anyio.run(lambda: balancer.remove("wide", drain_timeout_s=2))
    assert anyio.run(balancer.service, "wide") is None


def test_a_record_on_one_line_as_earlier_releases_wrote_it_is_still_read() -> None:
    service = BalancedService(Frontend("old", 8080), (Backend("127.0.0.1", 20000),))
    text = render_service(service)
    assert text.startswith("# harmony-balancer: {") and "# harmony-balancer+ " not in text
    assert _parse_header(text) == service
