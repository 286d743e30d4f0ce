"""The Kubernetes objects apply would send, one YAML file per object, in apply order.

Each score's objects come from the builder its apply uses (the application
runtime's, the PostgreSQL server's, a Kubernetes score's own manifests), so
the files cannot drift from apply. What is left out, on purpose:

- Secret values: a Secret is written with its keys named in a comment and no
  ``data`` (a GitOps tool or ``kubectl create secret`` supplies them);
- the pod template's secret digest (an HMAC of those values, adr/0061);
- the namespace of objects apply puts in the client's namespace: the files
  go where they are applied (``kubectl apply -n NS -f DIR``).

Files are named ``NNN-<kind>-<name>.yaml``: ``kubectl apply -f DIR`` reads
them in that order, the order apply creates them in (a score's Namespaces and
CustomResourceDefinitions first, as apply does).
"""

from __future__ import annotations

import copy
from typing import Any

from capabilities.application import CONTRACT_VERSION, check_contract
from capabilities.postgresql import PgCertificates
from harmony_py.capability_check import capability_name
from harmony_py.errors import CannotRenderError
from harmony_py.graph import Graph
from harmony_py.score import Score
from harmony_py.values import Secret
from harmony_py.scores.application import (
    ApplicationContractScore,
    ApplicationServiceScore,
)
from harmony_py.scores.k8s import (
    K8sDeploymentScore,
    K8sResourceScore,
    NamespaceScore,
    apply_wave,
)
from harmony_py.scores.k8s_application_manifests import application_manifests
from harmony_py.scores.k8s_postgres_manifests import Declared, manifests, secret_keys, tls_on_kubernetes
from harmony_py.scores.postgresql import PostgreSQLScore

from .rendering import NotRendered, Rendering, ScoreNode, apply_order
from .yaml_text import yaml_document

CONTRACTS = range(1, CONTRACT_VERSION + 1)
"""Application contract versions the rendered objects honour (those of the cluster's runtime)."""
PLATFORM = "Kubernetes files"
VALUE_FIELDS = ("data", "stringData")


def render_kubernetes(graph: Graph[Score[Any]]) -> Rendering:
    """One file per object of every score that has a Kubernetes form; the others listed with the reason."""
    files: dict[str, bytes] = {}
    left_out: list[NotRendered] = []
    for node in apply_order(graph):
        try:
            objects = objects_of(node.score)
        except CannotRenderError as exc:
            left_out.append(NotRendered(node.identity, node.score.name, str(exc)))
            continue
        for obj in sorted(objects, key=lambda obj: apply_wave(obj["kind"])):
            path = f"{len(files) + 1:03d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
            files[path] = _file(node, obj)
    return Rendering(files, tuple(left_out))


UNRENDERED_CERTIFICATES = PgCertificates("", "", Secret(""), "", Secret(""))
"""Stands for a member's certificates, which are made at apply: only the TLS Secret's keys are rendered."""


def objects_of(score: Score[Any]) -> list[dict[str, Any]]:
    """The objects apply sends for ``score`` (Secret values included: :func:`_file` drops them)."""
    if isinstance(score, ApplicationContractScore):
        try:
            check_contract(PLATFORM, CONTRACTS, score.app, score.contract)
        except Exception as exc:
            raise CannotRenderError(str(exc)) from exc
        return []  # a check, nothing to create
    if isinstance(score, ApplicationServiceScore):
        return application_manifests(score.spec(), None)
    if isinstance(score, PostgreSQLScore):
        # Passwords are generated at apply and never rendered: the Secret's keys only.
        config = score.config
        # The TLS Secret is rendered by its keys, like the passwords.
        tls = UNRENDERED_CERTIFICATES if tls_on_kubernetes(config) else None
        return manifests(config, {user: "" for user in secret_keys(config)}, Declared(), None, tls)
    if isinstance(score, K8sResourceScore):
        return [copy.deepcopy(obj) for obj in score.objects]
    if isinstance(score, (NamespaceScore, K8sDeploymentScore)):
        return score.manifests()
    raise CannotRenderError(
        f"{type(score).__name__} needs {capability_name(score.required_capability())}, "
        "which no Kubernetes object describes"
    )


def _file(node: ScoreNode, obj: dict[str, Any]) -> bytes:
    comments = [f"Rendered by harmony_py from {node.identity}; apply in file-name order."]
    if obj["kind"] == "Secret":
        keys = sorted({key for field in VALUE_FIELDS for key in obj.get(field) or {}})
        obj = {key: value for key, value in obj.items() if key not in VALUE_FIELDS}
        if keys:
            comments.append(f"Values are not rendered: this Secret must hold {', '.join(keys)}, supplied")
            comments.append("by your secret tooling (or kubectl create secret generic ... --from-literal=KEY=VALUE).")
    return yaml_document(obj, comments)
