"""A client that commits a numbered row every few milliseconds and remembers which commits were acknowledged.

It connects with libpq's multi-host list and ``target_session_attrs=read-write``,
so after a switchover or failover it finds the new primary by itself. It runs
in a thread (psycopg's blocking API), and records the time of every failed
and every successful commit so that the benchmark can measure the window of
unavailability.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg

from capabilities.postgresql import PgEndpoint


def conninfo(endpoints: Sequence[PgEndpoint], *, read_write: bool = True) -> str:
    first = endpoints[0]
    return psycopg.conninfo.make_conninfo(
        host=",".join(e.host for e in endpoints),
        port=",".join(str(e.port) for e in endpoints),
        dbname=first.database,
        user=first.user,
        password=first.password.reveal(),
        connect_timeout="2",
        target_session_attrs="read-write" if read_write else "any",
    )


@dataclass
class Committer:
    endpoints: Sequence[PgEndpoint]
    table: str = "ticks"
    pause_s: float = 0.003
    next_id: int = 1
    acked: list[int] = field(default_factory=list)
    ack_times: list[float] = field(default_factory=list)
    failure_times: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def create_table(self) -> None:
        with psycopg.connect(conninfo(self.endpoints), autocommit=True) as connection:
            connection.execute(f"CREATE TABLE IF NOT EXISTS {self.table} (id bigint PRIMARY KEY)")

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="committer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wait_for_acks(self, count: int, timeout_s: float = 60.0) -> None:
        """Block until ``count`` more commits have been acknowledged."""
        wanted = len(self.acked) + count
        deadline = time.monotonic() + timeout_s
        while len(self.acked) < wanted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(self.acked)} of {wanted} commits acknowledged")
            time.sleep(0.005)

    def _loop(self) -> None:
        connection: psycopg.Connection[tuple[object, ...]] | None = None
        while not self._stop.is_set():
            try:
                if connection is None or connection.closed:
                    connection = psycopg.connect(conninfo(self.endpoints))
                row = self.next_id
                self.next_id += 1
                connection.execute(f"INSERT INTO {self.table} (id) VALUES (%s)", (row,))
                connection.commit()
            except psycopg.Error:
                self.failure_times.append(time.monotonic())
                if connection is not None:
                    connection.close()
                connection = None
                time.sleep(0.01)
                continue
            self.acked.append(row)
            self.ack_times.append(time.monotonic())
            time.sleep(self.pause_s)
        if connection is not None:
            connection.close()

    def missing_from(self, endpoints: Sequence[PgEndpoint]) -> list[int]:
        """Acknowledged rows absent from the cluster's primary."""
        with psycopg.connect(conninfo(endpoints)) as connection:
            present = {row[0] for row in connection.execute(f"SELECT id FROM {self.table}")}
        return [row for row in self.acked if row not in present]


@contextmanager
def committing(endpoints: Sequence[PgEndpoint], table: str = "ticks") -> Iterator[Committer]:
    """A committer running for the length of the block, stopped however the block ends."""
    committer = Committer(endpoints, table=table)
    committer.create_table()
    committer.start()
    try:
        yield committer
    finally:
        committer.stop()
