"""The operator's shell environment never reaches the PostgreSQL programs harmony_py starts.

Found: with ``PGPASSWORD`` in the shell, libpq in every server and client
preferred it to the replication password file, so a first deploy failed with
"password authentication failed for user replicator", and a switchover
reported success while the old primary could never stream from the new one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import psycopg
import pytest

from capabilities.postgresql import PgUser, ReplicationRole
from harmony_py import Maestro, ScoreState
from harmony_py.scores import PostgreSQLScore, PostgreSQLSwitchoverScore
from topologies import FailoverTopology, LocalInstance

from .committer import conninfo
from .conftest import free_port_pair, instance

OPERATOR_SHELL = {
    "PGPASSWORD": "wrong",
    "PGHOST": "/nonexistent",
    "PGPORT": "1",
    "PGUSER": "nobody_here",
    "PGDATABASE": "nothing_here",
    "PGSSLMODE": "require",
    "PGSERVICEFILE": "/nonexistent",
    "PGSERVICE": "nowhere",
    "PGPASSFILE": "/nonexistent/pgpass",
    "PGOPTIONS": "-c default_transaction_read_only=on",
    "PGCONNECT_TIMEOUT": "1",
    "LC_ALL": "de_DE.UTF-8",
    "LC_MESSAGES": "de_DE.UTF-8",
}
"""What an operator's shell may hold, each set to break whatever program would read it."""


@pytest.fixture(scope="module")
def pair(pg_root: Path) -> Iterator[tuple[FailoverTopology[LocalInstance], PostgreSQLScore]]:
    topology = FailoverTopology[LocalInstance](instance(pg_root, "env-a", 0), instance(pg_root, "env-b", 1))
    score = PostgreSQLScore("envapp", port=free_port_pair(), databases=["app"], users=[PgUser("app", databases=("app",))])
    yield topology, score


def _in_operator_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in OPERATOR_SHELL.items():
        monkeypatch.setenv(name, value)


def test_first_deploy_with_pg_variables_in_the_shell_streams_synchronously(
    pair: tuple[FailoverTopology[LocalInstance], PostgreSQLScore], monkeypatch: pytest.MonkeyPatch
) -> None:
    topology, score = pair
    with monkeypatch.context() as shell:
        _in_operator_shell(shell)
        report = anyio.run(Maestro(topology).add(score).apply)
        assert report.ok, [s.message for s in report.scores]
        status = anyio.run(topology.postgresql().status, score.config)
    primary = status.member("primary").state
    assert [(s.name, s.state, s.sync_state) for s in primary.standbys] == [("replica", "streaming", "sync")]


def test_servers_never_see_the_operators_pg_variables(
    pair: tuple[FailoverTopology[LocalInstance], PostgreSQLScore],
) -> None:
    topology, score = pair
    for member in topology.members:
        data = Path(member.postgresql().layout(score.config).data_dir)
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        environ = Path(f"/proc/{postmaster}/environ").read_bytes().decode(errors="replace").split("\0")
        found = dict(entry.split("=", 1) for entry in environ if "=" in entry)
        leaked = {name: found[name] for name in OPERATOR_SHELL if found.get(name) == OPERATOR_SHELL[name]}
        assert leaked == {}


def test_switchover_with_pgpassword_in_the_shell_verifies_streaming(
    pair: tuple[FailoverTopology[LocalInstance], PostgreSQLScore], monkeypatch: pytest.MonkeyPatch
) -> None:
    topology, score = pair
    with monkeypatch.context() as shell:
        _in_operator_shell(shell)
        report = anyio.run(Maestro(topology).add(PostgreSQLSwitchoverScore(score, to="replica")).apply)
        assert [r.state for r in report.scores] == [ScoreState.CHANGED], [s.message for s in report.scores]
        status = anyio.run(topology.postgresql().status, score.config)
    new_primary = status.member("replica").state
    assert new_primary.role is ReplicationRole.PRIMARY
    assert [(s.name, s.state, s.sync_state) for s in new_primary.standbys] == [("primary", "streaming", "sync")]
    # A client's commit is acknowledged: the old primary streams from the new one.
    endpoints = [anyio.run(member.postgresql().endpoint, score.config, "app") for member in topology.members]
    with psycopg.connect(conninfo(endpoints), autocommit=True) as connection:
        connection.execute("CREATE TABLE after_switchover (id int)")
        connection.execute("INSERT INTO after_switchover VALUES (1)")
