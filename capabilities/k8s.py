"""K8sClient: a Kubernetes API server reached with the user's credentials."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

Manifest = Mapping[str, Any]


@runtime_checkable
class K8sClient(Protocol):
    """A topology with a Kubernetes API.

    A topology implementing it promises server-side apply with a named field
    manager, reads that answer ``None`` (not an error) for absent objects, and
    waits that end with a message saying what is still not ready.
    """

    async def k8s_apply(
        self, manifest: Manifest, *, field_manager: str, dry_run: bool = False
    ) -> dict[str, Any]:
        """Server-side apply one object; return the object as the server has it."""
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
        """Objects of a kind, filtered by label selector."""
        ...

    async def k8s_delete(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> bool:
        """Delete an object; ``False`` when it was already absent."""
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
    ) -> None:
        """Wait until the object reaches ``condition`` (e.g. "Available", "Ready", "Complete")."""
        ...
