"""ApplicationRuntime on Kubernetes: a Deployment, a Service, and a Secret for the secret variables.

An application ``<name>`` is, in the topology's namespace:

- Secret ``<name>-env``: the secret environment variables (``DATABASE_URL``...),
  which the pods read through ``secretKeyRef``: no secret value is written
  into the Deployment, and plans show a Secret's keys, never its values;
- Deployment ``<name>``: ``replicas`` pods of the image (the contract's command
  as the container's ``args``, like Docker's CMD), ``PORT`` set, ``HOST``
  0.0.0.0, readiness probed on the health path; its pod template carries an
  HMAC of the secret values (adr/0060), so that a changed secret rolls the pods
  (they read a Secret only when they start) and an unchanged one does not;
- Service ``<name>``: the port, in front of the ready pods;
- ConfigMap ``<name>-authorities``, when a database URL verifies its server over TLS
  (``spec.authorities``, adr/0103): the CA certificate, mounted into the pods, and the
  URL's ``sslrootcert`` names that copy.

Plans and applies are :class:`~harmony_py.scores.k8s.K8sResourceInterpret`'s
(server-side dry run diff, server-side apply, NOOP the second time); an apply
waits for the rollout. Health is the Deployment's rollout status (the pods'
readiness probes on the health path): a plan with nothing to apply reads it
once, and one that is not ready is a pending wait naming why (adr/0035).
``K8sAnywhereTopology.application_runtime()`` returns a
:class:`K8sApplicationRuntime` built on its client.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from capabilities.application import AppSpec, check_contract
from capabilities.k8s import ROLLOUT, K8sClientService
from harmony_py.outcome import InterpretStatus
from harmony_py.scores.k8s import K8sResourceInterpret
from harmony_py.scores.k8s_application_manifests import SECRET_DIGEST_ANNOTATION, application_manifests, secret_values
from harmony_py.scores.k8s_manifests import parse_manifests
from harmony_py.values import Change, ChangeAction, Secret
from topologies.errors import K8sApplicationError
from topologies.secret_store import SecretStore

from .readiness import Readiness, judge

FIELD_MANAGER = "harmony-application"
ROLLOUT_TIMEOUT_S = 300.0
CONTRACTS = range(1, 2)
"""Application contract versions a Kubernetes cluster honours."""
DIGEST_KEY = "k8s/application-secret-digest"
"""The secret store's key of the HMAC key the digests are made with (one per project)."""


class K8sApplicationRuntime:
    """``ApplicationRuntimeService`` on one cluster, through its API client (the topology's)."""

    def __init__(self, client: K8sClientService) -> None:
        self.client = client

    def contracts(self) -> range:
        return CONTRACTS

    async def plan(self, spec: AppSpec) -> list[Change]:
        check_contract("a Kubernetes cluster", CONTRACTS, spec.name, spec.contract)
        # A plan stores nothing: a key apply would generate is only drafted (then every digest differs).
        changes = list(await _resources(spec, SecretStore().for_plan()).plan_with(self.client))
        if not changes:
            unready = await self._unready(spec)
            if unready is not None:
                changes.append(Change(ChangeAction.RUN, spec.name, f"wait for {spec.name}: {unready}", attribute="health"))
        return changes

    async def deploy(self, spec: AppSpec) -> list[Change]:
        check_contract("a Kubernetes cluster", CONTRACTS, spec.name, spec.contract)
        outcome = await _resources(spec, SecretStore()).apply_with(self.client)
        if outcome.status is InterpretStatus.FAILURE:
            raise K8sApplicationError(f"application {spec.name}: {outcome.message}")
        unready = None if outcome.changes else await self._unready(spec)
        # Also after a NOOP: an earlier apply may have left a rollout unfinished, or pods stopped being ready.
        await self.client.wait("apps/v1", "Deployment", spec.name, None, condition=ROLLOUT, timeout_s=ROLLOUT_TIMEOUT_S)
        if unready is not None:
            return [Change(ChangeAction.RUN, spec.name, f"waited for {spec.name} to be ready ({unready} before)", attribute="health")]
        return list(outcome.changes)

    async def url(self, spec: AppSpec) -> str | None:
        service = await self.client.get("v1", "Service", spec.name)
        if service is None:
            return None
        namespace = service.get("metadata", {}).get("namespace", "default")
        return f"http://{spec.name}.{namespace}.svc:{spec.port}"

    async def _unready(self, spec: AppSpec) -> str | None:
        """Why the application's Deployment is not rolled out and ready (one GET; the kubelet's readiness
        probes judge the pods), or ``None`` when it is, or does not exist yet."""
        deployment = await self.client.get("apps/v1", "Deployment", spec.name)
        if deployment is None:
            return None
        verdict = judge(deployment, ROLLOUT)
        return None if verdict.readiness is Readiness.READY else verdict.message


def _resources(spec: AppSpec, store: SecretStore) -> K8sResourceInterpret:
    return K8sResourceInterpret(parse_manifests(manifests(spec, store)), FIELD_MANAGER)


def secret_digest(values: Mapping[str, Secret], key: Secret) -> str:
    """An HMAC-SHA256 of the secret variables: changes with any of them, and tells nothing about
    them to whoever reads the Deployment without the project's key (a plain hash of a short secret
    could be guessed offline)."""
    canonical = json.dumps({name: value.reveal() for name, value in values.items()}, sort_keys=True, separators=(",", ":"))
    return "hmac-sha256:" + hmac.new(key.reveal().encode(), canonical.encode(), hashlib.sha256).hexdigest()


def manifests(spec: AppSpec, store: SecretStore) -> list[dict[str, Any]]:
    """The application's objects, in the order they are applied, with the HMAC of its secrets (adr/0061)."""
    secrets = secret_values(spec)
    digest = secret_digest(secrets, store.get_or_create(DIGEST_KEY)) if secrets else None
    return application_manifests(spec, digest)
