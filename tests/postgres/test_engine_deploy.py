"""PostgreSQL under Patroni + etcd on three LocalInstance hosts: plan, deploy, re-apply, endpoint, secrets.

The tests run in order on one cluster (module fixture); every server they start
is taken down at the end (tests/postgres/engine_hosts.py).
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import psycopg
import pytest

from capabilities.application import database_url
from capabilities.postgresql import PgEndpoint, ReplicationRole
from harmony_py import ScoreState
from harmony_py.values import Secret
from topologies.postgres.patroni.etcd import ETCDCTL, endpoints

from .engine_hosts import EngineCluster, engine_cluster


@pytest.fixture(scope="module")
def cluster(pg_root: Path) -> Iterator[EngineCluster]:
    with engine_cluster(pg_root / "engine-deploy") as made:
        yield made


def _stored_secrets(root: Path) -> list[str]:
    store = Path(os.environ["HARMONY_SECRETS_DIR"])
    return [path.read_text().strip() for path in store.rglob("*") if path.is_file() and not path.name.startswith(".")]


def test_plan_of_a_new_cluster_names_each_part_and_the_witness_sharing_a_machine(cluster: EngineCluster) -> None:
    report = cluster.plan()
    summaries = [change.summary for change in report.changes]
    assert any("initialise the cluster and lead it" in s for s in summaries), summaries
    assert any("clone primary and stream from it synchronously" in s for s in summaries), summaries
    assert any("enable etcd authentication" in s for s in summaries), summaries
    assert any("witness shares this machine with primary, replica: no automatic failover when this machine dies" in s for s in summaries), summaries
    assert not list(Path(cluster.root).rglob("patroni.yml")), "a plan wrote a file"


def test_deploy_runs_a_leader_and_a_streaming_synchronous_standby_and_reapply_is_noop(cluster: EngineCluster) -> None:
    first = cluster.apply()
    assert first.ok, [s.message for s in first.scores]
    assert [s.state for s in first.scores] == [ScoreState.CHANGED]
    # The deploy saw the synchronous standby streaming; the settings step after it may reload the
    # members, and a loaded machine can show the replica reconnecting for a moment.
    wanted = {"primary": ("leader", "running"), "replica": ("sync_standby", "streaming")}
    cluster.wait("a leader and a streaming synchronous standby",
                 lambda view: {m.name: (m.role, m.state) for m in view.members} == wanted, timeout_s=60)  # fmt: skip
    again = cluster.apply()
    assert [s.state for s in again.scores] == [ScoreState.UNCHANGED], again.scores
    assert not cluster.plan().has_changes


def test_no_password_reaches_a_plan_or_a_report(cluster: EngineCluster) -> None:
    shown = repr(cluster.plan().scores) + repr(cluster.apply().scores)
    secrets = _stored_secrets(cluster.root)
    assert secrets
    assert not [s for s in secrets if s in shown]


def test_endpoint_is_a_multi_host_url_reaching_the_leader(cluster: EngineCluster) -> None:
    endpoint = cluster.endpoint()
    members = tuple((p.host, p.pg_port) for p in cluster.engine.databases)
    assert endpoint.members == members
    url = database_url(endpoint).reveal()
    assert ",".join(f"{h}:{p}" for h, p in members) in url and url.endswith("?target_session_attrs=read-write")
    with psycopg.connect(url, connect_timeout=5) as connection:
        row = connection.execute("SELECT pg_is_in_recovery(), current_setting('port')").fetchone()
    assert row == (False, str(cluster.participant("primary").pg_port))


def test_engine_settings_are_the_validated_timings_with_synchronous_mode_not_strict(cluster: EngineCluster) -> None:
    primary = cluster.participant("primary")
    found = json.loads(subprocess.run(["curl", "-s", "-f", f"{primary.rest_url}/config"], capture_output=True,
                                      check=True).stdout)  # fmt: skip
    assert (found["ttl"], found["loop_wait"], found["retry_timeout"]) == (20, 1, 3)
    assert found["synchronous_mode"] is True and found["synchronous_mode_strict"] is False
    assert found["postgresql"]["use_pg_rewind"] is True


def test_files_holding_secrets_are_private_and_etcd_asks_for_a_user(cluster: EngineCluster) -> None:
    for member in cluster.engine.databases:
        config = os.stat(member.patroni_config)
        assert stat.S_IMODE(config.st_mode) == 0o600 and config.st_uid == _uid("postgres")
    for member in cluster.engine.participants:
        data = os.stat(member.etcd_dir)
        assert stat.S_IMODE(data.st_mode) == 0o700 and data.st_uid == _uid("etcd")
    anonymous = subprocess.run([ETCDCTL, f"--endpoints={endpoints(cluster.engine.participants)}", "get", "--prefix",
                                "/service/"], capture_output=True, text=True, env={"ETCDCTL_API": "3"})  # fmt: skip
    assert anonymous.returncode != 0 and "user name is empty" in anonymous.stderr
    hba = Path(cluster.participant("primary").pg.data_dir, "pg_hba.conf").read_text()
    assert not [line for line in hba.splitlines() if line.strip() and not line.startswith("#") and "trust" in line]


def _uid(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid


def test_status_reads_each_member_of_the_engine(cluster: EngineCluster) -> None:
    wanted = [("replica", "streaming", "sync")]
    # After a re-apply reloads the members, PostgreSQL may show the standby reconnecting (async) for a
    # moment before Patroni's synchronous_standby_names takes hold again: read until it is steady.
    for _ in range(120):
        status = anyio.run(cluster.service.status, cluster.score.config)
        standbys = [(s.name, s.state, s.sync_state) for s in status.member("primary").state.standbys]
        if standbys == wanted:
            break
        time.sleep(0.5)
    roles = {m.label: m.state.role for m in status.members}
    assert roles == {"primary": ReplicationRole.PRIMARY, "replica": ReplicationRole.REPLICA}
    assert standbys == wanted


def test_database_url_of_a_cluster_lists_every_member_and_of_one_server_is_unchanged() -> None:
    one = PgEndpoint("10.0.0.5", 5433, "app", "app", Secret("p@ss"))
    assert database_url(one).reveal() == "postgresql://app:p%40ss@10.0.0.5:5433/app"
    many = dataclasses.replace(one, members=(("10.0.0.5", 5433), ("::1", 5434)))
    assert database_url(many).reveal() == (
        "postgresql://app:p%40ss@10.0.0.5:5433,[::1]:5434/app?target_session_attrs=read-write"
    )
