"""A primary and a synchronous replica over TLS, with certificates from the cluster's own authority.

The tests run in order on one cluster: planned, deployed, connected to as a
client and as a (false) replica would, then a certificate near its expiry is
rotated with a reload.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from capabilities.postgresql import PgEndpoint, PgUser
from harmony_py import Maestro, ScoreState
from harmony_py.cli.json_output import run_json
from harmony_py.report import RunReport
from harmony_py.scores import PostgreSQLScore
from topologies import FailoverTopology, LocalInstance
from topologies.postgres.tls import ClusterAuthority, Issued, issue, new_authority
from topologies.secret_store import SecretStore

from .conftest import PG_BIN, free_port_pair, instance


@dataclass
class Cluster:
    topology: FailoverTopology[LocalInstance]
    score: PostgreSQLScore
    root: Path

    def endpoint(self, member: int = 0) -> PgEndpoint:
        return anyio.run(self.topology.members[member].postgresql().endpoint, self.score.config, "app")

    def base(self, label: str) -> Path:
        return self.root / label / "15" / "tlsapp"

    def sql(self, label: str, text: str) -> str:
        socket = self.base(label) / "run"
        port = self.score.port + (0 if label == "a" else 1)
        found = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "psql"), "-X", "-A", "-t", "-h", str(socket),
             "-p", str(port), "-d", "postgres", "-c", text],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return found.stdout.strip()


@pytest.fixture(scope="module")
def cluster(pg_root: Path) -> Iterator[Cluster]:
    port = free_port_pair()
    topology = FailoverTopology[LocalInstance](instance(pg_root, "a", 0), instance(pg_root, "b", 1))
    score = PostgreSQLScore(
        "tlsapp", port=port, databases=["app"], users=[PgUser("app", databases=("app",))], tls=True,
        tls_rotate_before=datetime.timedelta(days=30),
    )  # fmt: skip
    yield Cluster(topology, score, pg_root)


def apply(cluster: Cluster) -> RunReport:
    return anyio.run(Maestro(cluster.topology).add(cluster.score).apply)


def plan(cluster: Cluster) -> RunReport:
    return anyio.run(Maestro(cluster.topology).add(cluster.score).plan)


def psql(conninfo: str, query: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``psql`` as this user with nothing from the environment but what is given."""
    return subprocess.run(
        [str(PG_BIN / "psql"), "-X", "-A", "-t", "-d", conninfo, "-c", query],
        capture_output=True, text=True, timeout=30, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **(env or {})},
    )  # fmt: skip


def private_file(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


def text_of(report: RunReport) -> str:
    return repr(report) + json.dumps(run_json(report))


def test_plan_of_a_tls_cluster_shows_certificates_without_any_key(cluster: Cluster) -> None:
    report = plan(cluster)
    shown = text_of(report)
    assert "server.key" in shown and "server.crt" in shown and "replication.key" in shown
    assert "PRIVATE KEY" not in shown
    assert not (cluster.root / "secrets" / "postgresql" / "tlsapp" / "tls").exists(), "a plan stored a certificate"


def test_replication_streams_over_tls_with_a_client_certificate(cluster: Cluster) -> None:
    first = apply(cluster)
    assert first.ok, [s.message for s in first.scores]
    assert "PRIVATE KEY" not in text_of(first)
    again = apply(cluster)
    assert [r.state for r in again.scores] == [ScoreState.UNCHANGED], again.scores
    assert not plan(cluster).has_changes

    found = cluster.sql(
        "a",
        "SELECT r.usename || ' ' || r.sync_state || ' ' || s.ssl || ' ' || s.version "
        "FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)",
    )
    user, sync_state, ssl, version = found.split()
    assert (user, sync_state, ssl) == ("replicator", "sync", "true")
    assert version.startswith("TLSv1.")
    # No password for the replication role in any file.
    assert not list(cluster.root.glob("*/15/tlsapp/replication.pgpass"))
    for key in cluster.root.glob("*/15/tlsapp/*.key"):
        assert key.stat().st_mode & 0o777 == 0o600
    store = cluster.root / "secrets" / "postgresql" / "tlsapp" / "tls"
    assert {p.name for p in store.iterdir()} >= {"ca", "client-replicator"}
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in store.iterdir())


def test_endpoint_with_verify_full_connects_and_another_authority_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    endpoint = cluster.endpoint()
    assert endpoint.sslmode == "verify-full" and endpoint.sslrootcert is not None
    assert endpoint.ca_certificate is not None and "BEGIN CERTIFICATE" in endpoint.ca_certificate
    assert Path(endpoint.sslrootcert).read_text() == endpoint.ca_certificate
    password = {"PGPASSWORD": endpoint.password.reveal()}
    base = f"host={endpoint.host} port={endpoint.port} dbname={endpoint.database} user={endpoint.user} sslmode=verify-full"

    good = psql(f"{base} sslrootcert={endpoint.sslrootcert}", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", password)
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "t"

    other = tmp_path / "other-ca.crt"
    other.write_text(new_authority("elsewhere").certificate)
    refused = psql(f"{base} sslrootcert={other}", "SELECT 1", password)
    assert refused.returncode != 0
    assert "certificate verify failed" in refused.stderr

    # The password alone, without TLS, is refused too (hostssl only).
    plain = psql(f"host={endpoint.host} port={endpoint.port} dbname=app user=app sslmode=disable", "SELECT 1", password)
    assert plain.returncode != 0
    assert "no pg_hba.conf entry" in plain.stderr


def test_replica_with_a_wrong_or_expired_client_certificate_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    endpoint = cluster.endpoint()
    assert endpoint.sslrootcert is not None
    authority = Issued.from_stored(
        SecretStore(cluster.root / "secrets").get("postgresql/tlsapp/tls/ca").reveal()  # type: ignore[union-attr]
    )
    base = (
        f"host={endpoint.host} port={endpoint.port} user=replicator dbname=postgres replication=database "
        f"sslmode=verify-full sslrootcert={endpoint.sslrootcert}"
    )

    def as_replica(name: str, issued: Issued) -> subprocess.CompletedProcess[str]:
        cert = private_file(tmp_path / f"{name}.crt", issued.certificate)
        key = private_file(tmp_path / f"{name}.key", issued.key.reveal())
        return psql(f"{base} sslcert={cert} sslkey={key}", "IDENTIFY_SYSTEM")

    valid = as_replica("valid", issue(authority, "replicator", client=True))
    assert valid.returncode == 0, valid.stderr

    wrong = as_replica("wrong", issue(new_authority("elsewhere"), "replicator", client=True))
    assert wrong.returncode != 0
    assert "unknown ca" in wrong.stderr

    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=10)
    expired = as_replica(
        "expired", issue(authority, "replicator", client=True, not_before=past, not_after=past + datetime.timedelta(days=1))
    )
    assert expired.returncode != 0
    assert "expired" in expired.stderr

    # Nor does the replication role get in with a password instead of a certificate.
    no_cert = psql(base, "IDENTIFY_SYSTEM", {"PGPASSWORD": "anything"})
    assert no_cert.returncode != 0


def served_certificate(endpoint: PgEndpoint) -> str:
    """The server certificate PostgreSQL presents at ``endpoint`` (PEM)."""
    shown = subprocess.run(
        ["openssl", "s_client", "-starttls", "postgres", "-connect", f"{endpoint.host}:{endpoint.port}"],
        input="", capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    text = shown.stdout
    assert begin in text, shown.stderr
    return text[text.index(begin) : text.index(end) + len(end)] + "\n"


def test_certificate_expiring_within_the_window_is_rotated_with_a_reload(cluster: Cluster) -> None:
    endpoint = cluster.endpoint()
    store = SecretStore(cluster.root / "secrets")
    authority = ClusterAuthority(store, cluster.score.config)
    member = f"{endpoint.host}-{endpoint.port}"
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=10)
    expiring = issue(authority.authority(), endpoint.host, names=(endpoint.host,), client=False, not_after=soon)
    store.replace(f"postgresql/tlsapp/tls/server-{member}", expiring.stored())
    started = cluster.sql("a", "SELECT pg_postmaster_start_time()")

    planned = plan(cluster)
    summaries = [c.summary for s in planned.scores for c in s.changes]
    assert any("server.crt" in s for s in summaries) and any("server.key" in s for s in summaries), summaries
    assert any("TLS: re-issue the server certificate" in s and "within 30 days" in s for s in summaries), summaries
    assert "PRIVATE KEY" not in text_of(planned)

    rotated = apply(cluster)
    assert rotated.ok, [s.message for s in rotated.scores]
    served = served_certificate(endpoint)
    assert Issued(served, expiring.key).x509.not_valid_after_utc > soon + datetime.timedelta(days=300)
    assert served == (cluster.base("a") / "server.crt").read_text()
    assert cluster.sql("a", "SELECT pg_postmaster_start_time()") == started, "rotation restarted the server"
    again = apply(cluster)
    assert [r.state for r in again.scores] == [ScoreState.UNCHANGED], again.scores
    assert not plan(cluster).has_changes
    assert os.path.exists(cluster.base("b") / "server.crt")
