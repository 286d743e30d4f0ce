"""What the engine refuses, each with one clear error before anything changes on any host."""

from __future__ import annotations

import socket
from typing import Any
from pathlib import Path

import anyio
import pytest

from capabilities.postgresql import PgUser
from capabilities.postgresql import PostgreSQL
from harmony_py import Maestro, ScoreState
from harmony_py.capability_check import capability_gaps
from harmony_py.errors import MemberError, ScoreValueError
from harmony_py.report import RunReport
from harmony_py.scores import PostgreSQLScore
from harmony_py.scores.supervisors import RUNIT_SERVICES
from tests.ports import free_port
from topologies import FailoverTopology, LinuxHostTopology, LocalInstance
from topologies.host.base import HostTopology
from topologies.postgres.patroni.config import Timings

from .engine_hosts import engine_cluster, engine_port


def _failure(report: RunReport) -> str:
    assert [s.state for s in report.scores] == [ScoreState.FAILED], report.scores
    return report.scores[0].message


def _services_of(name: str) -> list[str]:
    return [entry.name for entry in Path(RUNIT_SERVICES).iterdir() if entry.name.startswith("harmony-") and f"-{name}-" in entry.name]


def _score(name: str, port: int) -> PostgreSQLScore:
    return PostgreSQLScore(name, port=port, databases=["app"], users=[PgUser("app", databases=("app",))])


def test_port_in_use_on_one_member_is_refused_naming_member_and_port(pg_root: Path) -> None:
    with engine_cluster(pg_root / "engine-port", "haeport") as cluster:
        taken = cluster.participant("replica").rest_port
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", taken))
            holder.listen()
            message = _failure(cluster.apply())
        assert f"replica (127.0.0.1): port {taken} (for Patroni REST API) is already in use" in message
        assert "nothing was changed" in message
        assert not _services_of("haeport") and not list(cluster.root.rglob("patroni.yml"))


def test_data_directory_of_the_manual_path_is_refused_and_kept(pg_root: Path) -> None:
    root = pg_root / "engine-manual"
    root.mkdir()
    root.chmod(0o755)
    port = engine_port()
    a, b = (LocalInstance(label, root=str(root / label), port_shift=shift) for shift, label in enumerate("ab"))
    score = _score("haemanual", port)
    manual = anyio.run(Maestro(FailoverTopology[LocalInstance](a, b)).add(score).apply)
    assert manual.ok, [s.message for s in manual.scores]
    witnessed = FailoverTopology[LocalInstance](a, b, witness=LocalInstance("w", root=str(root / "w"), port_shift=2))
    message = _failure(anyio.run(Maestro(witnessed).add(score).apply))
    assert "made by harmony_py's manual replication" in message and "harmony_py deletes no data" in message
    assert (root / "a/15/haemanual/data/PG_VERSION").exists() and not _services_of("haemanual")


def test_unreachable_witness_is_refused_naming_it(pg_root: Path) -> None:
    root = pg_root / "engine-witness"
    a, b = (LocalInstance(label, root=str(root / label), port_shift=shift) for shift, label in enumerate("ab"))
    nowhere = LinuxHostTopology("127.0.0.1", port=free_port(), connect_timeout_s=1.0, known_hosts=str(root / "known_hosts"))
    topology = FailoverTopology[HostTopology](a, b, witness=nowhere)
    with pytest.raises(MemberError, match=r"^witness: 127\.0\.0\.1:\d+: could not connect"):
        anyio.run(Maestro(topology).add(_score("haewitness", engine_port())).plan)
    assert not root.exists() and not _services_of("haewitness")


class _NoCommands:
    """A topology that runs no commands (as a Kubernetes cluster does not)."""

    name = "nocommands"


def test_a_witness_without_commands_is_named_by_the_capability_check(pg_root: Path) -> None:
    a, b = (LocalInstance(label, root=str(pg_root / "engine-gap" / label), port_shift=shift) for shift, label in enumerate("ab"))
    topology: Any = FailoverTopology(a, b, witness=_NoCommands())
    gaps = capability_gaps(topology, PostgreSQL)
    assert gaps and all(gap.startswith("witness: ") for gap in gaps), gaps
    assert "command_runner" in gaps[0]
    assert capability_gaps(FailoverTopology(a, b, witness=a), PostgreSQL) == []


def test_patroni_timings_below_the_minimums_or_breaking_the_fencing_rule_are_refused() -> None:
    assert Timings() == Timings(ttl=20, loop_wait=1, retry_timeout=3)
    with pytest.raises(ScoreValueError, match="below Patroni's minimums"):
        Timings(ttl=10, loop_wait=1, retry_timeout=3)
    with pytest.raises(ScoreValueError, match=r"loop_wait \+ 2 \* retry_timeout <= ttl \(5 \+ 2 \* 10 > 20\)"):
        Timings(ttl=20, loop_wait=5, retry_timeout=10)
