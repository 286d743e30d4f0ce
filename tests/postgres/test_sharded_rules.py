"""ShardedTopology and ShardMap without servers: the key-to-shard function, the run-time check, the typing contract.

The function must give the same shard for a key in every process (never the
salted ``hash()``), and adding a shard may only move keys to the new shard.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mypy import api

from capabilities import PgConfig, PgEndpoint, PgUser, PostgreSQL, PostgreSQLCluster, PostgreSQLShards, ShardMap, shard_of
from capabilities.sharding import jump_hash
from harmony_py import Maestro, MissingCapabilityError, ScoreValueError, Secret, TopologyReport, capability_gaps
from harmony_py.scores import PostgreSQLScore, PostgreSQLShardMapScore
from topologies import DockerTopology, FailoverTopology, LocalhostTopology, ShardedTopology
from topologies.postgres.shard_record import check_same_shards, record, recorded
from topologies.secret_store import SecretStore

ROOT = Path(__file__).resolve().parents[2]
keys = st.one_of(st.text(max_size=40), st.binary(max_size=40), st.integers(min_value=-(2**70), max_value=2**70))


@dataclass(frozen=True)
class NoPostgreSQL:
    """A topology without PostgreSQL (as DockerTopology is)."""

    name: str = "nopg"

    async def ensure_ready(self) -> TopologyReport:
        return TopologyReport(self.name)


def endpoints(count: int) -> tuple[PgEndpoint, ...]:
    return tuple(PgEndpoint("127.0.0.1", 25000 + index, "orders", "app", Secret("pw")) for index in range(count))


# -- the key-to-shard function ------------------------------------------------------


def test_jump_hash_gives_the_published_reference_buckets() -> None:
    # The vectors other implementations test against (Lamping & Veach's algorithm).
    vectors = [(1, 1, 0), (42, 57, 43), (0xDEAD10CC, 1, 0), (0xDEAD10CC, 666, 361), (256, 1024, 520)]
    assert [jump_hash(key, buckets) for key, buckets, _ in vectors] == [expected for _, _, expected in vectors]


def test_a_key_routes_to_the_same_shard_in_every_process() -> None:
    # Pinned: a change here re-routes every key of every deployed shard map.
    pinned: dict[str | bytes | int, int] = {"customer-1": 2, "customer-2": 0, "": 2, b"\x00\xff": 3, 0: 2, 2**64: 3, "é": 2}
    assert {key: shard_of(key, 4) for key in pinned} == pinned
    script = "from capabilities import shard_of; print([shard_of(k, 4) for k in ['customer-1', 'customer-2', 'é']])"
    for seed in ("1", "2"):
        other = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )  # fmt: skip
        assert other.stdout.strip() == "[2, 0, 2]"


@settings(max_examples=300, deadline=None)
@given(key=keys, shards=st.integers(min_value=1, max_value=40))
def test_adding_a_shard_moves_a_key_only_to_the_new_shard(key: str | bytes | int, shards: int) -> None:
    before, after = shard_of(key, shards), shard_of(key, shards + 1)
    assert 0 <= before < shards
    assert after in (before, shards)


def test_keys_spread_evenly_over_the_shards() -> None:
    counts = [0] * 4
    for index in range(20_000):
        counts[shard_of(f"customer-{index}", 4)] += 1
    assert all(4_500 < count < 5_500 for count in counts), counts


def test_an_integer_key_routes_as_its_decimal_text_and_a_bool_is_refused() -> None:
    assert all(shard_of(number, 7) == shard_of(str(number), 7) for number in range(-50, 500))
    with pytest.raises(TypeError, match="str, bytes or int, got bool"):
        shard_of(True, 3)
    with pytest.raises(TypeError, match="got float"):
        shard_of(1.5, 3)  # type: ignore[arg-type]


def test_a_shard_map_routes_a_key_to_the_endpoint_of_its_shard() -> None:
    shard_map = ShardMap("orders", "orders", endpoints(3))
    assert len(shard_map) == 3
    assert shard_map.endpoint_for("customer-1") == shard_map.endpoints[shard_of("customer-1", 3)]
    assert shard_map.summary() == "orders: 3 shard(s) (0: 127.0.0.1:25000, 1: 127.0.0.1:25001, 2: 127.0.0.1:25002), database orders"
    assert "pw" not in repr(shard_map)
    with pytest.raises(ValueError, match="has no shards"):
        ShardMap("orders", "orders", ())


# -- the topology ---------------------------------------------------------------------


def test_a_sharded_topology_names_the_shard_that_lacks_postgresql() -> None:
    sharded = ShardedTopology[Any](shards=[LocalhostTopology("a"), LocalhostTopology("b"), NoPostgreSQL()])
    score = PostgreSQLScore("orders", databases=["orders"], users=["app"])
    with pytest.raises(MissingCapabilityError) as caught:
        anyio.run(Maestro(sharded).add(score).plan)
    assert str(caught.value) == (
        "Score PostgreSQLScore requires capability PostgreSQL, but topology "
        "ShardedTopology[LocalhostTopology, LocalhostTopology, NoPostgreSQL] does not provide it: "
        "shard 2: PostgreSQL (missing postgresql)"
    )
    assert capability_gaps(sharded, PostgreSQLShards) == ["shard 2: PostgreSQL (missing postgresql)"]
    assert capability_gaps(ShardedTopology(shards=[DockerTopology()]), PostgreSQL) == ["shard 0: PostgreSQL (missing postgresql)"]


def test_a_shard_that_is_a_pair_names_the_shard_and_its_member_that_lack_it() -> None:
    sharded = ShardedTopology[Any](
        shards=[FailoverTopology(LocalhostTopology("a"), LocalhostTopology("b")), FailoverTopology(DockerTopology(), LocalhostTopology("c"))]
    )
    assert capability_gaps(sharded, PostgreSQL) == ["shard 1: primary: PostgreSQLServer (missing postgresql)"]


def test_shards_may_be_hosts_or_replicated_pairs_but_the_whole_is_no_replicated_cluster() -> None:
    pairs = ShardedTopology(
        shards=[FailoverTopology(LocalhostTopology("a"), LocalhostTopology("b")), FailoverTopology(LocalhostTopology("c"), LocalhostTopology("d"))]
    )
    assert capability_gaps(pairs, PostgreSQLShards) == []
    assert capability_gaps(ShardedTopology(shards=[LocalhostTopology("a")]), PostgreSQLShards) == []
    assert capability_gaps(pairs, PostgreSQLCluster) == [
        "PostgreSQLCluster (postgresql() returns ShardedPostgreSQL, lacking PostgreSQLClusterService "
        "(missing certificates, failover, plan_primary, status, switchover))"
    ]


def test_a_shard_map_on_a_single_host_is_refused_naming_what_its_service_lacks() -> None:
    score = PostgreSQLShardMapScore(PostgreSQLScore("orders", databases=["orders"], users=[PgUser("app", databases=("orders",))]))
    with pytest.raises(MissingCapabilityError, match=r"PostgreSQLShardsService \(missing new_shards, shard_map\)"):
        anyio.run(Maestro(LocalhostTopology()).add(score).plan)  # type: ignore[arg-type]


def test_a_sharded_topology_refuses_no_shards_and_the_same_shard_twice() -> None:
    with pytest.raises(ScoreValueError, match="at least one shard"):
        ShardedTopology[LocalhostTopology](shards=[])
    with pytest.raises(ScoreValueError, match="shard 0 and shard 2 are the same topology"):
        ShardedTopology(shards=[LocalhostTopology("a"), LocalhostTopology("b"), LocalhostTopology("a")])
    assert ShardedTopology(shards=[LocalhostTopology("a")]).shards == (LocalhostTopology("a"),)


def test_a_sharded_cluster_has_no_single_endpoint_and_says_where_the_shard_map_is() -> None:
    sharded = ShardedTopology(shards=[LocalhostTopology("a"), LocalhostTopology("b")])
    with pytest.raises(ScoreValueError, match=r"no single endpoint: take the shard map instead \(PostgreSQLShardMapScore"):
        anyio.run(sharded.postgresql().endpoint, PgConfig("orders"), "orders")


def test_a_shard_map_needs_a_database_a_user_owns() -> None:
    with pytest.raises(ScoreValueError, match="needs a database owned by a user"):
        PostgreSQLShardMapScore(PostgreSQLScore("orders", databases=["orders"]))


# -- the typing contract catches the natural, wrong implementation ---------------------

_OVERLOAD_STUB = re.compile(r"    @overload\n    def postgresql\([^\n]*: \.\.\.\n")


def test_a_plain_accessor_instead_of_guarded_overloads_breaks_the_sharded_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for package in ("harmony_py", "capabilities", "topologies"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests" / "typing_cases", tmp_path / "cases")
    sharded = tmp_path / "topologies" / "replicated" / "sharded.py"
    text = sharded.read_text()
    mutated = _OVERLOAD_STUB.sub("", text).replace(
        "def postgresql(self: ShardedTopology[Any], shards_not_postgresql: Any = None)", "def postgresql(self)"
    )
    assert mutated.count("@overload") == 0 and "def postgresql(self)" in mutated
    sharded.write_text(mutated)
    monkeypatch.chdir(tmp_path)  # mypy resolves the packages from the mutated copy
    stdout, _, status = api.run(
        ["--strict", "--warn-unused-ignores", "--config-file", str(ROOT / "mypy.ini"),
         "--cache-dir", str(tmp_path / ".mypy_cache"), str(tmp_path / "cases" / "sharded_cases.py")]
    )  # fmt: skip
    assert status == 1
    assert stdout.count("unused-ignore") >= 4, stdout


# -- the record of the last deploy: shards removed or moved are refused ------------------


def test_a_shard_moved_to_other_machines_or_removed_is_refused_but_one_member_replaced_is_not() -> None:
    before = [("db-a", "db-b"), ("db-c",)]
    labels = ("shard 0", "shard 1")
    check_same_shards("orders", labels, [("db-a", "db-x"), ("db-c",)], before)  # one member of the pair replaced
    check_same_shards("orders", (*labels, "shard 2"), [*before, ("db-d",)], before)  # a shard added at the end
    with pytest.raises(ScoreValueError, match=r"shard 1 ran on db-c and is now db-d: reordering or replacing whole shards"):
        check_same_shards("orders", labels, [("db-a", "db-b"), ("db-d",)], before)
    with pytest.raises(ScoreValueError, match=r"had 2 shards and now has 1: shard 1 \(db-c\) removed"):
        check_same_shards("orders", labels[:1], before[:1], before)


def test_the_shard_record_is_kept_private_and_rewritten_only_when_the_shards_change(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets")
    assert recorded(store, "orders") is None
    record(store, "orders", [("db-a", "db-b"), ("db-c",)])
    path = store.path_of("postgresql/orders/shards")
    assert recorded(store, "orders") == [("db-a", "db-b"), ("db-c",)]
    assert path.stat().st_mode & 0o777 == 0o600
    written = path.stat().st_mtime_ns
    record(store, "orders", [("db-a", "db-b"), ("db-c",)])
    assert path.stat().st_mtime_ns == written
    record(store, "orders", [("db-a", "db-b"), ("db-c",), ("db-d",)])
    assert recorded(store, "orders") == [("db-a", "db-b"), ("db-c",), ("db-d",)]
    assert not store.for_plan().get("postgresql/other/shards")
