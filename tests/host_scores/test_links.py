"""LinkScore on this machine and on an SSH host (as root and through sudo)."""

from __future__ import annotations

import os

import anyio
import pytest

from harmony_py import ChangeAction, ScoreState, ScoreValueError
from harmony_py.scores import LinkScore

from .conftest import TopologyFactory, Workdir
from .helpers import plan_of, rounds, summaries


def test_link_is_created_then_noop_and_plan_is_empty(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("current 'release' $(x)")
    result = anyio.run(rounds, anywhere(), LinkScore(inside, "releases/v1"))
    result.assert_converged()
    assert summaries(result.planned) == [f"link {inside} -> releases/v1"]
    assert os.readlink(outside) == "releases/v1"


def test_a_link_pointing_elsewhere_is_replaced_and_the_plan_names_both_targets(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("current")
    os.symlink("releases/v1", outside)
    result = anyio.run(rounds, anywhere(), LinkScore(inside, "releases/v2"))
    result.assert_converged()
    (change,) = result.planned.scores[0].changes
    assert (change.action, change.summary) == (ChangeAction.UPDATE, f"link {inside}: releases/v1 -> releases/v2")
    assert os.readlink(outside) == "releases/v2"


def test_a_regular_file_is_replaced_only_with_force(anywhere: TopologyFactory, workdir: Workdir) -> None:
    inside, outside = workdir.at("config")
    outside.write_text("a real file\n")
    refused = anyio.run(plan_of, anywhere(), LinkScore(inside, "/etc/hostname"))
    assert refused.scores[0].state is ScoreState.FAILED
    assert "is a file, not a link; LinkScore replaces it only with force=True" in refused.scores[0].message
    assert outside.read_text() == "a real file\n"
    anyio.run(rounds, anywhere(), LinkScore(inside, "/etc/hostname", force=True)).assert_converged()
    assert os.readlink(outside) == "/etc/hostname"


def test_a_directory_with_files_is_never_replaced_an_empty_one_is_with_force(anywhere: TopologyFactory, workdir: Workdir) -> None:
    full_inside, full = workdir.at("full")
    (full / "keep").mkdir(parents=True)
    report = anyio.run(plan_of, anywhere(), LinkScore(full_inside, "/tmp", force=True))
    assert "is a directory with files in it; LinkScore never replaces one" in report.scores[0].message
    empty_inside, empty = workdir.at("empty")
    empty.mkdir()
    anyio.run(rounds, anywhere(), LinkScore(empty_inside, "/tmp", force=True)).assert_converged()
    assert os.readlink(empty) == "/tmp" and (full / "keep").is_dir()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("relative/path", "x"), "LinkScore.path must be an absolute path"),
        (("/srv/link", ""), "target must be a non-empty path"),
        (("/srv/link", "a\nb"), "must not contain a NUL byte or a newline"),
        (("/srv/link", "link"), r"LinkScore\(/srv/link\).target 'link' is the link itself"),
        (("/srv/link", "./x/../link"), r"LinkScore\(/srv/link\).target './x/../link' is the link itself"),
        (("/srv/link", "/srv/link"), "is the link itself"),
    ],
)
def test_bad_input_is_refused_when_the_score_is_made(arguments: tuple[str, str], message: str) -> None:
    with pytest.raises(ScoreValueError, match=message):
        LinkScore(*arguments)
