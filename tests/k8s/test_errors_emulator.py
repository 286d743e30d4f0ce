"""A Kubernetes API that answers garbage to concurrent reads: the score's failure is its cause, once."""

from __future__ import annotations

from typing import Any

import kmock

from harmony_py import Maestro, ScoreState
from harmony_py.scores import K8sResourceScore
from topologies import K8sAnywhereTopology

from .harness import EmulatorThread
from .test_topology_emulator import inject


def _configmap(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {"a": "1"}}


async def test_a_non_json_answer_to_concurrent_reads_is_one_line_not_a_task_group(
    topology: K8sAnywhereTopology, server: EmulatorThread
) -> None:
    inject(server, kmock.method.GET, "configmaps", b"<html>502 Bad Gateway</html>")
    report = await Maestro(topology).add(K8sResourceScore([_configmap("a"), _configmap("b")])).plan()
    (score,) = report.scores
    assert score.state is ScoreState.FAILED
    # Both objects' reads fail alike: their cause is said once, on one line.
    assert score.message.startswith("plan failed: ")
    assert len(score.message.splitlines()) == 1, score.message
    assert "TaskGroup" not in score.message and "sub-exception" not in score.message
