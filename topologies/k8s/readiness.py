"""When a Kubernetes object counts as ready: the rules ``kubectl rollout status`` and ``kubectl wait`` use.

Pure functions of an object as the API server returns it, so every K8sClient
implementation (the real one, the in-memory one of the tests) waits the same way.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from capabilities.k8s import ROLLOUT


class Readiness(enum.Enum):
    READY = "ready"
    WAITING = "waiting"
    FAILED = "failed"
    """It can no longer get there without a change (a failed Job, a stuck rollout)."""


@dataclass(frozen=True)
class Verdict:
    readiness: Readiness
    message: str


def judge(obj: Mapping[str, Any], condition: str) -> Verdict:
    """Whether ``obj`` has reached ``condition`` (:data:`ROLLOUT` or a status condition type)."""
    if condition == ROLLOUT:
        kind = obj.get("kind", "")
        rule = _ROLLOUT_RULES.get(kind)
        if rule is None:
            return Verdict(Readiness.FAILED, f"{kind or 'this kind'} has no rollout; wait for a condition instead")
        return rule(obj)
    return _judge_condition(obj, condition)


def _judge_condition(obj: Mapping[str, Any], wanted: str) -> Verdict:
    conditions = _conditions(obj)
    found = conditions.get(wanted)
    if found is not None and found.get("status") == "True":
        return Verdict(Readiness.READY, f"condition {wanted} is True")
    failed = conditions.get("Failed")
    if failed is not None and failed.get("status") == "True" and wanted != "Failed":
        return Verdict(Readiness.FAILED, "failed: " + _reason_text(failed))
    if obj.get("status", {}).get("phase") == "Failed":
        return Verdict(Readiness.FAILED, "phase Failed: " + str(obj.get("status", {}).get("message", "")))
    if found is None:
        return Verdict(Readiness.WAITING, f"condition {wanted} not reported yet")
    return Verdict(Readiness.WAITING, f"condition {wanted} is {found.get('status')}: {_reason_text(found)}")


def _deployment(obj: Mapping[str, Any]) -> Verdict:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    if (stale := _generation_not_observed(obj)) is not None:
        return stale
    progressing = _conditions(obj).get("Progressing", {})
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Verdict(Readiness.FAILED, "rollout exceeded its progress deadline")
    wanted = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    replicas = int(status.get("replicas", 0))
    available = int(status.get("availableReplicas", 0))
    if updated < wanted:
        return Verdict(Readiness.WAITING, f"{updated} of {wanted} replicas updated")
    if replicas > updated:
        return Verdict(Readiness.WAITING, f"{replicas - updated} old replicas pending termination")
    if available < updated:
        return Verdict(Readiness.WAITING, f"{available} of {updated} updated replicas available")
    return Verdict(Readiness.READY, f"rolled out: {available} of {wanted} replicas available")


def _statefulset(obj: Mapping[str, Any]) -> Verdict:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    if (stale := _generation_not_observed(obj)) is not None:
        return stale
    wanted = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas", 0))
    if ready < wanted:
        return Verdict(Readiness.WAITING, f"{ready} of {wanted} pods ready")
    update, current = status.get("updateRevision"), status.get("currentRevision")
    updated = int(status.get("updatedReplicas", wanted))
    if update and current and update != current and updated < wanted:
        return Verdict(Readiness.WAITING, f"{updated} of {wanted} pods at revision {update}")
    return Verdict(Readiness.READY, f"rolled out: {ready} of {wanted} pods ready")


def _daemonset(obj: Mapping[str, Any]) -> Verdict:
    status = obj.get("status", {})
    if (stale := _generation_not_observed(obj)) is not None:
        return stale
    wanted = int(status.get("desiredNumberScheduled", 0))
    updated = int(status.get("updatedNumberScheduled", 0))
    available = int(status.get("numberAvailable", 0))
    if updated < wanted:
        return Verdict(Readiness.WAITING, f"{updated} of {wanted} pods updated")
    if available < wanted:
        return Verdict(Readiness.WAITING, f"{available} of {wanted} updated pods available")
    return Verdict(Readiness.READY, f"rolled out: {available} of {wanted} pods available")


def _generation_not_observed(obj: Mapping[str, Any]) -> Verdict | None:
    generation = obj.get("metadata", {}).get("generation")
    observed = obj.get("status", {}).get("observedGeneration")
    if generation is not None and (observed is None or int(observed) < int(generation)):
        return Verdict(Readiness.WAITING, "waiting for the controller to observe the new spec")
    return None


_ROLLOUT_RULES = {"Deployment": _deployment, "StatefulSet": _statefulset, "DaemonSet": _daemonset}


def _conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = obj.get("status", {}).get("conditions") or []
    return {str(c.get("type")): c for c in found if isinstance(c, Mapping)}


def _reason_text(condition: Mapping[str, Any]) -> str:
    parts = [str(condition[key]) for key in ("reason", "message") if condition.get(key)]
    return " - ".join(parts) or "no reason given"


def pod_problems(pod: Mapping[str, Any]) -> str | None:
    """Why a Pod is not ready, from its container states; ``None`` when it is ready."""
    status = pod.get("status", {})
    name = pod.get("metadata", {}).get("name", "?")
    if _conditions(pod).get("Ready", {}).get("status") == "True":
        return None
    reasons: list[str] = []
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        for phase in ("waiting", "terminated"):
            detail = state.get(phase)
            if detail:
                text = detail.get("reason") or phase
                if detail.get("message"):
                    text += f" ({detail['message']})"
                reasons.append(f"{container.get('name', '?')}: {text}")
    if not reasons:
        scheduled = _conditions(pod).get("PodScheduled", {})
        if scheduled.get("status") == "False":
            reasons.append("unschedulable: " + _reason_text(scheduled))
        else:
            reasons.append(f"phase {status.get('phase', 'Pending')}")
    return f"pod {name}: " + ", ".join(reasons)
