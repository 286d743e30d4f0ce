"""The database's CA certificate beside the application, and its DATABASE_URL naming that copy.

An endpoint over TLS names ``sslrootcert`` as a path on the database's host; an
application elsewhere cannot read it. The platform writes the CA certificate
into the application's own directory (0644, shown in a plan), and the program's
URL asks for ``verify-full`` with that copy. The process case runs a real
PostgreSQL over TLS and a supervised program that keeps its connection open, so
``pg_stat_ssl`` shows how it connected.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from capabilities.application import (
    AppSpec,
    authorities_beside,
    database_authority,
    database_url,
)
from capabilities.postgresql import PgEndpoint, PgUser
from harmony_py import Maestro, ScoreState, Secret
from harmony_py.cli.json_output import run_json
from harmony_py.report import RunReport
from harmony_py.scores import ApplicationScore, ApplicationServiceScore, PostgreSQLScore
from harmony_py.values import ChangeAction
from tests.postgres.conftest import PG_BIN, free_port_pair
from topologies import ApplicationTopology, LocalhostTopology, LocalInstance

from .conftest import free_port, stop_supervised_apps

HERE = Path(__file__).parent
ADDRESS = "127.36.1.7"
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
TLS_ENDPOINT = PgEndpoint(
    "10.0.0.5", 5432, "app", "app", Secret("pw"), sslmode="verify-full", ca_certificate=CA,
    sslrootcert="/var/lib/postgresql/15/app.root.crt",
)  # fmt: skip


def spec(env: dict[str, str | Secret], authorities: dict[str, str]) -> AppSpec:
    return AppSpec("web", "unused:1", ("true",), 1, 8000, "/health", env, authorities=authorities)


def test_a_url_over_tls_verifies_with_the_ca_written_beside_the_application() -> None:
    env: dict[str, str | Secret] = {"DATABASE_URL": database_url(TLS_ENDPOINT), "LOG": "info"}
    placed = authorities_beside(spec(env, {"DATABASE_URL": database_authority(TLS_ENDPOINT)}), "/srv/apps/web/")
    assert placed.files == {"/srv/apps/web/DATABASE_URL.root.crt": CA}
    url = placed.env["DATABASE_URL"]
    assert isinstance(url, Secret)  # still a secret: it holds the password
    assert url.reveal() == (
        "postgresql://app:pw@10.0.0.5:5432/app?sslmode=verify-full&sslrootcert=/srv/apps/web/DATABASE_URL.root.crt"
    )
    assert placed.env["LOG"] == "info"


def test_without_tls_nothing_is_placed_and_the_url_is_unchanged() -> None:
    plain = PgEndpoint("10.0.0.5", 5432, "app", "app", Secret("pw"))
    env: dict[str, str | Secret] = {"DATABASE_URL": database_url(plain)}
    placed = authorities_beside(spec(env, {"DATABASE_URL": database_authority(plain)}), "/srv/apps/web")
    assert placed.files == {} and placed.env == env


def test_a_cluster_endpoint_keeps_its_member_list_with_the_placed_ca() -> None:
    cluster = PgEndpoint(
        "10.0.0.5", 5432, "app", "app", Secret("pw"), members=(("10.0.0.5", 5432), ("10.0.0.6", 5432)),
        sslmode="verify-full", ca_certificate=CA, sslrootcert=None,
    )  # fmt: skip
    placed = authorities_beside(spec({"DATABASE_URL": database_url(cluster)}, {"DATABASE_URL": CA}), "/a")
    url = placed.env["DATABASE_URL"]
    assert isinstance(url, Secret)
    assert url.reveal() == (
        "postgresql://app:pw@10.0.0.5:5432,10.0.0.6:5432/app"
        "?target_session_attrs=read-write&sslmode=verify-full&sslrootcert=/a/DATABASE_URL.root.crt"
    )


def test_an_application_score_hands_its_service_the_database_s_authority_by_reference() -> None:
    web = ApplicationScore("shop", "shop:1").service_score()
    assert set(web.authorities) == {"DATABASE_URL"}
    assert web.spec().authorities == {}, "unknown before the database exists: the plan cannot name its content"


# -- a supervised process and a real PostgreSQL over TLS ---------------------------------------------


@dataclass
class ProbeApp:
    topology: ApplicationTopology
    database: PostgreSQLScore
    web: ApplicationServiceScore
    apps: Path
    socket: Path

    def maestro(self) -> Maestro[ApplicationTopology]:
        return Maestro(self.topology).add(self.database, self.web)

    def apply(self) -> RunReport:
        return anyio.run(self.maestro().apply)

    def plan(self) -> RunReport:
        return anyio.run(self.maestro().plan)

    def sql(self, text: str) -> str:
        found = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "psql"), "-X", "-A", "-t", "-h", str(self.socket),
             "-p", str(self.database.port), "-d", "postgres", "-c", text],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return found.stdout.strip()


@pytest.fixture
def private_secrets(monkeypatch: pytest.MonkeyPatch, pg_root: Path) -> None:
    """One store for the module's cluster, whose tests share it (the suite's default is one per test)."""
    monkeypatch.setenv("HARMONY_SECRETS_DIR", str(pg_root / "tls-apps-secrets"))


@pytest.fixture(scope="module")
def probe(pg_root: Path) -> Iterator[ProbeApp]:
    apps = pg_root / "tls-apps"
    database = PostgreSQLScore(
        "tlsprobe", port=free_port_pair(), databases=["probe"], users=[PgUser("probe", databases=("probe",))], tls=True
    )
    web = ApplicationServiceScore(
        "tls-probe", "unused:1", command=(sys.executable, "tls_probe_app.py"), port=free_port(ADDRESS),
        env={"DATABASE_URL": database.output().map(database_url), "PROBE_NAME": "tls-probe"},
        authorities={"DATABASE_URL": database.output().map(database_authority)}, source=str(HERE),
    )  # fmt: skip
    topology = ApplicationTopology(
        runtime=LocalhostTopology(apps_root=str(apps), app_address=ADDRESS, app_start_timeout_s=20),
        database=LocalInstance("tlsdb", root=str(pg_root / "tlsdb")),
    )
    try:
        yield ProbeApp(topology, database, web, apps, pg_root / "tlsdb" / "15" / "tlsprobe" / "run")
    finally:
        stop_supervised_apps(apps)


def text_of(report: RunReport) -> str:
    return repr(report) + str(run_json(report))


def test_a_process_connects_verify_full_with_the_ca_beside_it_and_applies_once(probe: ProbeApp) -> None:
    first = probe.apply()
    assert first.ok, [s.message for s in first.scores]
    placed = probe.apps / "tls-probe" / "DATABASE_URL.root.crt"
    endpoint = anyio.run(probe.topology.postgresql().endpoint, probe.database.config, "probe")
    assert endpoint.ca_certificate is not None and placed.read_text() == endpoint.ca_certificate
    assert placed.stat().st_mode & 0o777 == 0o644
    url = (probe.apps / "tls-probe" / "env" / "DATABASE_URL").read_text().strip()
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["sslmode"] == ["verify-full"] and query["sslrootcert"] == [str(placed)]
    # The program's own connection, held open: over TLS.
    found = probe.sql("SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'tls-probe'")
    assert found == "t"

    again = probe.apply()
    assert [r.state for r in again.scores] == [ScoreState.UNCHANGED, ScoreState.UNCHANGED], again.scores
    assert not probe.plan().has_changes


def test_a_changed_ca_beside_the_process_is_planned_with_its_diff_and_rewritten_without_a_restart(probe: ProbeApp) -> None:
    placed = probe.apps / "tls-probe" / "DATABASE_URL.root.crt"
    wanted = placed.read_text()
    pid = probe.sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'tls-probe'")
    placed.write_text("stale\n")
    planned = probe.plan()
    [web] = [r for r in planned.scores if r.changes]
    [change] = web.changes
    assert (change.action, change.target) == (ChangeAction.UPDATE, str(placed))
    assert change.diff is not None and "-stale" in change.diff and "+-----BEGIN CERTIFICATE-----" in change.diff
    assert "PRIVATE KEY" not in text_of(planned)

    applied = probe.apply()
    assert applied.ok and placed.read_text() == wanted
    # libpq reads the file at each connection: the running program kept its connection.
    assert probe.sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'tls-probe'") == pid
    assert not probe.plan().has_changes
