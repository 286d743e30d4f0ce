"""The engine's truth rule: a score is reported changed only when an observation after its apply agrees.

Against this machine's real files; the scores that break the rule on purpose are in truth_scores.py.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import anyio
import pytest

from harmony_py import Maestro, ScoreState, Secret, TopologyGroup
from harmony_py.cli.main import main
from harmony_py.values import Change, ChangeAction
from harmony_py.scores import FileScore
from topologies import LocalhostTopology

from .helpers import apply
from .outputs_scores import ClientScore, ServerScore
from .truth_scores import CarelessFileScore, NoopScore, SlowToVerifyScore


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_an_apply_that_claims_success_but_leaves_the_state_different_is_reported_failed(tmp_path: Path) -> None:
    target = tmp_path / "x"
    report = apply(CarelessFileScore(str(target), "secret-ish\n", mode=0o600))
    (score,) = report.scores
    assert score.state is ScoreState.FAILED
    assert score.message == f"applied, but the state still differs: mode of {target} 0644 -> 0600"
    assert not report.ok
    assert _mode(target) == 0o644  # the careless interpret really did leave it so
    # What the apply did make is still reported, next to what differs.
    assert [change.summary for change in score.changes] == [f"create file {target} (11 bytes, mode 0600)"]


def test_an_honest_score_is_still_reported_changed_then_unchanged(tmp_path: Path) -> None:
    score = FileScore(str(tmp_path / "x"), "hello\n", mode=0o600)
    assert apply(score).scores[0].state is ScoreState.CHANGED
    assert apply(score).scores[0].state is ScoreState.UNCHANGED


def test_a_score_that_fails_its_verify_skips_what_depends_on_it(tmp_path: Path) -> None:
    careless = CarelessFileScore(str(tmp_path / "x"), "x", mode=0o600)
    after = FileScore(str(tmp_path / "y"), "y")
    report = anyio.run(Maestro(LocalhostTopology()).add(careless, after).apply)
    assert [s.state for s in report.scores] == [ScoreState.FAILED, ScoreState.SKIPPED]
    assert not (tmp_path / "y").exists()


def test_producers_outputs_still_reach_their_consumers_after_the_verify(tmp_path: Path) -> None:
    server = ServerScore(f"{tmp_path}/db.json", 5432, Secret("pw"))
    client = ClientScore(f"{tmp_path}/web.json", server.output(), {})
    report = anyio.run(Maestro(LocalhostTopology()).add(server).add(client).apply)
    assert [s.state for s in report.scores] == [ScoreState.CHANGED, ScoreState.CHANGED]
    assert json.loads((tmp_path / "web.json").read_text())["server"] == "127.0.0.1:5432"


def test_the_verify_runs_under_the_score_timeout(tmp_path: Path) -> None:
    maestro = Maestro(LocalhostTopology(), score_timeout_s=0.2).add(SlowToVerifyScore())
    (score,) = anyio.run(maestro.apply).scores
    assert score.state is ScoreState.FAILED
    assert score.message == "applied, but observing the result failed: timed out after 0.2 s"


def test_every_member_of_a_group_verifies_on_itself(tmp_path: Path) -> None:
    group = TopologyGroup([LocalhostTopology("one"), LocalhostTopology("two")])
    report = anyio.run(Maestro(group).add(CarelessFileScore(str(tmp_path / "x"), "x", mode=0o600)).apply)
    by_host = {score.topology: score for score in report.scores}
    # Both members share this machine: the first converges the content, the second finds only the mode left.
    assert set(by_host) == {"one", "two"}
    assert all(score.state is ScoreState.FAILED for score in by_host.values())
    assert all("applied, but the state still differs: mode of" in score.message for score in by_host.values())
    assert len(report.failed_hosts) == 2


def test_what_differs_names_the_member_when_the_summary_does_not() -> None:
    from harmony_py.run import differences

    changes = [
        Change(ChangeAction.UPDATE, "/x", "mode of /x 0644 -> 0600", attribute="mode"),
        Change(ChangeAction.RUN, "replica (127.0.0.1:5433)", "start PostgreSQL"),
        Change(ChangeAction.UPDATE, "site[0] (10.0.0.2:5432)", "site[0]: streams from nothing, not from primary"),
    ]
    assert differences(changes) == (
        "mode of /x 0644 -> 0600; replica (127.0.0.1:5433): start PostgreSQL; site[0]: streams from nothing, not from primary"
    )


def test_a_noop_is_not_verified_again() -> None:
    # Its apply found nothing to change, which is the observation; verifying it would raise here.
    (score,) = apply(NoopScore()).scores
    assert score.state is ScoreState.UNCHANGED


# -- through the command line -------------------------------------------------------


def _careless_file(tmp_path: Path) -> tuple[Path, Path]:
    target = tmp_path / "x"
    score_file = tmp_path / "careless.py"
    score_file.write_text(
        "from harmony_py import Maestro\n"
        "from tests.truth_scores import CarelessFileScore\n"
        "from topologies import LocalhostTopology\n"
        f"maestro = Maestro(LocalhostTopology()).add(CarelessFileScore({str(target)!r}, 'x', mode=0o600))\n"
    )
    return score_file, target


def test_cli_apply_of_a_careless_score_fails_with_exit_1_naming_what_differs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    score_file, target = _careless_file(tmp_path)
    assert main(["apply", "--yes", str(score_file)]) == 1
    out, err = capsys.readouterr()
    assert f"failed: applied, but the state still differs: mode of {target} 0644 -> 0600" in out
    assert "Apply: 0 changed, 0 unchanged, 1 failed, 0 skipped." in out
    assert "error: the apply failed; see the failed score above" in err


def test_cli_json_names_the_failed_score_instead_of_pointing_above(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    score_file, target = _careless_file(tmp_path)
    assert main(["apply", "--yes", "--json", str(score_file)]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False
    assert document["error"] == (
        f"the apply failed: FileScore({target}): applied, but the state still differs: mode of {target} 0644 -> 0600"
    )
    assert "above" not in document["error"]
    assert document["apply"]["scores"][0]["state"] == "failed"
