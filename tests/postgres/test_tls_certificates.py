"""The certificates of a TLS cluster and the text that uses them, without starting a server."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import anyio
import pytest
from cryptography import x509

from capabilities.application import database_url
from capabilities.postgresql import PgConfig, PgEndpoint
from harmony_py.values import Secret
from topologies import FailoverTopology, LinuxHostTopology, LocalInstance
from topologies.postgres.cluster import ReplicatedPostgreSQL
from topologies.postgres.patroni.cluster import PatroniCluster
from topologies.postgres.text import pg_hba_conf
from topologies.postgres.tls import (
    ClusterAuthority,
    Issued,
    issue,
    names_of,
    signed_by,
    tls_enabled,
)
from topologies.secret_store import SecretStore


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SecretStore:
    monkeypatch.setenv("HARMONY_SECRETS_DIR", str(tmp_path / "secrets"))
    return SecretStore(tmp_path / "secrets")


def test_tls_is_on_by_default_beyond_loopback_and_an_explicit_choice_is_kept() -> None:
    assert not tls_enabled(PgConfig("c"))
    assert not tls_enabled(PgConfig("c", listen_addresses=("127.0.0.2", "::1", "localhost")))
    assert tls_enabled(PgConfig("c", listen_addresses=("127.0.0.1", "10.0.0.5")))
    assert tls_enabled(PgConfig("c", listen_addresses=("*",)))
    assert tls_enabled(PgConfig("c", listen_addresses=("0.0.0.0",)))
    assert not tls_enabled(PgConfig("c", listen_addresses=("*",), tls=False))
    assert tls_enabled(PgConfig("c", tls=True))


def test_a_cluster_decides_tls_once_for_every_member_from_where_they_are_reached() -> None:
    """One member listens on its network address, the other on loopback of a remote host: both run TLS."""
    remote = FailoverTopology[LinuxHostTopology](
        LinuxHostTopology("192.0.2.20", postgres_listen=("192.0.2.20",)), LinuxHostTopology("192.0.2.21")
    )
    config = PgConfig("shop", port=25400)
    cluster = remote.postgresql()
    assert isinstance(cluster, ReplicatedPostgreSQL)
    decided = anyio.run(cluster.decided, config)
    assert decided.tls is True
    assert anyio.run(cluster.decided, dataclasses.replace(config, tls=False)).tls is False
    local = FailoverTopology[LocalInstance](LocalInstance("a"), LocalInstance("b", port_shift=1)).postgresql()
    assert isinstance(local, ReplicatedPostgreSQL)
    assert anyio.run(local.decided, config).tls is False
    assert anyio.run(local.decided, dataclasses.replace(config, listen_addresses=("*",))).tls is True


def test_the_automatic_failover_engine_decides_tls_once_for_the_cluster_like_the_manual_path(store: SecretStore) -> None:
    """Beyond loopback TLS is on for every member of the engine's cluster; an explicit False is kept (adr/0100, 0102)."""
    hosts = [LinuxHostTopology(f"192.0.2.{n}", postgres_listen=(f"192.0.2.{n}",)) for n in (30, 31, 32)]
    engine = PatroniCluster(("primary", "replica"), [h.postgresql() for h in hosts[:2]], hosts[2]).engine
    assert engine(PgConfig("shop")).tls is True
    assert engine(PgConfig("shop", tls=False)).tls is False


def test_pair_members_get_certificates_from_one_authority_named_for_their_addresses(store: SecretStore, tmp_path: Path) -> None:
    pair = FailoverTopology[LocalInstance](
        LocalInstance("a", root=str(tmp_path / "a")), LocalInstance("b", root=str(tmp_path / "b"), port_shift=1)
    )
    config = PgConfig("shop", port=25400, listen_addresses=("127.0.0.1",), tls=True)
    cluster = pair.postgresql()
    assert isinstance(cluster, ReplicatedPostgreSQL)  # the manual path (the engine: tests/postgres/test_engine_tls.py)
    found = anyio.run(cluster.certificates, config)
    assert set(found) == {"primary", "replica"}
    authority = x509.load_pem_x509_certificate(found["primary"].authority.encode())
    for member in found.values():
        assert member.authority == found["primary"].authority
        server = x509.load_pem_x509_certificate(member.server_certificate.encode())
        client = x509.load_pem_x509_certificate(member.client_certificate.encode())
        assert signed_by(server, authority) and signed_by(client, authority)
        assert names_of(server) == ("127.0.0.1",)
        assert client.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "replicator"
        assert isinstance(member.server_key, Secret) and "PRIVATE KEY" not in repr(member)
    assert found["primary"].server_certificate != found["replica"].server_certificate
    # Issued once: asked again, the same.
    assert anyio.run(cluster.certificates, config) == found
    entries = list((tmp_path / "secrets" / "postgresql" / "shop" / "tls").iterdir())
    assert {e.name for e in entries} == {"ca", "client-replicator", "server-127.0.0.1-25400", "server-127.0.0.1-25401"}
    assert all(e.stat().st_mode & 0o777 == 0o600 for e in entries)
    # Without TLS, nothing is issued.
    assert anyio.run(cluster.certificates, dataclasses.replace(config, name="plain", tls=False)) == {}


def test_certificate_expiring_within_the_window_is_reissued_and_a_plan_stores_nothing(store: SecretStore) -> None:
    config = PgConfig("shop", tls=True, tls_rotate_before=datetime.timedelta(days=30))
    authority = ClusterAuthority(store, config)
    first = authority.server("m", ("10.0.0.5",))
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=10)
    expiring = issue(authority.authority(), "10.0.0.5", names=("10.0.0.5",), client=False, not_after=soon)
    store.replace("postgresql/shop/tls/server-m", expiring.stored())

    planned = ClusterAuthority(store.for_plan(), config)
    drafted = planned.server("m", ("10.0.0.5",))
    assert drafted.certificate != expiring.certificate
    assert planned.rotations == ["server certificate of m: it expires on " + f"{soon:%Y-%m-%d}, within 30 days"]
    stored = store.get("postgresql/shop/tls/server-m")
    assert stored is not None and Issued.from_stored(stored.reveal()).certificate == expiring.certificate

    rotated = ClusterAuthority(store, config).server("m", ("10.0.0.5",))
    assert rotated.x509.not_valid_after_utc > soon + datetime.timedelta(days=300)
    assert rotated.certificate not in (first.certificate, expiring.certificate)
    # A member reached at a new address gets a certificate with that name.
    moved = ClusterAuthority(store, config).server("m", ("10.0.0.6",))
    assert names_of(moved.x509) == ("10.0.0.6",)


def test_hba_with_tls_lets_the_replication_role_in_by_certificate_only() -> None:
    rows = pg_hba_conf(PgConfig("c", allowed_networks=("10.0.0.0/24",)), tls=True).splitlines()
    assert "hostssl replication replicator 10.0.0.0/24 cert" in rows
    assert "hostssl all replicator 10.0.0.0/24 cert" in rows
    assert "hostssl all all 10.0.0.0/24 scram-sha-256" in rows
    assert not [row for row in rows if row.startswith("host ")]


def test_database_url_of_a_tls_endpoint_asks_for_verify_full_with_the_cluster_ca() -> None:
    endpoint = PgEndpoint("10.0.0.5", 5432, "app", "app", Secret("pw"))
    assert database_url(endpoint).reveal() == "postgresql://app:pw@10.0.0.5:5432/app"
    tls = dataclasses.replace(endpoint, sslmode="verify-full", ca_certificate="PEM", sslrootcert="/var/lib/postgresql/15/app.root.crt")
    assert database_url(tls).reveal() == (
        "postgresql://app:pw@10.0.0.5:5432/app?sslmode=verify-full&sslrootcert=/var/lib/postgresql/15/app.root.crt"
    )
