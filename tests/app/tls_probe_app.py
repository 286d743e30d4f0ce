"""A test application that keeps one connection to its database open, so a test finds it in ``pg_stat_ssl``.

It connects once at start with ``DATABASE_URL`` (``application_name`` from ``PROBE_NAME``) and
answers ``/health`` with 200 while that connection still runs a query. Run by the TLS tests
as a supervised process and as a container's command.
"""

from __future__ import annotations

import os
from http.server import BaseHTTPRequestHandler, HTTPServer

import psycopg

connection = psycopg.connect(
    os.environ["DATABASE_URL"], application_name=os.environ.get("PROBE_NAME", "tls-probe"), autocommit=True, connect_timeout=5
)


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        try:
            connection.execute("SELECT 1")
            status = 200
        except psycopg.Error:
            status = 500
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


HTTPServer((os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"])), Health).serve_forever()
