"""The shop: a tiny HTTP service that keeps orders in PostgreSQL.

    GET  /health   200 "ok" when the database answers
    POST /orders   {"item": "..."} -> 201 {"id": N, "item": "..."}
    GET  /orders   200 [{"id": N, "item": "..."}, ...]

Configuration comes from the environment only, as a twelve-factor app's does:
``DATABASE_URL`` (a libpq URI), ``PORT`` and ``HOST`` (default 127.0.0.1).
The URL holds a password: it is never printed, and the request log names
only the method, the path and the status.
"""

from __future__ import annotations

import json
import os
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg

_SCHEMA = "CREATE TABLE IF NOT EXISTS orders (id bigserial PRIMARY KEY, item text NOT NULL)"
_SCHEMA_LOCK = 7_011_001  # replicas starting together create the table one at a time


def connect() -> psycopg.Connection[Any]:
    return psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=3, autocommit=False)


def ensure_schema() -> None:
    with connect() as connection:
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        connection.execute(_SCHEMA)


class Shop(BaseHTTPRequestHandler):
    server_version = "shop/1"

    def do_GET(self) -> None:
        if self.path == "/health":
            with connect() as connection:
                connection.execute("SELECT 1")
            self._send(HTTPStatus.OK, "ok")
        elif self.path == "/orders":
            with connect() as connection:
                rows = connection.execute("SELECT id, item FROM orders ORDER BY id").fetchall()
            self._send(HTTPStatus.OK, [{"id": row[0], "item": row[1]} for row in rows])
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != "/orders":
            self._send(HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            item = body["item"]
            if not isinstance(item, str) or not item:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            self._send(HTTPStatus.BAD_REQUEST, {"error": 'send {"item": "<name>"}'})
            return
        with connect() as connection:
            row = connection.execute("INSERT INTO orders (item) VALUES (%s) RETURNING id", (item,)).fetchone()
        assert row is not None
        self._send(HTTPStatus.CREATED, {"id": row[0], "item": item})

    def _send(self, status: HTTPStatus, body: object) -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except psycopg.Error as exc:
            # The class of the error, never its text: a connection error may quote the URL.
            self.log_message("database error: %s", type(exc).__name__)
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "database unavailable"})

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.command or '-'} {self.path.split('?')[0]} {format % args}\n")


def main() -> None:
    if "DATABASE_URL" not in os.environ:
        sys.exit("shop: DATABASE_URL is not set")
    port = int(os.environ.get("PORT", "8000"))
    host = os.environ.get("HOST", "127.0.0.1")
    try:
        ensure_schema()
    except psycopg.Error as exc:
        sys.exit(f"shop: database unavailable ({type(exc).__name__}); the supervisor retries")
    server = ThreadingHTTPServer((host, port), Shop)
    sys.stderr.write(f"shop: serving on {host}:{port}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
