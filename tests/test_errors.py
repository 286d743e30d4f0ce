"""Every failure names its cause: one line per member or host, tracebacks only with --debug.

The failing members are real: Docker clients aimed at sockets nobody listens on, and
Kubernetes topologies with no cluster configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from harmony_py import Maestro, TopologyGroup
from harmony_py.cli.main import main
from harmony_py.errors import HarmonyError
from harmony_py.report import ScoreState
from topologies import DockerTopology, FailoverTopology, LocalhostTopology

from .truth_scores import NoopScore, Site


def test_describe_unwraps_nested_groups_into_one_line_per_cause() -> None:
    from harmony_py.errors import MemberError, describe

    nested = ExceptionGroup(
        "unhandled errors in a TaskGroup",
        [
            MemberError("primary", HarmonyError("no engine")),
            ExceptionGroup("inner", [MemberError("replica", ValueError("bad answer")), ValueError("bad answer")]),
        ],
    )
    assert describe(nested) == "primary: no engine\nreplica: ValueError: bad answer\nValueError: bad answer"
    assert "TaskGroup" not in describe(nested)


def test_a_member_error_labels_every_line_of_a_nested_member() -> None:
    from harmony_py.errors import MemberError, MembersFailedError

    inner = MembersFailedError([MemberError("primary", HarmonyError("down")), MemberError("replica", HarmonyError("down"))])
    assert str(MemberError("database", inner)) == "database: primary: down\ndatabase: replica: down"


def _absent_engines(tmp_path: Path) -> FailoverTopology[DockerTopology]:
    return FailoverTopology(DockerTopology(f"unix://{tmp_path}/a.sock"), DockerTopology(f"unix://{tmp_path}/b.sock"))


def test_a_failover_whose_members_both_fail_names_each_member_on_its_own_line(tmp_path: Path) -> None:
    with pytest.raises(HarmonyError) as raised:
        anyio.run(Maestro(_absent_engines(tmp_path)).add(NoopScore()).plan)
    lines = str(raised.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"primary: no Docker engine answers at unix://{tmp_path}/a.sock")
    assert lines[1].startswith(f"replica: no Docker engine answers at unix://{tmp_path}/b.sock")
    assert "TaskGroup" not in str(raised.value)


def test_a_failover_without_a_configured_cluster_says_so_for_each_member(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    score_file = tmp_path / "k8s_pair.py"
    score_file.write_text(
        "from harmony_py import Maestro\n"
        "from harmony_py.scores.k8s import NamespaceScore\n"
        "from topologies import FailoverTopology, K8sAnywhereTopology\n"
        f"absent = {str(tmp_path / 'no-kubeconfig')!r}\n"
        "pair = FailoverTopology(K8sAnywhereTopology(kubeconfig=absent), K8sAnywhereTopology(kubeconfig=absent))\n"
        "maestro = Maestro(pair).add(NamespaceScore('shop'))\n"
    )
    assert main(["plan", str(score_file)]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert [line.split(":", 2)[:2] for line in lines] == [["error", " primary"], ["error", " replica"]], err
    assert "TaskGroup" not in err and "sub-exception" not in err


def _sites(tmp_path: Path) -> TopologyGroup[Site[Any]]:
    good: Site[Any] = Site(LocalhostTopology("a1"), LocalhostTopology("a2"), site="site-a")
    bad_b: Site[Any] = Site(DockerTopology(f"unix://{tmp_path}/b1.sock"), DockerTopology(f"unix://{tmp_path}/b2.sock"), site="site-b")
    bad_c: Site[Any] = Site(DockerTopology(f"unix://{tmp_path}/c1.sock"), DockerTopology(f"unix://{tmp_path}/c2.sock"), site="site-c")
    return TopologyGroup([good, bad_b, bad_c])


def test_a_group_where_two_hosts_fail_reports_each_member_of_each(tmp_path: Path) -> None:
    report = anyio.run(Maestro(_sites(tmp_path)).add(NoopScore()).plan)
    by_host = {host.topology: host for host in report.hosts}
    assert by_host["site-a"].ok and by_host["site-a"].scores[0].state is ScoreState.UNCHANGED
    for site in ("b", "c"):
        error = by_host[f"site-{site}"].error or ""
        lines = error.splitlines()
        assert lines[0].startswith(f"primary: no Docker engine answers at unix://{tmp_path}/{site}1.sock"), error
        assert lines[1].startswith(f"replica: no Docker engine answers at unix://{tmp_path}/{site}2.sock"), error
        assert "TaskGroup" not in error and "internal error" not in error


def test_cli_shows_one_line_per_failed_host_and_member(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    score_file = tmp_path / "sites.py"
    score_file.write_text(
        "from pathlib import Path\n"
        "from harmony_py import Maestro\n"
        "from tests.test_errors import _sites\n"
        "from tests.truth_scores import NoopScore\n"
        f"maestro = Maestro(_sites(Path({str(tmp_path)!r}))).add(NoopScore())\n"
    )
    assert main(["plan", str(score_file)]) == 1
    out, err = capsys.readouterr()
    assert "2 of 3 hosts failed (site-b, site-c)" in err
    host_lines = [line.strip() for line in out.splitlines() if "no Docker engine answers" in line]
    # Each failed member on a line of its own, under its host (once as the failure, once in the summary).
    assert sum(line.startswith("site-b: failed: primary: ") for line in host_lines) == 2, out
    assert sum(line.startswith("replica: ") for line in host_lines) == 4, out
    assert "TaskGroup" not in out + err


# -- the CLI's catch-all, and --debug ------------------------------------------------


def _crashing_file(tmp_path: Path, *, in_plan: bool = False) -> Path:
    score_file = tmp_path / "crash.py"
    score_file.write_text(
        "from harmony_py import Maestro\n"
        "from tests.truth_scores import CrashingScore\n"
        "from topologies import LocalhostTopology\n"
        f"maestro = Maestro(LocalhostTopology()).add(CrashingScore(in_plan={in_plan}))\n"
    )
    return score_file


def test_debug_prints_the_traceback_of_a_failed_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apply", "--yes", "--debug", str(_crashing_file(tmp_path))]) == 1
    out, err = capsys.readouterr()
    assert "CrashingScore(crash)  failed: RuntimeError: the disk is on fire" in out
    assert "traceback of the apply of CrashingScore(crash) on localhost:" in err
    assert "Traceback (most recent call last)" in err
    assert "in deep_inside_the_apply" in err and "RuntimeError: the disk is on fire" in err


def test_debug_prints_the_traceback_of_a_failed_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--debug", str(_crashing_file(tmp_path, in_plan=True))]) == 1
    err = capsys.readouterr().err
    assert "traceback of the plan of CrashingScore(crash) on localhost:" in err
    assert "in deep_inside_the_plan" in err


def test_without_debug_a_failed_score_shows_no_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apply", "--yes", str(_crashing_file(tmp_path))]) == 1
    out, err = capsys.readouterr()
    assert "RuntimeError: the disk is on fire" in out
    assert "Traceback" not in out + err


def test_debug_prints_the_traceback_of_each_failed_host(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    score_file = tmp_path / "pair.py"
    score_file.write_text(
        "from pathlib import Path\n"
        "from harmony_py import Maestro\n"
        "from tests.test_errors import _sites\n"
        "from tests.truth_scores import NoopScore\n"
        f"maestro = Maestro(_sites(Path({str(tmp_path)!r}))).add(NoopScore())\n"
    )
    assert main(["plan", "--debug", str(score_file)]) == 1
    err = capsys.readouterr().err
    assert "traceback of the site-b:" in err and "traceback of the site-c:" in err
    assert "MembersFailedError" in err


def test_json_error_of_a_failed_plan_names_the_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["plan", "--json", str(_crashing_file(tmp_path, in_plan=True))]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["error"] == (
        "the plan failed, nothing was applied: CrashingScore(crash): plan failed: RuntimeError: the plan's disk is on fire"
    )
