"""K8sAnywhereTopology.k8s_client().exec through the API's exec websocket, against the emulator's toy kubelet.

The official client's websocket transport, its channels and the final Status
(exit codes) are real; the "container" is a local process the emulator starts.
"""

from __future__ import annotations

import pytest

from capabilities.errors import K8sApiError, K8sNotReadyError
from capabilities.k8s import ExecResult
from topologies import K8sAnywhereTopology

from .harness import EmulatorThread

POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "tool-0", "namespace": "default"},
    "spec": {"containers": [{"name": "tool", "image": "busybox"}]},
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
}  # fmt: skip


@pytest.fixture
def running_pod(server: EmulatorThread) -> None:
    def setup() -> None:
        server.api.exec_locally = True
        server.api.exec_env[("default", "tool-0")] = {"HARMONY_EXEC_TEST": "from-the-kubelet"}
        server.api.put_object("", "v1", "pods", "default", POD)

    server.call(setup)


async def test_exec_returns_output_and_exit_code(topology: K8sAnywhereTopology, running_pod: None) -> None:
    script = 'echo "out $HARMONY_EXEC_TEST"; echo err >&2; exit 3'
    assert await topology.k8s_client().exec("tool-0", ["sh", "-c", script], container="tool") == ExecResult(3, "out from-the-kubelet\n", "err\n")
    ok = await topology.k8s_client().exec("tool-0", ["printf", "%s", "it's; $(not) a shell"])
    assert ok == ExecResult(0, "it's; $(not) a shell", "") and ok.ok


async def test_exec_of_a_missing_program_is_an_api_error(topology: K8sAnywhereTopology, running_pod: None) -> None:
    with pytest.raises(K8sApiError, match="exec no-such-program in Pod tool-0 in namespace default.*could not run"):
        await topology.k8s_client().exec("tool-0", ["no-such-program"])


async def test_exec_into_a_missing_pod_says_so(topology: K8sAnywhereTopology) -> None:
    with pytest.raises(K8sNotReadyError, match="exec true in Pod gone-0 in namespace default: the pod does not exist"):
        await topology.k8s_client().exec("gone-0", ["true"])


async def test_exec_hands_stdin_to_the_command(topology: K8sAnywhereTopology, running_pod: None) -> None:
    # The exec protocol never closes stdin: the command stops by itself after reading what it needs.
    result = await topology.k8s_client().exec("tool-0", ["head", "-c", "9"], stdin=b"it's; $(x)and more")
    assert result == ExecResult(0, "it's; $(x", "")
