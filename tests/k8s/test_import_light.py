"""Importing harmony_py, its scores and topologies must not import the kubernetes client (or yaml)."""

from __future__ import annotations

import subprocess
import sys


def test_kubernetes_is_imported_only_when_a_cluster_is_used() -> None:
    code = (
        "import sys, harmony_py, harmony_py.scores, topologies, capabilities, topologies.k8s.anywhere;"
        "from harmony_py.scores import K8sResourceScore;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'kubernetes', 'urllib3', 'yaml'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
