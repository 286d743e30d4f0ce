"""K8sClient: a Kubernetes API server reached with the user's credentials.

The Protocol, the plain values it exchanges (manifests, watch events, wait
conditions) and the errors its implementations raise. No I/O here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, runtime_checkable

Manifest = Mapping[str, Any]
"""One Kubernetes object as plain data: ``apiVersion``, ``kind``, ``metadata``, ..."""

ROLLOUT: Final = "Rollout"
"""The ``k8s_wait`` condition "rollout complete", computed as ``kubectl rollout status`` does.

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


@runtime_checkable
class K8sClient(Protocol):
    """A topology with a Kubernetes API.

    A topology implementing it promises server-side apply with a named field
    manager, reads that answer ``None`` (not an error) for absent objects,
    errors that are :class:`K8sError` subclasses naming the object, and waits
    that end with a message saying what is still not ready. Namespaced objects
    without ``metadata.namespace`` go to the namespace the client is configured
    for (``default`` unless the kubeconfig context says otherwise).
    """

    async def k8s_apply(
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

    async def k8s_get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """One object, or ``None`` when it does not exist."""
        ...

    async def k8s_list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        """Objects of a kind (all namespaces when ``namespace`` is None), filtered by label selector."""
        ...

    async def k8s_delete(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> bool:
        """Delete an object; ``False`` when it was already absent."""
        ...

    def k8s_watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        *,
        name: str | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent]]:
        """Watch objects of a kind: ``async with client.k8s_watch(...) as events``.

        The stream starts with an ADDED event per existing object, then follows
        changes until the ``async with`` block ends.
        """
        ...

    async def k8s_wait(
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
class K8sPods(Protocol):
    """A Kubernetes API that also reaches into Pods: their namespace, and ``kubectl exec``.

    Kept apart from :class:`K8sClient`: scores that only converge objects need
    no exec, and an implementation without it (the in-memory client, a
    read-only proxy) still provides K8sClient. Operations that must run a
    program inside a server (PostgreSQL's promotion, its replication status)
    need this one.
    """

    async def k8s_namespace(self) -> str:
        """The namespace objects without ``metadata.namespace`` go to."""
        ...

    async def k8s_exec(
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
class K8sPodClient(K8sClient, K8sPods, Protocol):
    """K8sClient and K8sPods together: what PostgreSQL on Kubernetes needs."""
