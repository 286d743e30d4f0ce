"""The Patroni REST client (topologies/postgres/patroni/rest.py) against a real HTTP server and real curl.

A small server stands in for Patroni's REST API (the operations' tests run the real one): it
checks the Basic credentials of write requests as Patroni does and answers with Patroni's
statuses. What matters here is what reaches the member's command line: never the password.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import pytest

from capabilities.command_runner import CommandResult
from harmony_py.values import Secret
from tests.ports import free_port
from topologies.host.local_runner import LocalCommandRunner
from topologies.errors import PatroniRequestError, PatroniUnreachableError
from topologies.postgres.patroni.rest import PatroniRest, RestAccess

PASSWORD = 'pa"ss\\wo rd$(id)'


class RecordingRunner(LocalCommandRunner):
    """The local runner, keeping every argv it ran."""

    def __init__(self) -> None:
        super().__init__("localhost")
        self.argvs: list[tuple[str, ...]] = []

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> CommandResult:
        self.argvs.append(tuple(argv))
        return await super().run(argv, stdin=stdin, env=env, timeout_s=timeout_s)


class FakePatroni(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, bytes]] = []

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(200, json.dumps({"state": "running", "role": "primary"}).encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        FakePatroni.seen.append((self.path, self.headers.get("Authorization", ""), body))
        expected = "Basic " + base64.b64encode(f"patroni:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            self._answer(401, b"no auth header received")
        elif self.path == "/switchover":
            self._answer(412, b"candidate name does not match with sync_standby")
        else:
            self._answer(200, b"restarted successfully")


@pytest.fixture
def patroni() -> Iterator[str]:
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), FakePatroni)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def test_rest_password_reaches_patroni_through_stdin_and_never_the_command_line(patroni: str) -> None:
    runner = RecordingRunner()
    rest = PatroniRest(runner, RestAccess(patroni, "patroni", Secret(PASSWORD)), "replica (127.0.0.1:5433)")
    answer = anyio.run(rest.change, "POST", "/restart", {"restart_pending": True})
    assert answer == "restarted successfully"
    path, _, body = FakePatroni.seen[-1]
    assert (path, json.loads(body)) == ("/restart", {"restart_pending": True})
    assert runner.argvs == [("curl", "--config", "-")]
    assert anyio.run(rest.patroni) == {"state": "running", "role": "primary"}


def test_rest_refusal_names_the_member_the_status_and_patronis_reason(patroni: str) -> None:
    rest = PatroniRest(RecordingRunner(), RestAccess(patroni, "patroni", Secret(PASSWORD)), "primary (127.0.0.1:5432)")
    with pytest.raises(PatroniRequestError) as refused:
        anyio.run(rest.change, "POST", "/switchover", {"leader": "primary", "candidate": "replica"})
    assert refused.value.status == 412
    assert str(refused.value) == (
        "primary (127.0.0.1:5432): POST /switchover answered 412: candidate name does not match with sync_standby"
    )
    wrong = PatroniRest(RecordingRunner(), RestAccess(patroni, "patroni", Secret("old")), "primary (127.0.0.1:5432)")
    with pytest.raises(PatroniRequestError, match="REST credentials in the secret store are not the ones"):
        anyio.run(wrong.change, "POST", "/restart", {})


def test_rest_member_whose_api_does_not_answer_is_named_with_its_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    rest = PatroniRest(RecordingRunner(), RestAccess(url, "patroni", Secret(PASSWORD)), "replica (127.0.0.1:5433)")
    with pytest.raises(PatroniUnreachableError) as gone:
        anyio.run(rest.patroni)
    message = str(gone.value)
    assert message.startswith(f"replica (127.0.0.1:5433): Patroni's REST API at {url} does not answer GET /patroni")
    assert PASSWORD not in message
