"""Ops tooling that uses harmony_py as a library: plan from a script, then act on the report.

    .venv/bin/python examples/ops_tool.py [--root DIR] [--apply]

The desired state (one application's configuration directory) is built in
code, not in a score file. The script runs no event loop of its own, so it
plans with :func:`harmony_py.run_plan`, which also closes the topology's
connections when the plan is done, and then:

- prints a change ticket (text for a change-management system) naming every
  pending change; a secret's value never appears in it, only that it changes;
- exits with the number of pending changes (0: nothing to do; at most 100),
  or 101 when the plan failed, after printing each failure;
- with ``--apply``: applies, prints what changed, and exits 0 when every
  score converged, 101 otherwise.

``OPS_TOKEN`` is the application's token (default ``change-me``); the files go
under ``--root`` (default ``$TMPDIR/harmony_py-ops``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence

from harmony_py import Maestro, RunReport, Secret, run_apply, run_plan
from harmony_py.scores import DirectoryScore, FileScore
from topologies import LocalhostTopology

MAX_EXIT_PENDING = 100
EXIT_FAILED = 101


def desired_state(root: str, token: Secret) -> Maestro[LocalhostTopology]:
    """What the application's host should hold."""
    return Maestro(LocalhostTopology()).add(
        DirectoryScore(root, mode=0o755),
        FileScore(f"{root}/app.conf", "port = 8080\nworkers = 4\n"),
        FileScore(f"{root}/token", token),  # written 0600; plans show only that it differs
    )


def change_ticket(plan: RunReport) -> str:
    """The text of a change ticket for ``plan``: one entry per pending score, its changes below it."""
    host = plan.facts.get("os", "unknown OS")
    lines = [
        f"Change ticket: {len(plan.changes)} change(s) in {len(plan.pending)} score(s) on {plan.topology} ({host})",
        "",
    ]
    for number, score in enumerate(plan.pending, start=1):
        lines.append(f"{number}. {score.identity}")
        lines += [f"   - {change.summary}" for change in score.changes]
    lines += ["", "Apply with: ops_tool.py --apply (re-running converges; an unchanged score is left alone)."]
    return "\n".join(lines)


def failures_text(report: RunReport) -> str:
    lines = [f"{report.phase.value} failed on {report.topology}: {report.error}"] if report.error else []
    lines += [f"{score.identity}: {score.message}" for score in report.failures]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Plan an application's configuration and write a change ticket.")
    parser.add_argument("--root", default=os.path.join(tempfile.gettempdir(), "harmony_py-ops"))
    parser.add_argument("--apply", action="store_true", help="apply the changes instead of only planning them")
    args = parser.parse_args(argv)
    maestro = desired_state(args.root, Secret(os.environ.get("OPS_TOKEN", "change-me")))

    plan = run_plan(maestro)
    if not plan.ok:
        print(failures_text(plan), file=sys.stderr)
        return EXIT_FAILED
    if not plan.pending:
        print(f"No change needed on {plan.topology}: {len(plan.scores)} score(s) already in the desired state.")
        return 0
    print(change_ticket(plan))
    if not args.apply:
        return min(len(plan.changes), MAX_EXIT_PENDING)

    applied = run_apply(maestro, plan=plan)
    if not applied.ok:
        print(failures_text(applied), file=sys.stderr)
        return EXIT_FAILED
    print(f"\nApplied: {len(applied.changed)} score(s) changed, {len(applied.changes)} change(s) made.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
