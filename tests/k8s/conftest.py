"""Fixtures of the Kubernetes tests: an emulated API server per test, and a topology pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from topologies import K8sAnywhereTopology

from .harness import EmulatorThread
from .real_postgres import pods_postgres, real_postgres  # noqa: F401  (fixtures)


@pytest.fixture
def server() -> Iterator[EmulatorThread]:
    with EmulatorThread() as running:
        yield running


@pytest.fixture
def kubeconfig(server: EmulatorThread, tmp_path: Path) -> Path:
    return server.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def topology(kubeconfig: Path) -> K8sAnywhereTopology:
    # Short timeouts: the emulator answers in milliseconds, and the timeout tests wait for them.
    return K8sAnywhereTopology(kubeconfig=str(kubeconfig), request_timeout_s=2.0, retries=2, watch_idle_s=2.0)
