"""Health is part of what a plan observes, for applications run as supervised processes on localhost.

A program that runs (runit says ``run``) but does not answer its health path
is a pending restart with the reason and its last output, and an apply that
cannot make it healthy fails with the end of its log, secrets masked. A
healthy one plans nothing. The programs are busybox's httpd and ``sleep``
under the real runit; the shop example crash-looping is the case that was
found (its second apply said "Nothing to do").
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from capabilities.application import AppSpec
from harmony_py import Maestro, ScoreState, Secret
from harmony_py.scores import ApplicationScore
from harmony_py.cli.loader import load_maestro
from harmony_py.cli.main import main
from topologies import LocalhostTopology
from topologies.errors import ApplicationStartError

from .conftest import SHOP, Shop, free_port, stop_supervised_apps

ADDRESS = "127.36.1.2"
TOKEN = "tok-3f9a7c1e"
SERVE = 'echo "starting with token $TOKEN"; exec busybox httpd -f -p "$HOST:$PORT" -h .'


@pytest.fixture
def apps(tmp_path: Path) -> Iterator[tuple[LocalhostTopology, Path]]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "health").write_text("ok\n")
    try:
        yield LocalhostTopology(apps_root=str(tmp_path / "run"), app_address=ADDRESS, app_start_timeout_s=3), site
    finally:
        stop_supervised_apps(tmp_path / "run")


def test_a_process_whose_health_path_fails_is_a_pending_restart_and_its_apply_fails_with_its_log(
    apps: tuple[LocalhostTopology, Path],
) -> None:
    host, site = apps
    spec = AppSpec("sick", "unused:1", ("sh", "-c", SERVE), 1, free_port(ADDRESS), "/health", {"TOKEN": Secret(TOKEN)}, source=str(site))
    anyio.run(host.application_runtime().deploy, spec)
    assert anyio.run(host.application_runtime().plan, spec) == []  # healthy: nothing to do

    (site / "health").unlink()  # still running, but /health answers 404 now
    [pending] = anyio.run(host.application_runtime().plan, spec)
    assert pending.summary == "restart sick: running but /health answered 404 (last output: starting with token ********)", pending
    with pytest.raises(ApplicationStartError) as failed:
        anyio.run(host.application_runtime().deploy, spec)
    message = str(failed.value)
    assert "did not answer /health" in message and "last: answered 404" in message
    assert "starting with token ********" in message  # the end of its log, its secret masked
    assert TOKEN not in message + pending.summary

    (site / "health").write_text("ok\n")
    assert anyio.run(host.application_runtime().plan, spec) == []  # healthy again: the restart is no longer pending


LISTENS_NOWHERE = """
from harmony_py import Maestro
from harmony_py.scores import ApplicationScore
from topologies import LocalhostTopology

host = LocalhostTopology(apps_root={apps_root!r}, app_address={address!r}, app_start_timeout_s=2)
maestro = Maestro(host).add(
    ApplicationScore(
        "stuck", image="unused:1", port={port}, database=None, source={source!r},
        command=("sh", "-c", "echo 'stuck: cannot reach the database, retrying'; exec sleep 600"),
    )
)
"""


def test_an_application_that_runs_but_never_answers_is_not_unchanged_after_its_failed_apply(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The found case, deterministic: runit says ``run``, the health path refuses connections."""
    score_file = tmp_path / "stuck.py"
    score_file.write_text(
        LISTENS_NOWHERE.format(apps_root=str(tmp_path / "apps"), address=ADDRESS, port=free_port(ADDRESS), source=str(tmp_path))
    )

    def cli(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main([*args, str(score_file)])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    try:
        code, first = cli("apply", "--yes")
        assert code == 1 and "stuck: cannot reach the database" in first, first
        code, planned = cli("plan", "--detailed-exitcode")
        assert code == 2, planned
        assert "restart stuck-web: running but /health refused connections (last output: stuck: cannot reach the database, retrying)" in planned
        code, second = cli("apply", "--yes")
        assert code == 1, second
        assert "Nothing to do" not in second and "1 failed" in second, second
        assert "did not answer /health" in second and "stuck: cannot reach the database" in second
    finally:
        stop_supervised_apps(tmp_path / "apps")


@pytest.mark.parametrize("shop", ["localhost"], indirect=True)
def test_the_shop_crash_looping_after_its_failed_first_apply_is_a_pending_restart_and_fails_again(
    shop: Shop, tmp_path: Path
) -> None:
    """The shop's first apply fails (run by a Python without psycopg: it exits at start, runit restarts it);
    the next plan and apply must say so, with its last output, never "Nothing to do"."""
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    maestro = load_maestro(SHOP)
    topology = dataclasses.replace(maestro.topology, app_start_timeout_s=4)
    shop_score = [
        dataclasses.replace(score, command=(str(bare / "bin" / "python3"), "server.py"))
        if isinstance(score, ApplicationScore)
        else score
        for score in maestro.scores
    ]

    def run(operation: str) -> dict[str, tuple[ScoreState, str, list[str]]]:
        planned = Maestro(topology).add(*shop_score)
        report = anyio.run(planned.apply if operation == "apply" else planned.plan)
        return {
            score.identity: (score.state, score.message, [change.summary for change in score.changes])
            for score in report.scores
        }

    first = run("apply")
    assert first["shop.db"][0] is ScoreState.CHANGED
    assert first["shop.web"][0] is ScoreState.FAILED and "No module named 'psycopg'" in first["shop.web"][1], first
    planned = run("plan")
    state, _, changes = planned["shop.web"]
    assert state is ScoreState.PENDING and len(changes) == 1, planned
    assert changes[0].startswith("restart shop-web: ") and "(last output: ModuleNotFoundError: No module named 'psycopg')" in changes[0]
    again = run("apply")
    assert again["shop.db"][0] is ScoreState.UNCHANGED
    assert again["shop.web"][0] is ScoreState.FAILED and "No module named 'psycopg'" in again["shop.web"][1], again
    for secret in shop.secrets():
        assert secret not in repr([first, planned, again])
