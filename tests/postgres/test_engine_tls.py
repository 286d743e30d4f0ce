"""PostgreSQL under Patroni + etcd over TLS (three LocalInstance hosts), with the cluster's own certificates.

The tests run in order on one cluster (module fixture): planned, deployed (replication by the
replication role's client certificate), connected to with ``sslmode=verify-full``, switched
over (the old leader rejoins by certificate), and a certificate near its expiry rotated through a
reload by Patroni. A host crash under TLS is tests/ssh/test_engine_failover.py's (hosts in network
namespaces, TLS by default there, pg_hba hostssl-only: the crashed member can rejoin and stream only
by certificate). Everything started is taken down at the end (tests/postgres/engine_hosts.py).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from capabilities.application import database_url
from harmony_py import Maestro, ScoreState
from harmony_py.cli.json_output import run_json
from harmony_py.report import RunReport
from harmony_py.score import Score
from harmony_py.scores import PostgreSQLSwitchoverScore
from topologies.postgres.tls import ClusterAuthority, Issued, issue, new_authority

from .conftest import PG_BIN
from .engine_hosts import EngineCluster, make_cluster, take_down

NAME = "haetls"
REPLICATION_OVER_TLS = (
    "SELECT r.application_name, r.usename, s.ssl, s.client_dn FROM pg_stat_replication r "
    "JOIN pg_stat_ssl s USING (pid) ORDER BY 1"
)


@pytest.fixture(scope="module")
def cluster(pg_root: Path) -> Iterator[EngineCluster]:
    made = make_cluster(pg_root / "engine-tls", NAME)
    made.score = dataclasses.replace(made.score, tls=True, tls_rotate_before=datetime.timedelta(days=30))
    try:
        yield made
    finally:
        take_down(made)


def run(cluster: EngineCluster, *scores: Score[Any], plan: bool = False) -> RunReport:
    maestro = Maestro(cluster.topology).add(*scores)
    return anyio.run(maestro.plan if plan else maestro.apply)


def text_of(report: RunReport) -> str:
    return repr(report) + json.dumps(run_json(report))


def sql(cluster: EngineCluster, label: str, text: str) -> str:
    """``text`` on the member's PostgreSQL, as postgres over its socket."""
    return anyio.run(cluster.engine.server(cluster.participant(label)).sql, text).strip()


def replication_over_tls(cluster: EngineCluster, leader: str) -> list[list[str]]:
    """Each standby connection on ``leader``: its name, role, whether TLS, the client certificate's DN."""
    return [line.split("|") for line in sql(cluster, leader, REPLICATION_OVER_TLS).splitlines()]


def wait_steady(cluster: EngineCluster, leader: str, standby: str) -> None:
    wanted = {leader: ("leader", "running"), standby: ("sync_standby", "streaming")}
    cluster.wait(f"{leader} leading and {standby} a streaming synchronous standby",
                 lambda view: {m.name: (m.role, m.state) for m in view.members} == wanted, timeout_s=180)  # fmt: skip


def psql(conninfo: str, query: str) -> subprocess.CompletedProcess[str]:
    """``psql`` with nothing from the environment but a search path."""
    return subprocess.run(
        [str(PG_BIN / "psql"), "-X", "-A", "-t", "-d", conninfo, "-c", query], capture_output=True, text=True,
        timeout=30, check=False, env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
    )  # fmt: skip


def served_certificate(host: str, port: int) -> str:
    """The server certificate PostgreSQL presents at ``host:port`` (PEM)."""
    shown = subprocess.run(
        ["openssl", "s_client", "-starttls", "postgres", "-connect", f"{host}:{port}"],
        input="", capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    assert begin in shown.stdout, shown.stderr
    return shown.stdout[shown.stdout.index(begin) : shown.stdout.index(end) + len(end)] + "\n"


def test_plan_of_a_tls_engine_cluster_places_certificates_and_shows_no_key(cluster: EngineCluster) -> None:
    report = cluster.plan()
    summaries = [c.summary for c in report.changes]
    for label in ("primary", "replica"):
        for name in ("root.crt", "server.crt", "server.key", "replication.crt", "replication.key"):
            assert any(s.startswith(f"{label}: ") and name in s for s in summaries), (label, name, summaries)
    assert "PRIVATE KEY" not in text_of(report)
    assert not (Path(os.environ["HARMONY_SECRETS_DIR"]) / "postgresql" / NAME / "tls").exists(), "a plan stored a key"


def test_deploy_over_tls_streams_to_the_replica_by_its_client_certificate_and_reapply_is_noop(
    cluster: EngineCluster,
) -> None:
    first = cluster.apply()
    assert first.ok, [s.message for s in first.scores]
    assert "PRIVATE KEY" not in text_of(first)
    wait_steady(cluster, "primary", "replica")
    again = cluster.apply()
    assert [s.state for s in again.scores] == [ScoreState.UNCHANGED], [s.message for s in again.scores]
    assert not cluster.plan().has_changes

    # The replica streams over TLS, logged in with the replication role's certificate.
    assert replication_over_tls(cluster, "primary") == [["replica", "replicator", "t", "/CN=replicator"]]
    rules = sql(cluster, "primary", "SELECT type, database[1], user_name[1], auth_method FROM pg_hba_file_rules "
                                    "WHERE type LIKE 'host%' ORDER BY line_number")  # fmt: skip
    rows = [line.split("|") for line in rules.splitlines()]
    assert rows and all(kind == "hostssl" for kind, *_ in rows), rows
    assert ["hostssl", "replication", "replicator", "cert"] in rows, rows
    assert not [row for row in rows if row[2] == "replicator" and row[3] != "cert"], rows

    for member in cluster.engine.databases:
        config = json.loads(Path(member.patroni_config).read_text())
        replication = config["postgresql"]["authentication"]["replication"]
        assert "password" not in replication and replication["sslmode"] == "verify-full", replication
        assert config["postgresql"]["parameters"]["ssl"] == "on"
        pgpass = Path(member.patroni_dir, "pgpass")
        assert not pgpass.exists() or "replicator" not in pgpass.read_text()
        for name in ("server.key", "replication.key", "server.crt", "root.crt"):
            found = os.stat(Path(member.patroni_dir, name))
            assert stat.S_IMODE(found.st_mode) == 0o600 and found.st_uid == _uid("postgres"), name


def test_pg_rewind_logs_in_to_the_leader_by_certificate_with_the_rights_it_needs(cluster: EngineCluster) -> None:
    """What Patroni's pg_rewind and its checks before it do: a database login to the leader as the
    ``authentication.rewind`` entry says (the replica's files, run as postgres), reading the data directory."""
    leader, replica = cluster.participant("primary"), cluster.participant("replica")
    rewind = json.loads(Path(replica.patroni_config).read_text())["postgresql"]["authentication"]["rewind"]
    assert "password" not in rewind and rewind["sslmode"] == "verify-full", rewind
    keys = {k: v for k, v in rewind.items() if k != "username"}
    conninfo = " ".join([f"host={leader.host} port={leader.pg_port} dbname=postgres user={rewind['username']}",
                         *(f"{k}={v}" for k, v in sorted(keys.items()))])  # fmt: skip
    found = subprocess.run(
        ["runuser", "-u", "postgres", "--", "env", "-i", "PATH=/usr/bin:/bin", str(PG_BIN / "psql"), "-X", "-A", "-t",
         "-d", conninfo, "-c", "SELECT s.ssl, count(*) > 0 FROM pg_stat_ssl s, pg_catalog.pg_ls_dir('.', true, false) "
         "WHERE s.pid = pg_backend_pid() GROUP BY s.ssl"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == "t|t"


def test_the_cluster_hands_each_member_its_certificates_as_placed(cluster: EngineCluster) -> None:
    found = anyio.run(cluster.service.certificates, cluster.score.config)
    assert set(found) == {"primary", "replica"}
    for label, certificates in found.items():
        member = cluster.participant(label)
        assert certificates.server_certificate == Path(member.patroni_dir, "server.crt").read_text()
        assert certificates.authority == Path(member.patroni_dir, "root.crt").read_text()
        assert member.host in Issued(certificates.server_certificate, certificates.server_key).x509.subject.rfc4514_string()
    assert len({c.authority for c in found.values()}) == 1


def _uid(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_uid


def test_endpoint_is_verify_full_and_connects_only_with_the_clusters_authority(
    cluster: EngineCluster, tmp_path: Path
) -> None:
    endpoint = cluster.endpoint()
    assert endpoint.sslmode == "verify-full" and endpoint.sslrootcert is not None
    assert len(endpoint.members) == 2
    assert endpoint.ca_certificate is not None and Path(endpoint.sslrootcert).read_text() == endpoint.ca_certificate
    url = database_url(endpoint).reveal()
    assert "sslmode=verify-full" in url and "target_session_attrs=read-write" in url
    good = psql(url, "SELECT ssl, pg_is_in_recovery() FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "t|f"

    other = tmp_path / "other-ca.crt"
    other.write_text(new_authority("elsewhere").certificate)
    refused = psql(url.replace(endpoint.sslrootcert, str(other)), "SELECT 1")
    assert refused.returncode != 0 and "certificate verify failed" in refused.stderr, refused.stderr
    plain = psql(url.replace("sslmode=verify-full", "sslmode=disable"), "SELECT 1")
    assert plain.returncode != 0 and "no pg_hba.conf entry" in plain.stderr, plain.stderr


def test_switchover_over_tls_the_old_leader_rejoins_by_certificate_and_reapply_is_noop(cluster: EngineCluster) -> None:
    switch = PostgreSQLSwitchoverScore(cluster.score, to="replica")
    report = run(cluster, switch)
    assert [s.state for s in report.scores] == [ScoreState.CHANGED], report.scores[0].message
    wait_steady(cluster, "replica", "primary")
    assert replication_over_tls(cluster, "replica") == [["primary", "replicator", "t", "/CN=replicator"]]
    again = run(cluster, switch, cluster.score)
    assert [s.state for s in again.scores] == [ScoreState.UNCHANGED] * 2, [s.message for s in again.scores]
    assert not run(cluster, switch, cluster.score, plan=True).has_changes


def test_a_certificate_expiring_within_the_window_is_rotated_with_a_reload_through_patroni(
    cluster: EngineCluster,
) -> None:
    member = cluster.participant("primary")
    store = cluster.engine.store
    authority = ClusterAuthority(store, cluster.engine.server(member).config).authority()
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=10)
    expiring = issue(authority, member.host, names=(member.host,), client=False, not_after=soon)
    store.replace(f"postgresql/{NAME}/tls/server-{member.host}-{member.pg_port}", expiring.stored())
    started = sql(cluster, "primary", "SELECT pg_postmaster_start_time()")

    planned = cluster.plan()
    summaries = [c.summary for c in planned.changes]
    assert any(s.startswith("primary: ") and "server.crt" in s for s in summaries), summaries
    assert any(s.startswith("primary: ") and "server.key" in s for s in summaries), summaries
    assert any("TLS: re-issue the server certificate" in s and "within 30 days" in s for s in summaries), summaries
    assert not [s for s in summaries if s.startswith("replica: ")], summaries
    assert "PRIVATE KEY" not in text_of(planned)

    rotated = cluster.apply()
    assert rotated.ok, [s.message for s in rotated.scores]
    served = served_certificate(member.host, member.pg_port)
    assert served == Path(member.patroni_dir, "server.crt").read_text()
    assert Issued(served, expiring.key).x509.not_valid_after_utc > soon + datetime.timedelta(days=300)
    assert sql(cluster, "primary", "SELECT pg_postmaster_start_time()") == started, "the rotation restarted PostgreSQL"
    again = cluster.apply()
    assert [s.state for s in again.scores] == [ScoreState.UNCHANGED], [s.message for s in again.scores]
    assert not cluster.plan().has_changes
