"""A rolling update says how far it is: one progress event per batch, shown by the terminal's live display (adr/0107)."""

from __future__ import annotations

import anyio

from harmony_py import Maestro
from harmony_py.events import Event, ScoreProgress
from harmony_py.scores import UpdatePolicy
from topologies import LocalhostTopology

from .conftest import free_port, free_range
from .test_replicated_service import services as services  # the fixture that removes the test's services
from .test_replicated_service import apply, web


def test_a_rolling_update_reports_each_batch_as_progress_of_its_score(host: LocalhostTopology, services: list[str]) -> None:
    services.append("progress")
    port, ports = free_port(), free_range(20)
    policy = UpdatePolicy(parallelism=1, monitor_s=1, drain_timeout_s=5)
    apply(host, web("progress", "v1", 2, port, ports, update=policy))
    events: list[Event] = []
    report = anyio.run(Maestro(host).add(web("progress", "v2", 2, port, ports, update=policy)).apply, events.append)
    assert report.ok, report.failures
    messages = [event.message for event in events if isinstance(event, ScoreProgress)]
    assert messages == ["1 of 2 new replicas started", "2 of 2 new replicas started"]
