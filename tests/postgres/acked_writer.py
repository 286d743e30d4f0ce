"""A client that commits numbered rows and records which server acknowledged each one.

Used by the automatic-failover benchmark (bench/failover.py --automatic) and the
failover tests on namespace hosts: each INSERT is one autocommit transaction;
one that returned without error is an *acknowledged* commit, one that raised is
unknown (it may or may not exist). After a failover every acknowledged row must
be on the new primary (:func:`missing_acked`).

A commit whose wait for synchronous replication was cancelled comes back as a
success with a WARNING ("canceling wait for synchronous replication ... might
not have been replicated"): it is recorded in ``unreplicated`` and not counted as
acknowledged. The writer never sets ``statement_timeout``, so no such warning
is expected; a test can fail on one.

The connection string is the caller's (a libpq multi-host URL with
``target_session_attrs=read-write`` finds the primary by itself); the password
is passed to libpq separately, never put into the string or printed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg

CLIENT_TIMEOUTS = {
    "connect_timeout": "2",
    "keepalives": "1",
    "keepalives_idle": "1",
    "keepalives_interval": "1",
    "keepalives_count": "3",
    # A request sent into a cut link is never acknowledged by TCP, so keepalives never start;
    # without this the client would wait for TCP's retransmission limit (~15 minutes).
    "tcp_user_timeout": "3000",
}
"""libpq settings that let a client notice a dead or unreachable server within seconds."""


@dataclass(frozen=True)
class Ack:
    """One acknowledged commit: the row number, when the INSERT returned, and who answered it."""

    n: int
    at: float
    """``time.monotonic()`` when the commit returned."""
    server: str
    """``host:port`` of the server that acknowledged it."""


@dataclass(eq=False)
class AckedWriter:
    """Commits rows ``first_n, first_n + 1, ...`` into ``table`` every ``pause_s``, reconnecting after any error."""

    conninfo: str
    password: str
    table: str = "ledger"
    tag: str = "writer"
    first_n: int = 1
    pause_s: float = 0.02
    retry_pause_s: float = 0.05
    acks: list[Ack] = field(default_factory=list)
    errors: list[tuple[float, str]] = field(default_factory=list)
    unreplicated: list[int] = field(default_factory=list)
    _halt: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def create_table(self) -> None:
        """Create the table unless it exists (checked first: CREATE ... IF NOT EXISTS still needs CREATE on the schema)."""
        with psycopg.connect(self.conninfo, password=self.password, autocommit=True) as connection:
            found = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (self.table,)).fetchone()
            if not (found and found[0]):
                connection.execute(f"CREATE TABLE {self.table} (n bigint PRIMARY KEY, writer text NOT NULL)")

    def start(self) -> None:
        self._halt.clear()
        self._thread = threading.Thread(target=self._loop, name=f"writer-{self.tag}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def first_ack_after(self, moment: float, *, not_server: str | None = None) -> Ack | None:
        """The first commit acknowledged after ``moment`` (by a server other than ``not_server``)."""
        return next((a for a in list(self.acks) if a.at > moment and a.server != not_server), None)

    def acks_after(self, moment: float, *, server: str) -> list[Ack]:
        return [a for a in list(self.acks) if a.at > moment and a.server == server]

    def wait_for_ack(self, moment: float, timeout_s: float, *, not_server: str | None = None) -> Ack | None:
        """Block until a commit is acknowledged after ``moment`` (by another server than ``not_server``), or ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.first_ack_after(moment, not_server=not_server)
            if found is not None:
                return found
            time.sleep(0.02)
        return None

    def wait_for_acks(self, count: int, timeout_s: float = 60.0) -> None:
        wanted = len(self.acks) + count
        deadline = time.monotonic() + timeout_s
        while len(self.acks) < wanted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"writer {self.tag}: only {len(self.acks)} of {wanted} commits acknowledged")
            time.sleep(0.02)

    def _loop(self) -> None:
        connection: psycopg.Connection[tuple[object, ...]] | None = None
        server = ""
        warned = False

        def on_notice(diagnostic: psycopg.errors.Diagnostic) -> None:
            nonlocal warned
            if "synchronous replication" in (diagnostic.message_primary or ""):
                warned = True

        n = self.first_n
        while not self._halt.is_set():
            if connection is None:
                try:
                    connection = psycopg.connect(self.conninfo, password=self.password, autocommit=True)
                except psycopg.Error as error:
                    self.errors.append((time.monotonic(), f"connect: {type(error).__name__}"))
                    self._halt.wait(self.retry_pause_s)
                    continue
                connection.add_notice_handler(on_notice)
                server = f"{connection.info.host}:{connection.info.port}"
            try:
                warned = False
                connection.execute(f"INSERT INTO {self.table} (n, writer) VALUES (%s, %s)", (n, self.tag))
                answered = time.monotonic()
                if warned:
                    self.unreplicated.append(n)
                else:
                    self.acks.append(Ack(n, answered, server))
            except psycopg.Error as error:
                self.errors.append((time.monotonic(), f"{type(error).__name__}: {str(error)[:80]}"))
                connection.close()
                connection = None
            n += 1
            self._halt.wait(self.pause_s)
        if connection is not None:
            connection.close()


def missing_acked(conninfo: str, password: str, writer: AckedWriter, timeout_s: float = 60.0) -> list[int]:
    """The acknowledged row numbers absent from the server ``conninfo`` reaches (retried until ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(conninfo, password=password, autocommit=True) as connection:
                rows = connection.execute(f"SELECT n FROM {writer.table} WHERE writer = %s", (writer.tag,))
                present = {int(row[0]) for row in rows}
            return sorted({a.n for a in writer.acks} - present)
        except psycopg.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@contextmanager
def writing(conninfo: str, password: str, *, table: str = "ledger", tag: str = "writer") -> Iterator[AckedWriter]:
    """A writer running for the length of the block (its table created first), stopped however the block ends."""
    writer = AckedWriter(conninfo, password, table=table, tag=tag, first_n=time.time_ns() // 1000)
    writer.create_table()
    writer.start()
    try:
        yield writer
    finally:
        writer.stop()


def _report_from_inside(conninfo: str, tag: str, first_n: int) -> None:
    """Run a writer and a write probe in this process, reporting on stdout until standard input closes.

    For a client on a host the test process cannot reach (a partitioned namespace host):
    ``ip netns exec NS python -m tests.postgres.acked_writer CONNINFO TAG FIRST_N``, the
    password on the first line of standard input. Lines: ``ack N AT SERVER`` for each
    acknowledged commit, ``writable AT 0|1`` for each probe (does a new session get a
    read-write server?), ``unreplicated N`` for a commit whose synchronous wait was cancelled.
    ``AT`` is ``time.monotonic()``, which is one clock for every process on the machine.
    """
    import sys

    password = sys.stdin.readline().rstrip("\n")
    writer = AckedWriter(conninfo, password, tag=tag, first_n=first_n)
    writer.start()
    closed = threading.Event()

    def until_stdin_closes() -> None:
        sys.stdin.read()
        closed.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    reported = 0
    reported_unreplicated = 0
    while not closed.is_set():
        writable = _writable(conninfo, password)
        print(f"writable {time.monotonic()} {int(writable)}", flush=True)
        acks = list(writer.acks)
        for ack in acks[reported:]:
            print(f"ack {ack.n} {ack.at} {ack.server}", flush=True)
        reported = len(acks)
        for n in writer.unreplicated[reported_unreplicated:]:
            print(f"unreplicated {n}", flush=True)
        reported_unreplicated = len(writer.unreplicated)
        closed.wait(0.2)
    writer.stop()
    for ack in list(writer.acks)[reported:]:
        print(f"ack {ack.n} {ack.at} {ack.server}", flush=True)


def _writable(conninfo: str, password: str) -> bool:
    """Whether a new session reaches a server that takes writes (not in recovery), within the connect timeout."""
    try:
        with psycopg.connect(conninfo, password=password, autocommit=True) as connection:
            row = connection.execute("SELECT NOT pg_is_in_recovery()").fetchone()
            return bool(row and row[0])
    except psycopg.Error:
        return False


if __name__ == "__main__":
    import sys

    _report_from_inside(sys.argv[1], sys.argv[2], int(sys.argv[3]))
