"""Which line of a PostgreSQL log says why a server does not stream (topologies/postgres/server.py)."""

from __future__ import annotations

from topologies.postgres.server import _server_complaint

WAL_RECEIVER = (
    '2026-12-02 11:40:01 UTC [801] FATAL:  could not connect to the primary server: connection to server at '
    '"127.0.0.1", port 24396 failed: FATAL:  password authentication failed for user "replicator"'
)


def test_the_wal_receivers_failure_is_the_reason_though_a_poll_cut_short_logged_after_it() -> None:
    log = "\n".join(
        [
            "2026-12-02 11:40:00 UTC [800] LOG:  entering standby mode",
            WAL_RECEIVER,
            "2026-12-02 11:40:02 UTC [802] LOG:  waiting for WAL to become available at 0/3000060",
            "2026-12-02 11:40:03 UTC [803] FATAL:  connection to client lost",
        ]
    )
    reason = _server_complaint(log)
    assert reason is not None and reason.startswith("could not connect to the primary server")
    assert 'password authentication failed for user "replicator"' in reason


def test_a_server_that_did_not_start_names_its_own_failure() -> None:
    assert _server_complaint("x LOG:  could not bind IPv4 address \"127.0.0.1\": Address already in use") == (
        "could not bind IPv4 address \"127.0.0.1\": Address already in use"
    )
    assert _server_complaint("x FATAL:  data directory has wrong ownership") == "data directory has wrong ownership"
    assert _server_complaint("x FATAL:  connection to client lost") is None
