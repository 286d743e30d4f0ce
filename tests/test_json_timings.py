"""``--json`` reports seconds per phase (connect, observe, change) for a topology and for each host of a group."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.test_cli import run_cli, score_file

PHASES = ("connect_s", "observe_s", "change_s")


def _timings(body: dict[str, Any]) -> dict[str, float]:
    timings = body["timings"]
    assert set(timings) == set(PHASES)
    assert all(isinstance(value, float) and value >= 0 for value in timings.values()), timings
    return dict(timings)


def test_json_reports_connect_observe_and_change_seconds_of_a_single_topology(tmp_path: Path) -> None:
    path = score_file(
        tmp_path,
        f"""
        maestro = Maestro(LocalhostTopology()).add(FileScore("{tmp_path}/motd", "hi\\n"))
        """,
    )
    done = run_cli("apply", "--yes", "--json", str(path))
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    plan, apply = _timings(body["plan"]), _timings(body["apply"])
    # The plan connected and observed; the apply reused the connection and changed.
    assert plan["change_s"] == 0.0 and apply["connect_s"] == 0.0 and apply["observe_s"] == 0.0
    assert plan["connect_s"] > 0 and plan["observe_s"] > 0 and apply["change_s"] > 0


def test_json_reports_phase_seconds_for_each_host_of_a_group_also_one_that_failed_to_connect(tmp_path: Path) -> None:
    path = score_file(
        tmp_path,
        f"""
        import anyio
        from harmony_py import TopologyGroup, TopologyNotReadyError, TopologyReport

        class Unreachable(LocalhostTopology):
            async def ensure_ready(self) -> TopologyReport:
                await anyio.sleep(0.05)
                raise TopologyNotReadyError("no route to host")

        members = [LocalhostTopology("one"), LocalhostTopology("two"), Unreachable("three")]
        maestro = Maestro(TopologyGroup(members)).add(FileScore("{tmp_path}/motd", "hi\\n"))
        """,
    )
    done = run_cli("plan", "--json", str(path))
    assert done.returncode == 1
    hosts = {host["topology"]: host for host in json.loads(done.stdout)["plan"]["hosts"]}
    for name in ("one", "two"):
        timings = _timings(hosts[name])
        assert timings["connect_s"] > 0 and timings["observe_s"] > 0 and timings["change_s"] == 0.0
    failed = _timings(hosts["three"])
    assert failed["connect_s"] >= 0.05 and failed["observe_s"] == 0.0
