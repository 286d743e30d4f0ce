"""K8sClient: a Kubernetes API server reached with the user's credentials.

The capabilities (:class:`K8sClient`, refined by :class:`K8sPodClient`), the
services their one accessor ``k8s_client()`` returns, and the plain values
they exchange (manifests, watch events, wait conditions, exec results). No I/O here.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, runtime_checkable

from capabilities.errors import K8sError

Manifest = Mapping[str, Any]
"""One Kubernetes object as plain data: ``apiVersion``, ``kind``, ``metadata``, ..."""

ROLLOUT: Final = "Rollout"
"""The ``wait`` condition "rollout complete", computed as ``kubectl rollout status`` does.

Any other condition names a ``status.conditions`` type that must become
``"True"`` (``"Ready"`` for a Pod, ``"Complete"`` for a Job, ``"Available"``...).
"""

WatchEventType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True)
class WatchEvent:
    """One change to a watched object, with the object as the server had it then."""

    type: WatchEventType
    object: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.object.get("metadata", {}).get("name", ""))


def describe_object(kind: str, name: str, namespace: str | None) -> str:
    """``Deployment web in namespace shop``: how errors and plans name an object."""
    where = f" in namespace {namespace}" if namespace else ""
    return f"{kind} {name}{where}"


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a Pod's container printed, and how it ended."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@runtime_checkable
class K8sClientService(Protocol):
    """One cluster's Kubernetes API, as :meth:`K8sClient.k8s_client` hands it out.

    An implementation promises server-side apply with a named field
    manager, reads that answer ``None`` (not an error) for absent objects,
    errors that are :class:`K8sError` subclasses naming the object, and waits
    that end with a message saying what is still not ready. Namespaced objects
    without ``metadata.namespace`` go to the namespace the client is configured
    for (``default`` unless the kubeconfig context says otherwise).
    """

    async def apply(
        self,
        manifest: Manifest,
        *,
        field_manager: str,
        dry_run: bool = False,
        force_conflicts: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply one object; return the object as the server has it.

        With ``dry_run`` nothing is persisted: the result is what the object
        would become. Fields owned by another manager raise
        :class:`K8sConflictError` unless ``force_conflicts``.
        """
        ...

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """One object, or ``None`` when it does not exist."""
        ...

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> builtins.list[dict[str, Any]]:
        """Objects of a kind (all namespaces when ``namespace`` is None), filtered by label selector."""
        ...

    async def delete(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> bool:
        """Delete an object; ``False`` when it was already absent."""
        ...

    def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        name: str | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent]]:
        """Watch objects of a kind: ``async with client.watch(...) as events``.

        The stream starts with an ADDED event per existing object, then follows
        changes until the ``async with`` block ends.
        """
        ...

    async def wait(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        *,
        condition: str,
        timeout_s: float,
    ) -> dict[str, Any]:
        """Wait until the object reaches ``condition`` and return it.

        ``condition`` is :data:`ROLLOUT` or a ``status.conditions`` type. Raises
        :class:`K8sNotReadyError` saying what is not ready when ``timeout_s``
        passes, or at once when the object can no longer get there (a failed Job).
        """
        ...


@runtime_checkable
class K8sBulkApply(Protocol):
    """A K8sClientService that also server-side applies many objects in one call (optional).

    The generic manifest apply sends a wave of objects through ``apply_all``
    when the client offers it, and one ``apply`` per object otherwise.
    """

    async def apply_all(
        self, manifests: Sequence[Manifest], *, field_manager: str, force_conflicts: bool = False
    ) -> builtins.list[dict[str, Any] | K8sError]:
        """Apply each manifest (concurrently, as the client bounds it); per manifest, in order,
        the object as the server has it or the :class:`K8sError` that object failed with."""
        ...


@runtime_checkable
class K8sPodClientService(K8sClientService, Protocol):
    """A Kubernetes API that also reaches into Pods: their namespace, and ``kubectl exec``.

    Kept apart from :class:`K8sClientService`: scores that only converge objects
    need no exec, and an implementation without it (the in-memory client, a
    read-only proxy) still provides K8sClient. Operations that must run a
    program inside a server (PostgreSQL's promotion, its replication status)
    need this one.
    """

    async def namespace(self) -> str:
        """The namespace objects without ``metadata.namespace`` go to."""
        ...

    async def exec(
        self,
        pod: str,
        command: Sequence[str],
        *,
        namespace: str | None = None,
        container: str | None = None,
        timeout_s: float = 60.0,
        stdin: bytes | None = None,
    ) -> ExecResult:
        """Run ``command`` (an argv, no shell) in a running Pod's container and wait for it.

        ``stdin`` is written to the command's standard input: the way to hand it
        what must not be in an argv (an argv is in the API request's URL, and so
        in audit logs). The exec protocol cannot close it: the command must stop
        by itself after reading it (psql on a final ``\\q``).

        Raises :class:`K8sNotReadyError` when the Pod does not exist or is not
        running, :class:`K8sApiError` when the exec itself fails; a command
        that runs and fails is an :class:`ExecResult` with its exit code.
        """
        ...


@runtime_checkable
class K8sClient(Protocol):
    """A topology with a Kubernetes API: ``topology.k8s_client().apply(manifest, field_manager=...)``."""

    def k8s_client(self) -> K8sClientService:
        """The cluster's API client, made once per topology object."""
        ...


@runtime_checkable
class K8sPodClient(K8sClient, Protocol):
    """A K8sClient whose client also reaches into Pods: what PostgreSQL on Kubernetes needs."""

    def k8s_client(self) -> K8sPodClientService:
        """The cluster's API client, with the namespace and exec into Pods."""
        ...
