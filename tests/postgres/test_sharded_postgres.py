"""Sharded PostgreSQL on real servers, through the shipped example and the command line.

One cluster per shard; rows written where the shard map routes them are found
on that shard (read through the shard's own server, not through the map); a
second apply changes nothing and a plan after it is empty; a shard added at
the end is planned as such, saying that no row is moved, and moves none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

from capabilities import PgEndpoint, PgUser, ShardMap
from harmony_py import Maestro, ScoreState, ScoreValueError
from harmony_py.scores import PostgreSQLScore, PostgreSQLShardMapScore
from tests.ports import free_ports
from topologies import FailoverTopology, LocalInstance, ShardedTopology

from .conftest import free_port_pair, instance, project_copy

ROOT = Path(__file__).parent.parent.parent
SHIPPED = ROOT / "examples" / "sharded_postgres.py"
KEYS = [f"customer-{index}" for index in range(300)]


@pytest.fixture(scope="module")
def example_env(pg_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    yield {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HARMONY_PG_ROOT": str(pg_root / "sharded"),
        "HARMONY_PG_PORT": str(free_port_pair()),  # three free ports: up to three shards
        "EXAMPLE": str(project_copy(tmp_path_factory, SHIPPED)[0]),
    }


def harmony(env: dict[str, str], command: str, shards: int) -> dict[str, Any]:
    """``python -m harmony_py <command> --json`` on the example with ``shards`` shards; the JSON document."""
    extra = ["--yes"] if command == "apply" else []
    done = subprocess.run(
        [sys.executable, "-m", "harmony_py", command, "--json", *extra, env["EXAMPLE"]],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600, cwd=ROOT,
        env={**env, "HARMONY_SHARDS": str(shards)},
    )  # fmt: skip
    try:
        document: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"{command} wrote no JSON document: {done.stdout}{done.stderr}")
    assert document["ok"], done.stdout + done.stderr
    return document


def states(run: dict[str, Any]) -> dict[str, str]:
    return {score["name"]: score["state"] for score in run["scores"]}


def assert_nothing_to_do(document: dict[str, Any]) -> None:
    """Every score unchanged with no change, in the plan and (if it ran) the apply."""
    for run in (document["plan"], document["apply"]):
        if run is not None:
            assert set(states(run).values()) == {"unchanged"}, run
            assert not any(score["changes"] for score in run["scores"]), run


def summaries(run: dict[str, Any], name: str) -> list[str]:
    return [change["summary"] for score in run["scores"] if score["name"] == name for change in score["changes"]]


def the_example(env: dict[str, str], shards: int) -> tuple[ShardedTopology[LocalInstance], PostgreSQLScore]:
    """The example's topology and cluster score, as the test sees them (the file reads the same variables)."""
    root = env["HARMONY_PG_ROOT"]
    topology = ShardedTopology(
        shards=[LocalInstance(f"shard-{index}", root=f"{root}/{index}", port_shift=index) for index in range(shards)]
    )
    orders = PostgreSQLScore(
        "orders", port=int(env["HARMONY_PG_PORT"]), databases=["orders"], users=[PgUser("app", databases=("orders",))]
    )
    return topology, orders


def connect(endpoint: PgEndpoint) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=endpoint.host, port=endpoint.port, dbname=endpoint.database, user=endpoint.user,
        password=endpoint.password.reveal(), connect_timeout=10, autocommit=True,
    )  # fmt: skip


def write_routed(shard_map: ShardMap, keys: list[str]) -> None:
    """The application's writes: each row on the shard the map names for its key."""
    for index, endpoint in enumerate(shard_map.endpoints):
        with connect(endpoint) as connection:
            for key in keys:
                if shard_map.shard_for(key) == index:
                    connection.execute("INSERT INTO orders (customer, item) VALUES (%s, 'book')", (key,))


def rows_on_each_shard(topology: ShardedTopology[LocalInstance], orders: PostgreSQLScore) -> list[set[str]]:
    """Each shard's rows, read through the shard's own server (not through the shard map)."""
    found = []
    for shard in topology.shards:
        endpoint = anyio.run(shard.postgresql().endpoint, orders.config, "orders")
        with connect(endpoint) as connection:
            found.append({str(row[0]) for row in connection.execute("SELECT customer FROM orders").fetchall()})
    return found


def test_rows_routed_by_the_shard_map_land_on_the_shard_it_names_and_a_second_apply_changes_nothing(
    example_env: dict[str, str],
) -> None:
    first = harmony(example_env, "apply", 2)["apply"]
    assert states(first) == {
        "PostgreSQLScore(orders:%s)" % example_env["HARMONY_PG_PORT"]: "changed",
        "PostgreSQLShardMapScore(orders)": "unchanged",
        "OrdersTableScore": "changed",
    }
    created = summaries(first, "PostgreSQLScore(orders:%s)" % example_env["HARMONY_PG_PORT"])
    assert any(line.startswith("shard 0: initialise cluster") for line in created), created
    assert any(line.startswith("shard 1: initialise cluster") for line in created), created

    topology, orders = the_example(example_env, 2)
    shard_map = anyio.run(topology.postgresql().shard_map, orders.config, "orders")
    port = int(example_env["HARMONY_PG_PORT"])
    assert [(e.host, e.port, e.database, e.user) for e in shard_map.endpoints] == [
        ("127.0.0.1", port, "orders", "app"), ("127.0.0.1", port + 1, "orders", "app")
    ]
    write_routed(shard_map, KEYS)
    found = rows_on_each_shard(topology, orders)
    assert found == [{key for key in KEYS if shard_map.shard_for(key) == index} for index in range(2)]
    assert all(found) and set().union(*found) == set(KEYS)

    assert_nothing_to_do(harmony(example_env, "apply", 2))
    assert_nothing_to_do(harmony(example_env, "plan", 2))


def test_a_shard_added_at_the_end_is_planned_as_such_and_moves_no_row(example_env: dict[str, str]) -> None:
    two, orders = the_example(example_env, 2)
    if anyio.run(two.postgresql().new_shards, orders.config):  # run alone: deploy two shards with rows first
        harmony(example_env, "apply", 2)
        write_routed(anyio.run(two.postgresql().shard_map, orders.config, "orders"), KEYS)
    before = rows_on_each_shard(two, orders)
    assert all(before)

    cluster = "PostgreSQLScore(orders:%s)" % example_env["HARMONY_PG_PORT"]
    plan = harmony(example_env, "plan", 3)["plan"]
    planned = summaries(plan, cluster)
    assert any(line.startswith("shard 2: initialise cluster") for line in planned), planned
    assert not any(line.startswith(("shard 0:", "shard 1:")) for line in planned), planned
    assert planned[-1] == (
        "shard map orders: 2 -> 3 shards; shard 2 takes about 33% of the keys from now on; no data is moved: "
        "rows already stored for those keys stay on shards 0-1 (moving data is out of scope)"
    )
    table = next(score for score in plan["scores"] if score["name"] == "OrdersTableScore")
    assert table["state"] == "pending" and table["known_after_apply"] == ["shards"], table

    applied = harmony(example_env, "apply", 3)["apply"]
    assert states(applied)[cluster] == "changed"
    assert summaries(applied, "OrdersTableScore") == ["shard 2: create table orders"]
    three, _ = the_example(example_env, 3)
    after = rows_on_each_shard(three, orders)
    assert after == [*before, set()]  # nothing moved, nothing lost; the new shard starts empty
    grown = anyio.run(three.postgresql().shard_map, orders.config, "orders")
    moved = {key for key in KEYS if grown.shard_for(key) != next(i for i, rows in enumerate(before) if key in rows)}
    assert moved and all(grown.shard_for(key) == 2 for key in moved)  # keys re-route only to the new shard

    assert_nothing_to_do(harmony(example_env, "apply", 3))
    assert_nothing_to_do(harmony(example_env, "plan", 3))

    # A shard put before the existing ones would re-route keys between them: refused, nothing touched.
    root = example_env["HARMONY_PG_ROOT"]
    inserted = ShardedTopology(shards=[LocalInstance("new", root=f"{root}/new", port_shift=3), *three.shards])
    with pytest.raises(ScoreValueError, match="shard 0 holds no cluster orders, but shard 3 after it does: .* add new shards at the end"):
        anyio.run(inserted.postgresql().plan, orders.config)
    assert not Path(f"{root}/new").exists()

    # Shards swapped, or one dropped, all still "hold the cluster": the record of the last deploy refuses both.
    first, second, third = three.shards
    swapped = ShardedTopology(shards=[second, first, third])
    with pytest.raises(ScoreValueError, match=r"shard 0 ran on shard-0 and is now shard-1: reordering or replacing"):
        anyio.run(swapped.postgresql().plan, orders.config)
    with pytest.raises(ScoreValueError, match=r"had 3 shards and now has 2: shard 2 \(shard-2\) removed"):
        anyio.run(ShardedTopology(shards=[first, second]).postgresql().deploy, orders.config)
    assert_nothing_to_do(harmony(example_env, "plan", 3))


def test_shards_that_are_replicated_pairs_each_hold_a_cluster_and_the_map_names_their_primaries(pg_root: Path) -> None:
    port = free_ports(4).start
    pairs = ShardedTopology(
        shards=[
            FailoverTopology(instance(pg_root, f"s{index}a", 2 * index), instance(pg_root, f"s{index}b", 2 * index + 1))
            for index in range(2)
        ]
    )
    orders = PostgreSQLScore("pairs", port=port, databases=["orders"], users=[PgUser("app", databases=("orders",))])
    shard_map = PostgreSQLShardMapScore(orders)
    assert anyio.run(pairs.postgresql().new_shards, orders.config) == (0, 1)
    report = anyio.run(Maestro(pairs).add(orders, shard_map).apply)
    assert report.ok, [s.message for s in report.scores]
    found = anyio.run(pairs.postgresql().shard_map, orders.config, "orders")
    assert [e.port for e in found.endpoints] == [port, port + 2]  # each pair's primary
    for endpoint in found.endpoints:
        with connect(endpoint) as connection:
            connection.execute("CREATE TABLE orders (customer text PRIMARY KEY)")
    keys = [f"k{index}" for index in range(50)]
    for key in keys:
        with connect(found.endpoint_for(key)) as connection:
            connection.execute("INSERT INTO orders VALUES (%s)", (key,))
    for index, pair in enumerate(pairs.shards):
        # Read on the replica: a synchronous standby has every acknowledged row of its shard, and only those.
        replica = anyio.run(pair.replica.postgresql().endpoint, orders.config, "orders")
        with connect(replica) as connection:
            rows = {str(row[0]) for row in connection.execute("SELECT customer FROM orders").fetchall()}
        assert rows == {key for key in keys if found.shard_for(key) == index}
    again = anyio.run(Maestro(pairs).add(orders, shard_map).plan)
    assert [s.state for s in again.scores] == [ScoreState.UNCHANGED, ScoreState.UNCHANGED]
