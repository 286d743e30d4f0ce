"""Outputs as users see them: `python -m harmony_py` plans show "known after apply", never a secret;
identities are the same in every process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .test_cli import ROOT, run_cli

PASSWORD = "pw-cli-4471-never-shown"


def shop_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "shop.py"
    path.write_text(
        textwrap.dedent(
            f"""
            from harmony_py import Maestro, Secret
            from tests.outputs_scores import ClientScore, ServerScore, ShopScore
            from topologies import LocalhostTopology

            shop = ShopScore("shop", "{tmp_path}/shop", Secret("{PASSWORD}"))
            cache = ServerScore("{tmp_path}/cache.json", 6379, Secret("{PASSWORD}")).named("cache")
            worker = ClientScore("{tmp_path}/worker.json", cache.output()).named("worker")
            maestro = Maestro(LocalhostTopology()).add(shop).add(cache, worker)
            """
        )
        + textwrap.dedent(extra)
    )
    return path


def test_plan_shows_known_after_apply_and_no_secret_in_human_or_json(tmp_path: Path) -> None:
    path = shop_file(tmp_path)
    human = run_cli("plan", str(path))
    assert human.returncode == 0, human.stderr
    assert "shop.web (ClientScore(" in human.stdout
    assert "~ server = (known after apply)" in human.stdout
    assert "~ settings[DATABASE_URL] = (known after apply)" in human.stdout
    assert "Plan: 4 to change, 0 unchanged, 0 failed." in human.stdout

    planned = run_cli("plan", "--json", str(path))
    document = json.loads(planned.stdout)
    scores = {score["identity"]: score for score in document["plan"]["scores"]}
    assert list(scores) == ["shop.web", "shop.db", "cache", "worker"]
    assert scores["shop.web"]["known_after_apply"] == ["server", "settings[DATABASE_URL]"]
    assert scores["shop.web"]["depends_on"] == ["shop.db"]
    assert scores["worker"]["depends_on"] == ["cache"]
    assert scores["shop.db"]["known_after_apply"] == []

    applied = run_cli("apply", "--yes", "--json", str(path))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert json.loads(applied.stdout)["apply"]["summary"]["changed"] == 4
    applied_human = run_cli("apply", "--yes", str(path))
    assert "Nothing to do" in applied_human.stdout, applied_human.stdout

    after = run_cli("plan", "--detailed-exitcode", "--json", str(path))
    assert after.returncode == 0, after.stdout
    assert all(not s["known_after_apply"] for s in json.loads(after.stdout)["plan"]["scores"])

    said = "".join(r.stdout + r.stderr for r in (human, planned, applied, applied_human, after))
    assert PASSWORD not in said
    assert (tmp_path / "shop/web.json.secret").read_text() == PASSWORD  # it did reach its file


def test_a_cycle_is_one_error_in_human_and_json(tmp_path: Path) -> None:
    path = shop_file(tmp_path, "maestro = Maestro(LocalhostTopology()).add(worker, cache)\n")
    human = run_cli("apply", "--yes", str(path))
    assert human.returncode == 1
    assert "error: dependency cycle: worker -> cache -> worker (each waits for the next); nothing was run" in human.stderr
    document = json.loads(run_cli("apply", "--yes", "--json", str(path)).stdout)
    assert document["ok"] is False and "dependency cycle: worker -> cache -> worker" in document["error"]
    assert not (tmp_path / "cache.json").exists() and not (tmp_path / "shop").exists()


PRINT_IDENTITIES = """
import json, runpy, sys
maestro = runpy.run_path(sys.argv[1])["maestro"]
graph = maestro.graph()
print(json.dumps([[n.identity, sorted(n.waits_for), [[p, r.source] for p, r in n.inputs]] for n in graph.nodes]))
"""


@pytest.mark.parametrize("seeds", [("1", "2")])
def test_identities_are_the_same_in_every_process(tmp_path: Path, seeds: tuple[str, str]) -> None:
    path = shop_file(tmp_path)
    outputs = []
    for seed in seeds:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", PRINT_IDENTITIES, str(path)], capture_output=True, text=True, env=env, timeout=60, check=True
        )
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]
    assert [node[0] for node in outputs[0]] == ["shop.web", "shop.db", "cache", "worker"]
    assert outputs[0][0][1] == ["shop.db"] and outputs[0][0][2] == [["server", "db"], ["settings[DATABASE_URL]", "db"]]
