"""The one JSON document ``--json`` writes, on success and on failure alike."""

from __future__ import annotations

import json
from typing import Any

from harmony_py import __version__
from harmony_py.report import PhaseTimings, RunReport, ScoreReport, ScoreState
from harmony_py.values import Change


def change_json(change: Change) -> dict[str, Any]:
    return {
        "action": change.action.value,
        "target": change.target,
        "attribute": change.attribute,
        "summary": change.summary,
        "diff": change.diff,
    }


def score_json(report: ScoreReport) -> dict[str, Any]:
    return {
        "name": report.name,
        "identity": report.identity or report.name,
        "kind": report.kind,
        "topology": report.topology,
        "state": report.state.value,
        "message": report.message,
        "duration_s": round(report.duration_s, 4),
        "changes": [change_json(change) for change in report.changes],
        "depends_on": list(report.depends_on),
        # Inputs whose values exist only after apply: named, never valued (a value may be a secret).
        "known_after_apply": list(report.unknown_inputs),
    }


def timings_json(timings: PhaseTimings) -> dict[str, float]:
    """Seconds per phase on one topology: connect (prepare), observe (plan), change (apply)."""
    return {
        "connect_s": round(timings.connect_s, 4),
        "observe_s": round(timings.observe_s, 4),
        "change_s": round(timings.change_s, 4),
    }


def run_json(report: RunReport) -> dict[str, Any]:
    body: dict[str, Any] = {
        "phase": report.phase.value,
        "topology": report.topology,
        "facts": dict(report.facts),
        "ok": report.ok,
        "summary": {state.value: report.count(state) for state in ScoreState},
        "scores": [score_json(score) for score in report.scores],
    }
    if report.hosts:
        # Per-host results of a group; each score above names its host in "topology".
        body["hosts"] = [host_json(host) for host in report.hosts]
    else:
        body["timings"] = timings_json(report.timings)
    return body


def host_json(report: RunReport) -> dict[str, Any]:
    return {
        "topology": report.topology,
        "ok": report.ok,
        "error": report.error,
        "facts": dict(report.facts),
        "summary": {state.value: report.count(state) for state in ScoreState},
        "timings": timings_json(report.timings),
    }


def document(
    command: str,
    file: str,
    *,
    plan: RunReport | None = None,
    apply: RunReport | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> str:
    runs = [run for run in (plan, apply) if run is not None]
    body: dict[str, Any] = {
        "harmony_py": __version__,
        "command": command,
        "file": file,
        "ok": error is None and all(run.ok for run in runs),
        "error": error,
        "notice": notice,
        "plan": run_json(plan) if plan is not None else None,
        "apply": run_json(apply) if apply is not None else None,
    }
    return json.dumps(body, indent=2, ensure_ascii=False)
