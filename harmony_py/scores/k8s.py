"""Kubernetes objects on a topology that provides K8sClient, planned and applied like kubectl.

Plans come from observed state: each object is read (many of one kind in one
namespace with a single list). An existing object that already holds every
field of its manifest, and no field the manager owns and dropped, is unchanged
without a further request (``applied_as_declared``); any other is server-side
applied as a dry run, so the diff shows what the server would really change
(defaults and other managers' fields included). A server that refuses dry runs
gets a local comparison instead. Apply is server-side apply with a named field
manager; a second apply of the same score is NOOP and sends no write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio

from capabilities.errors import (
    K8sApiError,
    K8sError,
    K8sNotReadyError,
    K8sUnknownKindError,
)
from capabilities.k8s import ROLLOUT, K8sBulkApply, K8sClient, K8sClientService
from harmony_py.diff import unified_diff
from harmony_py.errors import HarmonyError, ManifestError, ScoreValueError
from harmony_py.outcome import InterpretStatus, Outcome
from harmony_py.score import Interpret, Score
from harmony_py.validation import (
    Count,
    DnsLabel,
    Duration,
    Each,
    ImageReference,
    InstanceOf,
    Keys,
    Matches,
    NonEmpty,
    Port,
    StartsWith,
    Values,
    validate,
)
from harmony_py.values import Change, ChangeAction

from .k8s_manifests import (
    LABEL_VALUE,
    ManifestSource,
    applied_as_declared,
    comparable,
    field_changes,
    identify,
    masked,
    merged,
    owned_fields,
    parse_manifests,
    to_yaml,
    without_dropped,
)

DEFAULT_FIELD_MANAGER = "harmony"
# A mapping of non-empty strings to strings (labels, quotas, environment):
_STRING_KEYS, _STRING_VALUES = Keys(NonEmpty()), Values(InstanceOf(str))
_API_VERSION_AND_KIND = Matches(r"[^/\s]+(/[^/\s]+)?/[^/\s]+", "<apiVersion>/<Kind> such as 'apps/v1/Deployment'")
APPLYSET_LABEL = "harmony.dev/applyset"
PLAN_CONCURRENCY = 64
"""Objects planned or applied at once. The client bounds the requests on the wire itself
(``K8sAnywhereTopology.concurrent_requests``); this bounds the tasks waiting for it."""
FIRST_KINDS = frozenset({"Namespace", "CustomResourceDefinition"})
"""Kinds applied in the first wave, before anything that lives in them."""
REFERENCED_KINDS = frozenset(
    {"ServiceAccount", "Secret", "ConfigMap", "PersistentVolume", "PersistentVolumeClaim", "StorageClass",
     "ResourceQuota", "LimitRange", "PriorityClass", "ClusterRole", "Role"}
)  # fmt: skip
"""Kinds applied in the second wave: what workloads and bindings name (a Pod's ServiceAccount is checked on create)."""
_MAX_NAMED_FAILURES = 10
_NO_DRY_RUN = frozenset({405, 415, 501})
_MAX_LISTED_FIELDS = 6
_LIST_FROM = 5
"""Manifests of one kind in one namespace from which a list replaces the reads of each."""


@dataclass(frozen=True)
class K8sResourceScore(Score[K8sClient]):
    """Any Kubernetes objects: dicts, or YAML text holding one or many documents.

    Bad manifests (no kind, apiVersion or metadata.name; invalid YAML; the same
    object twice) fail when the score is built; kinds the server does not serve
    fail the plan, all named at once, before anything is applied.

    ``applyset`` names the set these objects belong to: each gets the label
    ``harmony.dev/applyset=<applyset>``. With ``prune=True`` (which needs it),
    objects carrying that label that are no longer in the manifests are
    deleted, and plans show them as deletions. They are looked for among the
    kinds in the manifests and those in ``prune_kinds`` (``"apps/v1/Deployment"``,
    ``"v1/ConfigMap"``...): list there a kind you remove from the manifests entirely.

    Example::

        K8sResourceScore("apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: shop, namespace: shop}\\ndata: {mode: prod}\\n",
                         applyset="shop", prune=True)
    """

    manifests: ManifestSource
    field_manager: Annotated[str, NonEmpty()] = DEFAULT_FIELD_MANAGER
    force_conflicts: bool = False
    applyset: Annotated[str | None, LABEL_VALUE] = None
    prune: bool = False
    prune_kinds: Annotated[tuple[str, ...], Each(_API_VERSION_AND_KIND)] = ()
    objects: tuple[dict[str, Any], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        objects = parse_manifests(self.manifests)
        validate(self)
        if self.prune and self.applyset is None:
            raise ScoreValueError("K8sResourceScore(prune=True) needs applyset=<name>: pruning finds the objects by that label")
        if self.applyset is not None:
            for obj in objects:
                obj["metadata"]["labels"] = {**(obj["metadata"].get("labels") or {}), APPLYSET_LABEL: self.applyset}
        object.__setattr__(self, "objects", objects)

    @property
    def name(self) -> str:
        shown = ", ".join(identify(obj) for obj in self.objects[:3])
        more = f" and {len(self.objects) - 3} more" if len(self.objects) > 3 else ""
        return f"K8sResourceScore({shown}{more})"

    def interpret(self) -> K8sResourceInterpret:
        pruning = None
        if self.prune and self.applyset is not None:
            kinds = {(obj["apiVersion"], obj["kind"]) for obj in self.objects}
            kinds |= {api_version_and_kind(kind) for kind in self.prune_kinds}
            pruning = Pruning(f"{APPLYSET_LABEL}={self.applyset}", tuple(sorted(kinds)))
        return K8sResourceInterpret(self.objects, self.field_manager, self.force_conflicts, pruning)


@dataclass(frozen=True)
class Pruning:
    """Delete the objects matching ``selector``, among ``kinds``, that the manifests no longer hold."""

    selector: str
    kinds: tuple[tuple[str, str], ...]


def api_version_and_kind(text: str) -> tuple[str, str]:
    """``"apps/v1/Deployment"`` -> ``("apps/v1", "Deployment")`` (``text`` passed ``_API_VERSION_AND_KIND``)."""
    api_version, _, kind = text.rpartition("/")
    return api_version, kind


@dataclass(frozen=True)
class _ObjectPlan:
    manifest: dict[str, Any]
    change: Change | None


class K8sResourceInterpret(Interpret[K8sClient]):
    """Plans each object from the live cluster; applies the ones that would change."""

    def __init__(
        self,
        objects: Sequence[dict[str, Any]],
        field_manager: str,
        force_conflicts: bool = False,
        pruning: Pruning | None = None,
    ) -> None:
        self.objects = tuple(objects)
        self.field_manager = field_manager
        self.force_conflicts = force_conflicts
        self.pruning = pruning

    async def plan(self, topology: K8sClient) -> Sequence[Change]:
        return await self.plan_with(topology.k8s_client())

    async def apply(self, topology: K8sClient) -> Outcome:
        return await self.apply_with(topology.k8s_client())

    async def plan_with(self, client: K8sClientService) -> list[Change]:
        """The plan through ``client`` (what a service that holds a client, not a topology, calls)."""
        changes = [p.change for p in await self.plan_objects(client) if p.change is not None]
        return changes + [prune.change for prune in await self.plan_prunes(client)]

    async def apply_with(self, client: K8sClientService) -> Outcome:
        """Converge through ``client``: the objects that would change, then the prunes."""
        plans = await self.plan_objects(client)
        pending = [p for p in plans if p.change is not None]
        prunes = await self.plan_prunes(client)
        if not pending and not prunes:
            return Outcome.noop()
        applied: list[Change] = []
        total = len(pending) + len(prunes)
        for wave in _waves(pending):
            failures = await self._apply_wave(client, wave, applied)
            if failures:
                # Later waves live in or name what failed: they are not sent.
                return Outcome.failed(_failed_message(failures, len(applied), total), applied)
        try:
            # Deleted only once everything that replaces them is in place.
            for prune in prunes:
                await client.delete(prune.api_version, prune.kind, prune.name, prune.namespace)
                applied.append(prune.change)
        except K8sError as exc:
            done = f"; {len(applied)} of {total} changes made before it" if applied else ""
            return Outcome.failed(f"{exc}{done}", applied)
        return Outcome.changed(applied)

    async def plan_prunes(self, client: K8sClientService) -> list[_Prune]:
        """The objects of the applyset that the manifests no longer hold, to delete."""
        if self.pruning is None:
            return []
        wanted = {
            (obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
            for obj in self.objects
        }
        found: list[_Prune] = []
        for api_version, kind in self.pruning.kinds:
            for live in await client.list(api_version, kind, None, self.pruning.selector):
                metadata = live.get("metadata") or {}
                name, namespace = metadata.get("name", ""), metadata.get("namespace")
                if (api_version, kind, namespace, name) in wanted or _implicit_namespace_match(wanted, api_version, kind, name):
                    continue
                target = identify({"kind": kind, "metadata": metadata})
                summary = f"delete {target} (no longer in the manifests of applyset {self.pruning.selector.split('=', 1)[1]})"
                found.append(_Prune(api_version, kind, name, namespace, Change(ChangeAction.DELETE, target, summary)))
        return found

    async def plan_objects(self, client: K8sClientService) -> list[_ObjectPlan]:
        """One plan per object, in manifest order; every unknown kind reported together."""
        results: list[_ObjectPlan | BaseException | None] = [None] * len(self.objects)
        limiter = anyio.CapacityLimiter(PLAN_CONCURRENCY)
        listed = await self._list_groups(client, limiter)

        async def plan_one(index: int) -> None:
            manifest = self.objects[index]
            group = _group_of(manifest)
            found = listed.get(group) if group is not None else None
            async with limiter:
                try:
                    if found is None:
                        live = await client.get(
                            manifest["apiVersion"], manifest["kind"], manifest["metadata"]["name"],
                            manifest["metadata"].get("namespace"),
                        )  # fmt: skip
                    else:
                        live = found.get(manifest["metadata"]["name"])
                    results[index] = await self._plan_object(client, manifest, live)
                except K8sError as exc:
                    results[index] = exc

        async with anyio.create_task_group() as group:
            for index in range(len(self.objects)):
                group.start_soon(plan_one, index)
        errors = [r for r in results if isinstance(r, BaseException)]
        unknown = [str(r) for r in errors if isinstance(r, K8sUnknownKindError)]
        if unknown:
            raise ManifestError(sorted(set(unknown)))
        if errors:
            raise errors[0]
        return [r for r in results if isinstance(r, _ObjectPlan)]

    async def _list_groups(
        self, client: K8sClientService, limiter: anyio.CapacityLimiter
    ) -> dict[tuple[str, str, str], dict[str, dict[str, Any]]]:
        """The live objects of each (apiVersion, kind, namespace) with many manifests, read with one list.

        One list instead of a read per object: creating 200 objects then costs
        about the 200 patches kubectl sends, not 400 requests. Only for manifests
        naming their namespace (one without it lands in the client's default,
        which a list across namespaces cannot tell apart). A group whose list
        is refused (e.g. RBAC allows get but not list) is read object by object;
        any other failure (no answer, an answer that is not JSON) is the plan's,
        rather than one more wait per object.
        """
        sizes: dict[tuple[str, str, str], int] = {}
        for manifest in self.objects:
            group = _group_of(manifest)
            if group is not None:
                sizes[group] = sizes.get(group, 0) + 1
        listed: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
        failures: list[K8sError] = []

        async def list_one(group: tuple[str, str, str]) -> None:
            async with limiter:
                try:
                    items = await client.list(*group)
                except K8sError as exc:
                    if not _list_refused(exc):
                        failures.append(exc)  # raised once the group ends: one error, not a TaskGroup's
                    return
            listed[group] = {item.get("metadata", {}).get("name", ""): item for item in items}

        async with anyio.create_task_group() as tasks:
            for group, size in sizes.items():
                if size >= _LIST_FROM:
                    tasks.start_soon(list_one, group)
        if failures:
            raise failures[0]
        return listed

    async def _plan_object(self, client: K8sClientService, manifest: dict[str, Any], live: dict[str, Any] | None) -> _ObjectPlan:
        target = identify(live or manifest)
        if live is None:
            summary = f"create {target}"
            return _ObjectPlan(manifest, Change(ChangeAction.CREATE, target, summary, _creation_diff(target, manifest)))
        if applied_as_declared(live, manifest, self.field_manager):
            return _ObjectPlan(manifest, None)  # certain without asking: no dry run, nothing to send
        before = comparable(live)
        after = await self._projected(client, manifest, live)
        if after == before:
            return _ObjectPlan(manifest, None)
        shown_before, shown_after = masked(before), masked(after, before)
        fields = field_changes(shown_before, shown_after)
        listed = ", ".join(fields[:_MAX_LISTED_FIELDS]) + (f" (+{len(fields) - _MAX_LISTED_FIELDS} more)" if len(fields) > _MAX_LISTED_FIELDS else "")
        diff = unified_diff(target, to_yaml(shown_before).encode(), to_yaml(shown_after).encode())
        return _ObjectPlan(manifest, Change(ChangeAction.UPDATE, target, f"update {target}: {listed}", diff))

    async def _projected(self, client: K8sClientService, manifest: dict[str, Any], live: Mapping[str, Any]) -> dict[str, Any]:
        """The object as it would be after apply: the server's dry run, or a local merge."""
        try:
            result = await client.apply(
                manifest, field_manager=self.field_manager, dry_run=True, force_conflicts=self.force_conflicts
            )
        except K8sApiError as exc:
            if exc.status not in _NO_DRY_RUN:
                raise
            # No server-side dry run here: compare locally. Fields this manager
            # applied before (its managedFields) and no longer sets are removals.
            owned, others = owned_fields(live, self.field_manager)
            return comparable(merged(without_dropped(live, owned, manifest, others), manifest))
        return comparable(result)

    async def _apply_wave(self, client: K8sClientService, wave: Sequence[_ObjectPlan], applied: list[Change]) -> list[K8sError]:
        """Apply every object of ``wave`` concurrently; the failures, in manifest order (the others are applied)."""
        if isinstance(client, K8sBulkApply):
            results = await client.apply_all(
                [plan.manifest for plan in wave], field_manager=self.field_manager, force_conflicts=self.force_conflicts
            )
            applied.extend(plan.change for plan, result in zip(wave, results) if plan.change is not None and not isinstance(result, K8sError))
            return [result for result in results if isinstance(result, K8sError)]
        limiter = anyio.CapacityLimiter(PLAN_CONCURRENCY)
        failures: list[K8sError | None] = [None] * len(wave)
        done: list[Change | None] = [None] * len(wave)

        async def apply_one(index: int, plan: _ObjectPlan) -> None:
            async with limiter:
                try:
                    await client.apply(
                        plan.manifest, field_manager=self.field_manager, force_conflicts=self.force_conflicts
                    )
                except K8sError as exc:
                    failures[index] = exc  # its message names the object (kind, name, namespace)
                    return
            done[index] = plan.change

        try:
            async with anyio.create_task_group() as group:
                for index, plan in enumerate(wave):
                    group.start_soon(apply_one, index, plan)
        except BaseExceptionGroup as failed:
            # Not a K8sError (a bug, a cancellation): the error itself, not a group of one.
            raise _first_leaf(failed) from None
        applied.extend(change for change in done if change is not None)
        return [failure for failure in failures if failure is not None]


def _failed_message(failures: Sequence[K8sError], applied: int, total: int) -> str:
    """Each failed object with its error (the first few), and what became of the others."""
    named = "; ".join(str(failure) for failure in failures[:_MAX_NAMED_FAILURES])
    more = f"; and {len(failures) - _MAX_NAMED_FAILURES} more" if len(failures) > _MAX_NAMED_FAILURES else ""
    unsent = total - applied - len(failures)
    rest = f"{applied} of {total} changes made" + (f", {unsent} not sent (they come after the failed ones)" if unsent else "")
    if len(failures) == 1:
        return f"{named}; {rest}"
    return f"{len(failures)} objects failed: {named}{more}; {rest}"


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


@dataclass(frozen=True)
class _Prune:
    api_version: str
    kind: str
    name: str
    namespace: str | None
    change: Change


def _implicit_namespace_match(wanted: set[tuple[str, str, str | None, str]], api_version: str, kind: str, name: str) -> bool:
    """A manifest without a namespace goes to the client's default one, which this cannot know: keep
    any live object of that kind and name rather than delete what is still wanted."""
    return (api_version, kind, None, name) in wanted


def _list_refused(exc: K8sError) -> bool:
    """The server refused to list (forbidden, not served): reading object by object may still work."""
    return isinstance(exc, K8sUnknownKindError) or (isinstance(exc, K8sApiError) and exc.status in (403, 404, 405))


def _group_of(manifest: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(apiVersion, kind, namespace) of a manifest that names its namespace, else None."""
    namespace = manifest["metadata"].get("namespace")
    return (manifest["apiVersion"], manifest["kind"], namespace) if namespace else None


def apply_wave(kind: str) -> int:
    """0 for Namespaces and CRDs; 1 for what others name (ServiceAccounts, Secrets, ConfigMaps...); 2 for the rest."""
    return 0 if kind in FIRST_KINDS else 1 if kind in REFERENCED_KINDS else 2


def _waves(plans: Sequence[_ObjectPlan]) -> list[list[_ObjectPlan]]:
    """The plans by :func:`apply_wave`: each wave is applied concurrently, once the one before it has succeeded."""
    waves: list[list[_ObjectPlan]] = [[], [], []]
    for plan in plans:
        waves[apply_wave(plan.manifest["kind"])].append(plan)
    return [wave for wave in waves if wave]


def _creation_diff(target: str, manifest: Mapping[str, Any]) -> str | None:
    return unified_diff(target, b"", to_yaml(masked(manifest)).encode())


# -- NamespaceScore ----------------------------------------------------------


@dataclass(frozen=True)
class NamespaceScore(Score[K8sClient]):
    """A Namespace with these labels and, optionally, a ResourceQuota ``<name>-quota``.

    ``quota`` maps resource names to hard limits, e.g. ``{"pods": "20", "requests.cpu": "4"}``.

    Example::

        NamespaceScore("shop", labels={"team": "web"}, quota={"pods": "20", "requests.cpu": "4"})
    """

    namespace: Annotated[str, DnsLabel()]
    labels: Annotated[Mapping[str, str], _STRING_KEYS, _STRING_VALUES] = field(default_factory=dict)
    quota: Annotated[Mapping[str, str] | None, _STRING_KEYS, _STRING_VALUES] = None
    field_manager: str = DEFAULT_FIELD_MANAGER

    def __post_init__(self) -> None:
        validate(self)
        if self.quota is not None and not self.quota:
            raise ScoreValueError("NamespaceScore.quota must name at least one limit, or be None")

    @property
    def name(self) -> str:
        return f"NamespaceScore({self.namespace})"

    def manifests(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace, "labels": dict(self.labels)}}
        ]
        if self.quota is not None:
            found.append(
                {
                    "apiVersion": "v1",
                    "kind": "ResourceQuota",
                    "metadata": {"name": f"{self.namespace}-quota", "namespace": self.namespace},
                    "spec": {"hard": dict(self.quota)},
                }
            )
        return found

    def interpret(self) -> K8sResourceInterpret:
        return K8sResourceInterpret(parse_manifests(self.manifests()), self.field_manager)


# -- K8sDeploymentScore ------------------------------------------------------


@dataclass(frozen=True)
class K8sDeploymentScore(Score[K8sClient]):
    """A Deployment with HTTP probes and a Service in front of it; apply waits for the rollout.

    ``health_path`` is probed for readiness and liveness on ``port`` (``None``:
    no probes). When the rollout does not complete within ``timeout_s`` the
    apply fails, naming each pod that is not ready and why.

    Example::

        K8sDeploymentScore("shop-web", "shop", "registry.example.org/shop:1.4", replicas=3, port=8080, health_path="/healthz")
    """

    app: Annotated[str, DnsLabel()]
    """The Deployment's and the Service's name (``name`` is every score's display name)."""
    namespace: Annotated[str, DnsLabel()]
    image: Annotated[str, ImageReference()]
    replicas: Annotated[int, Count(minimum=0)] = 1
    port: Annotated[int, Port()] = 8080
    env: Annotated[Mapping[str, str], _STRING_KEYS, _STRING_VALUES] = field(default_factory=dict)
    health_path: Annotated[str | None, StartsWith("/")] = "/healthz"
    timeout_s: Annotated[float, Duration()] = 300.0
    field_manager: str = DEFAULT_FIELD_MANAGER

    def __post_init__(self) -> None:
        validate(self)

    @property
    def name(self) -> str:
        return f"K8sDeploymentScore({self.namespace}/{self.app})"

    def manifests(self) -> list[dict[str, Any]]:
        labels = {"app.kubernetes.io/name": self.app, "app.kubernetes.io/managed-by": "harmony"}
        selector = {"app.kubernetes.io/name": self.app}
        container: dict[str, Any] = {
            "name": self.app,
            "image": self.image,
            "ports": [{"name": "http", "containerPort": self.port, "protocol": "TCP"}],
        }
        if self.env:
            container["env"] = [{"name": key, "value": value} for key, value in sorted(self.env.items())]
        if self.health_path is not None:
            probe = {"httpGet": {"path": self.health_path, "port": "http"}, "periodSeconds": 5}
            container["readinessProbe"] = {**probe, "initialDelaySeconds": 1}
            container["livenessProbe"] = {**probe, "initialDelaySeconds": 10, "failureThreshold": 6}
        metadata = {"name": self.app, "namespace": self.namespace, "labels": labels}
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata,
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": selector},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        }
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata,
            "spec": {"selector": selector, "ports": [{"name": "http", "port": self.port, "targetPort": "http", "protocol": "TCP"}]},
        }
        return [deployment, service]

    def interpret(self) -> K8sDeploymentInterpret:
        return K8sDeploymentInterpret(self)


class K8sDeploymentInterpret(Interpret[K8sClient]):
    def __init__(self, score: K8sDeploymentScore) -> None:
        self.score = score
        self.resources = K8sResourceInterpret(parse_manifests(score.manifests()), score.field_manager)

    async def plan(self, topology: K8sClient) -> Sequence[Change]:
        return await self.resources.plan(topology)

    async def apply(self, topology: K8sClient) -> Outcome:
        outcome = await self.resources.apply(topology)
        if outcome.status is InterpretStatus.FAILURE:
            return outcome
        score = self.score
        try:
            # Also after a NOOP: it must not hide a rollout an earlier apply left unfinished.
            await topology.k8s_client().wait(
                "apps/v1", "Deployment", score.app, score.namespace, condition=ROLLOUT, timeout_s=score.timeout_s
            )
        except K8sNotReadyError as exc:
            return Outcome.failed(f"rollout did not complete: {exc}", outcome.changes)
        except HarmonyError as exc:
            return Outcome.failed(str(exc), outcome.changes)
        if outcome.status is InterpretStatus.NOOP:
            return outcome
        return Outcome.changed(outcome.changes, f"{outcome.message}; rolled out {score.replicas} replica(s)")
