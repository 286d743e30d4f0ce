"""One server on one host: bad input gets one clear error and destroys nothing; re-applying converges."""

from __future__ import annotations

import os
import pwd
import socket
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capabilities.postgresql import PgUser, ReplicationSource
from harmony_py import Maestro, ScoreState, Secret
from harmony_py.report import RunReport
from harmony_py.scores import PostgreSQLScore
from topologies import LocalInstance
from topologies.errors import HostPostgreSQLError

from .conftest import free_port_pair, instance


def apply(topology: LocalInstance, score: PostgreSQLScore) -> RunReport:
    return anyio.run(Maestro(topology).add(score).apply)


def plan(topology: LocalInstance, score: PostgreSQLScore) -> RunReport:
    return anyio.run(Maestro(topology).add(score).plan)


@pytest.fixture(scope="module")
def busy_port() -> Iterator[int]:
    port = free_port_pair()
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        yield port


@pytest.fixture(scope="module")
def solo(pg_root: Path, busy_port: int) -> LocalInstance:
    return instance(pg_root, "solo", 0)


def test_port_in_use_is_one_clear_error_and_a_rerun_converges(solo: LocalInstance, busy_port: int) -> None:
    score = PostgreSQLScore("busy", port=busy_port)
    report = apply(solo, score)
    assert [r.state for r in report.scores] == [ScoreState.FAILED]
    message = report.scores[0].message
    assert f"did not start on port {busy_port}" in message and "Address already in use" in message
    # Nothing half-done that a re-run cannot finish: on a free port it converges, then stays still.
    moved = PostgreSQLScore("busy", port=busy_port + 2, users=["app"], databases=["app"])
    assert [r.state for r in apply(solo, moved).scores] == [ScoreState.CHANGED]
    assert [r.state for r in apply(solo, moved).scores] == [ScoreState.UNCHANGED]
    assert not plan(solo, moved).has_changes


_names = st.sampled_from(["alice", "bob", "carol", "dave"])


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    users=st.lists(_names, unique=True, max_size=3),
    work_mem=st.sampled_from(["4MB", "8MB", "16MB"]),
    given_password=st.booleans(),
)
def test_any_score_applies_once_then_is_noop(
    solo: LocalInstance, busy_port: int, users: list[str], work_mem: str, given_password: bool
) -> None:
    pg_users = [
        PgUser(name, Secret(f"pw-{name}-fixed") if given_password else None, ("app",) if i == 0 else ())
        for i, name in enumerate(users)
    ]
    score = PostgreSQLScore(
        "busy", port=busy_port + 2, users=pg_users, databases=["app"], settings={"work_mem": work_mem}
    )
    first = apply(solo, score)
    assert first.ok, [r.message for r in first.scores]
    second = apply(solo, score)
    assert [r.state for r in second.scores] == [ScoreState.UNCHANGED], [c.summary for c in second.scores[0].changes]
    assert not plan(solo, score).has_changes
    for user in pg_users:
        password = anyio.run(solo.postgresql().endpoint, score.config, "app").password if user is pg_users[0] else user.password
        if password is not None:
            assert password.reveal() not in repr(first) + repr(second)


def test_data_directory_owned_by_someone_else_is_left_alone(pg_root: Path) -> None:
    host = instance(pg_root, "foreign", 0)
    score = PostgreSQLScore("theirs", port=free_port_pair())
    data = Path(host.postgresql().layout(score.config).data_dir)
    data.mkdir(parents=True)
    (data / "precious").write_text("keep me")
    nobody = pwd.getpwnam("nobody")
    os.chown(data, nobody.pw_uid, nobody.pw_gid)
    report = apply(host, score)
    assert [r.state for r in report.scores] == [ScoreState.FAILED]
    assert f"data directory {data} is owned by nobody, not postgres" in report.scores[0].message
    assert (data / "precious").read_text() == "keep me"
    assert sorted(p.name for p in data.iterdir()) == ["precious"]
    assert plan(host, score).scores[0].state is ScoreState.FAILED


def test_replica_that_cannot_reach_its_primary_changes_nothing(pg_root: Path) -> None:
    host = instance(pg_root, "lonely", 0)
    score = PostgreSQLScore("lonely", port=free_port_pair())
    unreachable = ReplicationSource("127.0.0.1", free_port_pair(), "replicator", Secret("x"), "harmony_r", "r")
    with pytest.raises(HostPostgreSQLError, match=r"cannot reach its primary at 127\.0\.0\.1:\d+"):
        anyio.run(host.postgresql().follow, score.config, unreachable)
    assert not Path(host.postgresql().layout(score.config).data_dir).exists()


def test_a_plan_stores_no_secret(
    solo: LocalInstance, busy_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARMONY_SECRETS_DIR", str(tmp_path / "secrets"))
    score = PostgreSQLScore("busy", port=busy_port + 2, users=["app", "reporting"], databases=["app"])
    assert plan(solo, score).has_changes  # the roles' passwords are not stored yet: they would be set
    assert not (tmp_path / "secrets").exists()
