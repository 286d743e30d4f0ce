"""Patroni's REST API, asked on the member itself through its command runner.

Every request runs ``curl`` on the member (``CommandRunnerService.run``), so
it works the same on this machine and over SSH, and it reaches a REST API
that listens on the member's own address only. The whole request (URL,
method, body, and the REST credentials for the write endpoints) is a curl
config read from standard input (``curl --config -``): no secret is on a
command line, where ``ps`` on the member would show it.

Patroni answers ``GET /cluster`` (the DCS view: members, roles, lags,
``pending_restart``) and ``GET /patroni`` (the member's own view: its
PostgreSQL's role, WAL positions, ``pg_stat_replication``); ``POST
/switchover``, ``PATCH /config`` and ``POST /restart`` need the REST
credentials (401 without).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from capabilities.command_runner import CommandRunnerService
from harmony_py.values import Secret
from topologies.errors import PatroniRequestError, PatroniUnreachableError

REQUEST_TIMEOUT_S = 10.0
"""How long one request may take (Patroni answers GETs in milliseconds)."""

SWITCHOVER_TIMEOUT_S = 60.0
"""POST /switchover waits for the new leader (Patroni polls for up to 20 s)."""


@dataclass(frozen=True)
class RestAccess:
    """Where one member's Patroni REST API listens, and the credentials of its write endpoints."""

    url: str
    """``http://host:port`` as the member reaches itself."""
    username: str
    password: Secret


@dataclass(frozen=True)
class RestResponse:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace").strip()

    def json(self) -> Any:
        return json.loads(self.body)


def _quoted(value: str) -> str:
    """``value`` as a double-quoted curl config string (backslash, quote and line ends escaped)."""
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )
    return f'"{escaped}"'


_STATUS_MARK = "\nharmony-http-status:"


def request_config(
    access: RestAccess, method: str, path: str, body: Any = None, *, timeout_s: float, authenticate: bool
) -> bytes:
    """The curl config for one request (sent on standard input; it may hold the REST password)."""
    lines = [
        f"url = {_quoted(access.url.rstrip('/') + path)}",
        f"request = {_quoted(method)}",
        f"max-time = {timeout_s:g}",
        "connect-timeout = 3",
        "silent",
        "show-error",
        f"write-out = {_quoted(_STATUS_MARK + '%{http_code}')}",
    ]
    if authenticate:
        lines.append(f"user = {_quoted(access.username + ':' + access.password.reveal())}")
    if body is not None:
        lines.append(f"header = {_quoted('Content-Type: application/json')}")
        lines.append(f"data-binary = {_quoted(json.dumps(body, separators=(',', ':')))}")
    return ("\n".join(lines) + "\n").encode()


class PatroniRest:
    """One member's Patroni REST API, asked through ``runner`` (the member's own command runner).

    ``where`` names the member in errors (``replica (127.0.0.1:5433)``).
    """

    def __init__(self, runner: CommandRunnerService, access: RestAccess, where: str) -> None:
        self.runner = runner
        self.access = access
        self.where = where

    async def request(
        self, method: str, path: str, body: Any = None, *, timeout_s: float = REQUEST_TIMEOUT_S
    ) -> RestResponse:
        """Any answer Patroni gives (error statuses included); raises only when none came."""
        config = request_config(
            self.access, method, path, body, timeout_s=timeout_s, authenticate=method != "GET"
        )
        result = await self.runner.run(["curl", "--config", "-"], stdin=config, timeout_s=timeout_s + 5)
        out, mark, status = result.stdout.decode("utf-8", errors="replace").rpartition(_STATUS_MARK)
        if not result.ok or not mark or not status.strip().isdigit() or status.strip() == "000":
            reason = result.stderr_text.strip().splitlines()
            raise PatroniUnreachableError(
                f"{self.where}: Patroni's REST API at {self.access.url} does not answer "
                f"{method} {path}: {reason[-1] if reason else f'curl exit {result.exit_status}'}"
            )
        return RestResponse(int(status.strip()), out.encode())

    async def get(self, path: str) -> Any:
        """The JSON Patroni answers ``GET path`` with (200 or 503, as its health endpoints use 503)."""
        response = await self.request("GET", path)
        if response.status not in (200, 503):
            raise PatroniRequestError(
                f"{self.where}: GET {path} answered {response.status}: {response.text[:200]}", status=response.status
            )
        try:
            return response.json()
        except ValueError:
            raise PatroniRequestError(
                f"{self.where}: GET {path} answered no JSON: {response.text[:200]}", status=response.status
            ) from None

    async def cluster(self) -> dict[str, Any]:
        """``GET /cluster``: the cluster as the DCS holds it."""
        found = await self.get("/cluster")
        return found if isinstance(found, dict) else {}

    async def patroni(self) -> dict[str, Any]:
        """``GET /patroni``: this member's PostgreSQL as Patroni sees it now."""
        found = await self.get("/patroni")
        return found if isinstance(found, dict) else {}

    async def dynamic_config(self) -> dict[str, Any]:
        """``GET /config``: the dynamic configuration held in the DCS."""
        found = await self.get("/config")
        return found if isinstance(found, dict) else {}

    async def change(self, method: str, path: str, body: Any, *, timeout_s: float = REQUEST_TIMEOUT_S) -> str:
        """A write request (authenticated); its answer's text, or an error naming the status and Patroni's reason."""
        response = await self.request(method, path, body, timeout_s=timeout_s)
        if response.status == 401:
            raise PatroniRequestError(
                f"{self.where}: Patroni refused {method} {path}: the REST credentials in the secret store "
                "are not the ones in its configuration (apply the cluster's PostgreSQLScore)",
                status=401,
            )
        if response.status not in (200, 202):
            raise PatroniRequestError(
                f"{self.where}: {method} {path} answered {response.status}: {response.text[:300]}",
                status=response.status,
            )
        return response.text
