"""GitCheckoutScore against a local repository: clone, follow a branch, tags and commits, local changes kept."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import pytest

from harmony_py import ScoreState, ScoreValueError
from harmony_py.scores import GitCheckoutScore

from .conftest import TopologyFactory, Workdir
from .helpers import plan_of, rounds, summaries

_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@invalid", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@invalid", "PATH": "/usr/bin:/bin"}


def git(directory: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(directory), *args], check=True, capture_output=True, text=True, env=_ENV)
    return done.stdout.strip()


def commit(repo: Path, name: str, content: str) -> str:
    (repo / name).write_text(content)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"{name}: {content.strip()}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def origin(workdir: Workdir) -> tuple[str, Path]:
    """A repository with a branch ``main`` (two commits) and a tag ``v1`` on the first."""
    inside, outside = workdir.at("origin.git")
    outside.mkdir()
    git(outside, "init", "-q", "-b", "main")
    commit(outside, "app.txt", "one\n")
    git(outside, "tag", "v1")
    commit(outside, "app.txt", "two\n")
    return inside, outside


def test_a_branch_is_cloned_then_noop_then_follows_new_commits(anywhere: TopologyFactory, workdir: Workdir, origin: tuple[str, Path]) -> None:
    repo, source = origin
    inside, outside = workdir.at("checkout")
    score = GitCheckoutScore(repo, inside, "main")
    anyio.run(rounds, anywhere(), score).assert_converged()
    assert (outside / "app.txt").read_text() == "two\n" and git(outside, "symbolic-ref", "--short", "HEAD") == "main"
    new = commit(source, "app.txt", "three\n")
    report = anyio.run(plan_of, anywhere(), score)
    assert [c.attribute for c in report.scores[0].changes] == ["ref"]
    assert f"check out main ({new[:12]})" in summaries(report)[0]
    anyio.run(rounds, anywhere(), score).assert_converged()
    assert (outside / "app.txt").read_text() == "three\n"


def test_a_tag_and_a_commit_are_checked_out_detached(anywhere: TopologyFactory, workdir: Workdir, origin: tuple[str, Path]) -> None:
    repo, source = origin
    inside, outside = workdir.at("checkout")
    anyio.run(rounds, anywhere(), GitCheckoutScore(repo, inside, "v1")).assert_converged()
    assert (outside / "app.txt").read_text() == "one\n"
    head = git(source, "rev-parse", "main")
    anyio.run(rounds, anywhere(), GitCheckoutScore(repo, inside, head)).assert_converged()
    assert git(outside, "rev-parse", "HEAD") == head and (outside / "app.txt").read_text() == "two\n"


def test_local_changes_are_kept_unless_force(anywhere: TopologyFactory, workdir: Workdir, origin: tuple[str, Path]) -> None:
    repo, _ = origin
    inside, outside = workdir.at("checkout")
    anyio.run(rounds, anywhere(), GitCheckoutScore(repo, inside, "main")).assert_converged()
    (outside / "app.txt").write_text("edited by hand\n")
    refused = anyio.run(plan_of, anywhere(), GitCheckoutScore(repo, inside, "v1"))
    assert refused.scores[0].state is ScoreState.FAILED
    assert "has local changes (app.txt); GitCheckoutScore discards them only with force=True" in refused.scores[0].message
    assert (outside / "app.txt").read_text() == "edited by hand\n"
    anyio.run(rounds, anywhere(), GitCheckoutScore(repo, inside, "main", force=True)).assert_converged()
    assert (outside / "app.txt").read_text() == "two\n"


def test_an_unknown_ref_and_a_directory_that_is_not_a_checkout_fail_clearly(anywhere: TopologyFactory, workdir: Workdir, origin: tuple[str, Path]) -> None:
    repo, _ = origin
    report = anyio.run(plan_of, anywhere(), GitCheckoutScore(repo, f"{workdir.inside}/x", "no-such-branch"))
    assert "has no branch or tag 'no-such-branch'" in report.scores[0].message
    inside, outside = workdir.at("occupied")
    outside.mkdir()
    (outside / "notes.txt").write_text("mine\n")
    report = anyio.run(plan_of, anywhere(), GitCheckoutScore(repo, inside, "main"))
    assert "exists and is not a git checkout" in report.scores[0].message


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("-oProxyCommand=x", "/srv/x", "main"), "not starting with '-'"),
        (("/srv/repo", "/srv/x", "main..x"), "must be a branch, tag or 40-digit commit"),
        (("/srv/repo", "/srv/x", "--upload-pack=x"), "must be a branch, tag or 40-digit commit"),
    ],
)
def test_bad_input_is_refused_when_the_score_is_made(arguments: tuple[str, str, str], message: str) -> None:
    with pytest.raises(ScoreValueError, match=message):
        GitCheckoutScore(*arguments)
