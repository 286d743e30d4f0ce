"""Patroni's configuration for a member with and without TLS (no server: the file's content only, adr/0102)."""

from __future__ import annotations

from typing import Any

from capabilities.postgresql import PgConfig
from harmony_py.values import Secret
from topologies.host.local_runner import LocalCommandRunner
from topologies.postgres.host import HostPlacement
from topologies.postgres.patroni.config import Credentials, Timings, patroni_config
from topologies.postgres.patroni.layout import Participant

CONFIG = PgConfig("app", port=25432, listen_addresses=("10.0.0.5",), allowed_networks=("10.0.0.0/24",))
SECRETS = Credentials(*(Secret(f"secret-{n}") for n in range(5)))


def member_config(*, tls: bool) -> dict[str, Any]:
    member = Participant("primary", LocalCommandRunner("here"), HostPlacement(root="/srv/pg"), CONFIG, database=True)
    witness = Participant("witness", LocalCommandRunner("here"), HostPlacement(root="/srv/w", port_shift=1), CONFIG, False)
    found: dict[str, Any] = patroni_config(member, [member, witness], SECRETS, Timings(), tls=tls)["postgresql"]
    return found


def test_with_tls_replication_and_rewind_log_in_by_certificate_with_no_password_in_the_file() -> None:
    pg = member_config(tls=True)
    base = "/srv/pg/15/app/patroni"
    login = {"username": "replicator", "sslmode": "verify-full", "sslrootcert": f"{base}/root.crt",
             "sslcert": f"{base}/replication.crt", "sslkey": f"{base}/replication.key"}  # fmt: skip
    assert pg["authentication"] == {"superuser": {"username": "postgres"}, "replication": login, "rewind": login}
    assert {k: pg["parameters"][k] for k in ("ssl", "ssl_cert_file", "ssl_key_file", "ssl_ca_file")} == {
        "ssl": "on", "ssl_cert_file": f"{base}/server.crt", "ssl_key_file": f"{base}/server.key",
        "ssl_ca_file": f"{base}/root.crt",
    }  # fmt: skip
    assert "secret-" not in repr(pg)


def test_with_tls_pg_hba_is_hostssl_only_and_the_local_replication_line_is_peer_mapped() -> None:
    pg = member_config(tls=True)
    rules = pg["pg_hba"]
    assert not [r for r in rules if r.startswith("host ") or " trust" in r], rules
    assert "hostssl replication replicator 10.0.0.0/24 cert" in rules
    assert "hostssl all replicator 10.0.0.0/24 cert" in rules
    assert rules.index("hostssl all replicator 10.0.0.0/24 cert") < rules.index("hostssl all all 10.0.0.0/24 scram-sha-256")
    assert rules[-1] == "local replication replicator peer map=harmony_replication"
    assert pg["pg_ident"] == ["harmony_replication postgres replicator"]
    assert pg["use_unix_socket_repl"] is True


def test_without_tls_the_file_is_as_before_passwords_and_scram() -> None:
    pg = member_config(tls=False)
    assert pg["authentication"]["replication"] == {"username": "replicator", "password": "secret-0"}
    assert pg["authentication"]["rewind"] == {"username": "harmony_rewind", "password": "secret-1"}
    assert "ssl" not in pg["parameters"] and "pg_ident" not in pg
    assert pg["pg_hba"][-1] == "local replication replicator scram-sha-256"
    assert not [r for r in pg["pg_hba"] if r.startswith("hostssl")]
