"""Three sites: a primary and two replicas, every commit on all; switchover and failover to explicit sites."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import pytest

from capabilities.postgresql import PgUser, ReplicationRole
from harmony_py import Maestro, ScoreState, ScoreValueError
from harmony_py.scores import PostgreSQLFailoverScore, PostgreSQLScore, PostgreSQLSwitchoverScore
from topologies import MultisiteTopology

from .committer import committing
from .conftest import free_port_pair, instance


def test_multisite_switchover_to_a_chosen_site(pg_root: Path) -> None:
    sites = MultisiteTopology(
        instance(pg_root, "m0", 0), (instance(pg_root, "m1", 1), instance(pg_root, "m2", 2))
    )
    score = PostgreSQLScore("multi", port=free_port_pair(), users=[PgUser("app", databases=("app",))])
    assert anyio.run(Maestro(sites).add(score).apply).ok
    status = anyio.run(sites.postgresql().status, score.config)
    assert status.member("primary").state.sync_standbys == ("site_0", "site_1")

    with pytest.raises(ScoreValueError, match="choose the member to promote"):
        anyio.run(sites.postgresql().switchover, score.config)

    endpoints = [anyio.run(m.postgresql().endpoint, score.config, "app") for m in sites.members]
    with committing(endpoints, table="multi") as committer:
        committer.wait_for_acks(30)
        report = anyio.run(Maestro(sites).add(PostgreSQLSwitchoverScore(score, to="site[1]")).apply)
        assert report.ok, [s.message for s in report.scores]
        committer.wait_for_acks(30)
    assert committer.missing_from(endpoints) == []
    status = anyio.run(sites.postgresql().status, score.config)
    roles = {m.label: m.state.role for m in status.members}
    assert roles == {"primary": ReplicationRole.REPLICA, "site[0]": ReplicationRole.REPLICA, "site[1]": ReplicationRole.PRIMARY}
    assert status.member("site[1]").state.sync_standbys == ("primary", "site_0")
    again = anyio.run(Maestro(sites).add(score).apply)
    assert [r.state for r in again.scores] == [ScoreState.UNCHANGED], [c.summary for c in again.scores[0].changes]

    # kill -9 the primary site; fail over to the original primary; the other replica follows it.
    killed = sites.sites[1]
    pidfile = Path(killed.postgresql().layout(score.config).data_dir) / "postmaster.pid"
    with committing(endpoints, table="multi_failover") as committer:
        committer.wait_for_acks(30)
        os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
        report = anyio.run(Maestro(sites).add(PostgreSQLFailoverScore(score, to="primary")).apply)
        assert report.ok, [s.message for s in report.scores]
        committer.wait_for_acks(30)
    assert committer.missing_from(endpoints) == []
    status = anyio.run(sites.postgresql().status, score.config)
    assert status.member("primary").state.sync_standbys == ("site_0",)
    assert status.member("site[0]").state.upstream == status.member("primary").address
    assert status.member("site[1]").state.fenced
    rejoined = anyio.run(Maestro(sites).add(score).apply)
    assert rejoined.ok, [s.message for s in rejoined.scores]
    status = anyio.run(sites.postgresql().status, score.config)
    assert status.member("primary").state.sync_standbys == ("site_0", "site_1")
