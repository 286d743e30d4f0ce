"""An API server (or a proxy in front of it) answering something other than JSON is one readable error.

The error names the API server and shows what it answered: the first bytes, on
one line, with credentials masked. Never a ``JSONDecodeError``, an
``AttributeError`` from inside discovery, or ``unhandled errors in a TaskGroup``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from capabilities.errors import K8sApiError
from harmony_py import Maestro, ScoreState
from harmony_py.errors import TopologyNotReadyError
from harmony_py.scores import K8sResourceScore
from topologies import K8sAnywhereTopology

from .stub_servers import TOKEN, Answer, HttpStub, discovery, write_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
GUARD_S = 60
LOGIN_PAGE = (
    "<html><head><title>Sign in</title></head>\n<body>\n  <p>Proxy error. Request headers:\n"
    f"  Authorization: Bearer {TOKEN}</p>\n</body></html>\n"
).encode()
LOGIN_PREVIEW = "'<html><head><title>Sign in</title></head> <body> <p>Proxy error. Request headers: Authorization: ***</p> </body></html>'"


def configmaps(*names: str) -> list[dict[str, object]]:
    return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": "default"}, "data": {"a": "1"}} for n in names]


StartStub = Callable[[Callable[[str, str], Answer]], tuple[HttpStub, Path]]


@pytest.fixture
def stub_config(tmp_path: Path) -> Iterator[StartStub]:
    """Start an HttpStub with the given answers, and a kubeconfig pointing at it."""
    started: list[HttpStub] = []

    def start(answer: Callable[[str, str], Answer]) -> tuple[HttpStub, Path]:
        stub = HttpStub(answer).__enter__()
        started.append(stub)
        return stub, write_kubeconfig(tmp_path / f"config-{len(started)}", stub.url)

    yield start
    for stub in started:
        stub.__exit__(None, None, None)


def html_everywhere(method: str, path: str) -> Answer:
    return 200, "text/html", LOGIN_PAGE


def objects_answer(status: int, content_type: str, body: bytes) -> Callable[[str, str], Answer]:
    """Discovery as a healthy server answers it; every object request gets ``body``."""

    def answer(method: str, path: str) -> Answer:
        return discovery(path) or (status, content_type, body)

    return answer


async def test_discovery_answering_an_html_page_names_the_server_and_shows_the_page_masked(stub_config: StartStub) -> None:
    stub, config = stub_config(html_everywhere)
    with anyio.fail_after(GUARD_S), pytest.raises(TopologyNotReadyError) as caught:
        await K8sAnywhereTopology(kubeconfig=str(config), retries=0).ensure_ready()
    assert str(caught.value) == f"Kubernetes API at {stub.url}: discovery answered 200 OK with something that is not JSON: {LOGIN_PREVIEW}"


async def test_an_object_read_answering_plain_text_500_names_the_server_and_masks_the_token(stub_config: StartStub) -> None:
    body = f"upstream connect error; retried with Authorization: Bearer {TOKEN}; token={TOKEN}\n\x1b[31mfailed\x1b[0m".encode()
    stub, config = stub_config(objects_answer(500, "text/plain", body))
    topology = K8sAnywhereTopology(kubeconfig=str(config), retries=0)
    with anyio.fail_after(GUARD_S), pytest.raises(K8sApiError) as caught:
        await topology.k8s_client().get("v1", "ConfigMap", "settings")
    message = str(caught.value)
    assert message == (
        f"Kubernetes API at {stub.url}: read ConfigMap settings in namespace default answered 500 Internal Server Error "
        "with something that is not JSON: 'upstream connect error; retried with Authorization: ***; token=*** \ufffd[31mfailed\ufffd[0m'"
    )
    assert caught.value.status == 500
    assert TOKEN not in message and "\x1b" not in message


async def test_a_json_answer_that_is_not_an_object_is_refused_by_name(stub_config: StartStub) -> None:
    stub, config = stub_config(objects_answer(200, "application/json", b'["not", "an", "object"]'))
    with anyio.fail_after(GUARD_S), pytest.raises(K8sApiError, match=r"answered 200 OK with something that is not JSON: '\[\"not\", \"an\", \"object\"\]'"):
        await K8sAnywhereTopology(kubeconfig=str(config), retries=0).k8s_client().get("v1", "ConfigMap", "settings")


async def test_plan_against_an_api_answering_html_fails_each_score_with_one_line(stub_config: StartStub) -> None:
    # Six objects of one kind: the score lists them (one request), as it would read them concurrently.
    stub, config = stub_config(objects_answer(200, "text/html", LOGIN_PAGE))
    topology = K8sAnywhereTopology(kubeconfig=str(config), retries=0)
    with anyio.fail_after(GUARD_S):
        report = await Maestro(topology).add(K8sResourceScore(configmaps("a", "b", "c", "d", "e", "f"))).plan()
    [score] = report.scores
    assert score.state is ScoreState.FAILED
    assert score.message == (
        f"plan failed: Kubernetes API at {stub.url}: list ConfigMap in namespace default "
        f"answered 200 OK with something that is not JSON: {LOGIN_PREVIEW}"
    )


async def test_a_watch_line_that_is_not_json_ends_the_wait_with_a_clear_error(stub_config: StartStub) -> None:
    stub, config = stub_config(objects_answer(200, "application/json", b"this is not an event\n"))
    topology = K8sAnywhereTopology(kubeconfig=str(config), retries=0)
    with anyio.fail_after(GUARD_S), pytest.raises(K8sApiError) as caught:
        await topology.k8s_client().wait("v1", "ConfigMap", "settings", "default", condition="Ready", timeout_s=GUARD_S)
    assert str(caught.value) == (
        f"Kubernetes API at {stub.url}: watch ConfigMap answered 200 OK with something that is not JSON: 'this is not an event'"
    )


def test_cli_plan_against_an_api_answering_html_prints_one_readable_error(stub_config: StartStub, tmp_path: Path) -> None:
    stub, config = stub_config(html_everywhere)
    score = tmp_path / "cluster.py"
    score.write_text(
        textwrap.dedent(
            f"""
            from harmony_py import Maestro
            from harmony_py.scores import K8sResourceScore
            from topologies import K8sAnywhereTopology

            maestro = Maestro(K8sAnywhereTopology(kubeconfig={str(config)!r}, retries=0)).add(
                K8sResourceScore({configmaps("a", "b")!r})
            )
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "harmony_py", "plan", str(score)],
        cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=GUARD_S,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        f"error: Kubernetes API at {stub.url}: discovery answered 200 OK with something that is not JSON: {LOGIN_PREVIEW}"
    )
