"""A replicated topology whose members are one server is refused before anything runs.

Found: ``FailoverTopology(LocalhostTopology(), LocalhostTopology())`` planned a
normal deploy, then failed half-way with ``pg_rewind … Connection refused``.
"""

from __future__ import annotations

from pathlib import Path

import anyio

from harmony_py import Maestro, ScoreState
from harmony_py.scores import PostgreSQLScore, PostgreSQLSwitchoverScore
from topologies import FailoverTopology, LocalInstance, LocalhostTopology, MultisiteTopology

from .conftest import free_port_pair, instance

REFUSAL = "are the same PostgreSQL server (127.0.0.1:{port})"


def test_failover_of_two_identical_localhost_members_is_refused_in_the_plan() -> None:
    score = PostgreSQLScore("same_localhost", port=free_port_pair())
    twice = FailoverTopology[LocalhostTopology](LocalhostTopology(), LocalhostTopology())
    report = anyio.run(Maestro(twice).add(score).plan)
    assert [r.state for r in report.scores] == [ScoreState.FAILED]
    message = report.scores[0].message
    assert "members primary and replica " + REFUSAL.format(port=score.port) in message
    assert "LocalInstance" in message
    assert not Path("/var/lib/postgresql/15/same_localhost").exists()


def test_failover_of_one_instance_twice_is_refused_before_anything_runs(pg_root: Path) -> None:
    score = PostgreSQLScore("same_instance", port=free_port_pair())
    one = instance(pg_root, "same", 0)
    twice = FailoverTopology[LocalInstance](one, LocalInstance("same-again", root=one.root))
    report = anyio.run(Maestro(twice).add(score, PostgreSQLSwitchoverScore(score, to="replica")).apply)
    assert [r.state for r in report.scores] == [ScoreState.FAILED, ScoreState.SKIPPED]
    assert "members primary and replica " + REFUSAL.format(port=score.port) in report.scores[0].message
    assert not (pg_root / "same").exists()


def test_multisite_with_a_site_that_is_the_primary_is_refused_naming_both(pg_root: Path) -> None:
    score = PostgreSQLScore("same_site", port=free_port_pair())
    primary = instance(pg_root, "site-p", 0)
    sites = MultisiteTopology(primary, (instance(pg_root, "site-q", 1), primary))
    report = anyio.run(Maestro(sites).add(score).apply)
    assert [r.state for r in report.scores] == [ScoreState.FAILED]
    assert "members primary and site[1] " + REFUSAL.format(port=score.port) in report.scores[0].message
    assert not (pg_root / "site-p").exists() and not (pg_root / "site-q").exists()
