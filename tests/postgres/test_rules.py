"""The rules that need no server: text quoting, SCRAM, the secret store, score validation, capability checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capabilities.postgresql import PgUser
from harmony_py import Maestro, MissingCapabilityError, ScoreValueError
from harmony_py.errors import HarmonyError
from harmony_py.scores import PostgreSQLScore, PostgreSQLSwitchoverScore
from harmony_py.topology import TopologyReport
from topologies import FailoverTopology, LocalhostTopology, MultisiteTopology
from topologies.postgres.cluster import Member, parse_lsn
from topologies.postgres.text import (
    conf_value,
    mask_verifiers,
    pgpass_line,
    primary_replication_conf,
    scram_matches,
    scram_verifier,
    sync_names,
)
from topologies.secret_store import SecretStore


@given(st.text(min_size=1, max_size=30))
def test_a_scram_verifier_matches_its_password_only(password: str) -> None:
    verifier = scram_verifier(password, iterations=64)
    assert scram_matches(password, verifier)
    assert not scram_matches(password + "x", verifier)
    assert verifier not in mask_verifiers(f"LINE 1: CREATE ROLE a PASSWORD '{verifier}'")


@given(st.lists(st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True), unique=True, max_size=4))
def test_standby_names_round_trip(names: list[str]) -> None:
    line = primary_replication_conf(names).splitlines()[1]
    value = line.split(" = ", 1)[1][1:-1].replace("''", "'")
    assert sync_names(value) == tuple(names)


def test_conf_and_pgpass_quoting() -> None:
    assert conf_value("it's") == "'it''s'"
    assert pgpass_line("u", "a:b\\c") == "*:*:*:u:a\\:b\\\\c\n"
    assert parse_lsn("1/10") == (1 << 32) + 16
    assert Member("site[0]", LocalhostTopology().postgresql()).name == "site_0"


def test_secret_store_generates_once_and_keeps_files_private(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets")
    first = store.get_or_create("postgresql/app/alice")
    assert store.get_or_create("postgresql/app/alice") == first
    path = store.path_of("postgresql/app/alice")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    path.chmod(0o644)
    with pytest.raises(HarmonyError, match="readable by others"):
        store.get("postgresql/app/alice")
    with pytest.raises(HarmonyError):
        store.path_of("../escape")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"port": 0}, "port must be a port number"),
        ({"settings": {"port": "1"}}, "managed by harmony_py"),
        ({"settings": {"work mem": "1"}}, "must be a PostgreSQL parameter name"),
        ({"users": ["Bad-Name"]}, "must be lower-case"),
        ({"databases": "app"}, "must be a list of names"),
        ({"allowed_networks": ["nowhere"]}, "must be an IP network"),
        ({"version": 9}, "an int of at least 13"),
    ],
)
def test_bad_score_values_are_one_clear_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ScoreValueError, match=message.replace("(", r"\(")):
        PostgreSQLScore("app", **kwargs)  # type: ignore[arg-type]


def test_a_plain_password_is_refused_where_the_user_is_written() -> None:
    with pytest.raises(ScoreValueError, match=r"^PgUser.password must be a Secret, got str$"):
        PgUser("a", "plain")  # type: ignore[arg-type]



class NoPostgreSQL:
    name = "nopg"

    async def ensure_ready(self) -> TopologyReport:
        return TopologyReport(self.name)


def test_runtime_check_names_the_missing_members() -> None:
    score = PostgreSQLScore("app")
    topology = FailoverTopology[NoPostgreSQL](NoPostgreSQL(), NoPostgreSQL())
    with pytest.raises(MissingCapabilityError) as raised:
        Maestro(topology).add(score).check_capabilities()  # type: ignore[arg-type]
    text = str(raised.value)
    assert "requires capability PostgreSQL" in text
    assert "primary: PostgreSQLServer (missing postgresql)" in text
    assert "replica: PostgreSQLServer (missing postgresql)" in text
    # A single host is a PostgreSQL server but not a replicated cluster.
    with pytest.raises(MissingCapabilityError, match=r"PostgreSQLCluster \(postgresql\(\) returns HostPostgreSQL, lacking PostgreSQLClusterService \(missing failover, plan_primary, status, switchover\)\)"):
        Maestro(LocalhostTopology()).add(PostgreSQLSwitchoverScore(score, to="replica")).check_capabilities()  # type: ignore[arg-type]
    # Hosts of PostgreSQL servers, replicated, pass.
    Maestro(MultisiteTopology(LocalhostTopology("a"), (LocalhostTopology("b"),))).add(
        score, PostgreSQLSwitchoverScore(score, to="site[0]")
    ).check_capabilities()
