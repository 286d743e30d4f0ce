"""A replicated service takes its database URL by reference, like the application's service does."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from capabilities import PgUser
from capabilities.application import database_url
from harmony_py import HarmonyError, Maestro, ScoreState
from harmony_py.scores import PostgreSQLScore, ReplicatedServiceScore
from tests.docker.conftest import Engine
from topologies import LocalInstance


def scores() -> tuple[PostgreSQLScore, ReplicatedServiceScore]:
    database = PostgreSQLScore("orders", port=5998, databases=["orders"], users=[PgUser("orders", databases=("orders",))])
    web = ReplicatedServiceScore("orders-web", "web:1", 2, 8081, env={"DATABASE_URL": database.output().map(database_url)})
    return database, web


def test_the_plan_shows_the_url_as_known_after_apply_and_waits_for_the_database(tmp_path: Path, engine: Engine) -> None:
    host = LocalInstance("here", root=str(tmp_path / "pg"), docker_host=engine.socket)
    report = anyio.run(Maestro(host).add(*scores()).plan)
    web = report.scores[1]
    assert web.state is ScoreState.PENDING and web.unknown_inputs == ("env[DATABASE_URL]",)
    assert not (tmp_path / "pg").exists()


def test_an_unresolved_reference_never_reaches_an_engine_as_a_placeholder() -> None:
    _, web = scores()
    with pytest.raises(HarmonyError, match="is not known here"):
        web.interpret()
