"""The errors a capability promises, whatever topology provides it.

A score may catch these without knowing the topology: a ``ContainerError``
is the same whether the engine is local or reached over SSH. Adapters raise
subclasses of some of them (``topologies/errors.py``) that name their
technology. Everything derives from :class:`~harmony_py.errors.HarmonyError`.

    HarmonyError                        (harmony_py.errors)
    ├── CommandTimeoutError             CommandRunner: a command ran past timeout_s and was stopped
    ├── FileAccessError                 CommandRunner: a file operation refused or failed
    ├── PostgreSQLError                 PostgreSQL: a server or cluster did not reach the desired state
    ├── ContainerError                  Docker: the engine refused a container, or it did not come up
    │   └── ImageNotFoundError            the image is not there and may not be pulled
    ├── LoadBalancerError               LoadBalancer: the balancer could not be configured
    ├── K8sError                        K8sClient: anything a client raises on purpose
    │   ├── K8sApiError                   the API server refused, or did not answer
    │   │   └── K8sConflictError            server-side apply met another field manager (409)
    │   ├── K8sUnknownKindError           the server does not serve that apiVersion and kind
    │   └── K8sNotReadyError              a wait ended before the object was ready
    └── ApplicationError                ApplicationRuntime: an application did not come up as declared
        └── ContractVersionError          the platform cannot honour the contract's version
"""

from __future__ import annotations

from collections.abc import Sequence

from harmony_py.errors import HarmonyError


class CommandTimeoutError(HarmonyError, TimeoutError):
    """A command ran past its ``timeout_s`` and was stopped; the message names the host, program and limit."""


class FileAccessError(HarmonyError):
    """A file operation was refused or failed; the message names the host and path."""


class PostgreSQLError(HarmonyError):
    """A PostgreSQL server or cluster could not be brought to the desired state."""


class ContainerError(HarmonyError):
    """The engine refused a container, or the container did not come up."""


class ImageNotFoundError(ContainerError):
    """The image is not in the engine's local store and may not be pulled."""


class LoadBalancerError(HarmonyError):
    """The balancer could not be configured; the configuration it had stays active."""


class K8sError(HarmonyError):
    """Base of the errors a K8sClient implementation raises on purpose."""


class K8sApiError(K8sError):
    """The API server refused a request, or could not be reached.

    ``status`` is the HTTP status (0 when no answer came back); ``reason`` the
    server's machine-readable reason (``Conflict``, ``Invalid``, ...).
    """

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class K8sConflictError(K8sApiError):
    """Server-side apply found fields another field manager owns (HTTP 409)."""


class K8sUnknownKindError(K8sError):
    """The API server does not serve this ``apiVersion`` and ``kind``."""


class K8sNotReadyError(K8sError):
    """A wait ended without the object reaching its condition.

    ``not_ready`` says, one line each, what is still not ready and why
    (a Pod's waiting reason, a Job's failure message, replica counts).
    """

    def __init__(self, message: str, not_ready: Sequence[str] = ()) -> None:
        self.not_ready = tuple(not_ready)
        full = message if not self.not_ready else f"{message}: " + "; ".join(self.not_ready)
        super().__init__(full)


class ApplicationError(HarmonyError):
    """An application could not be brought up as its contract declares."""


class ContractVersionError(ApplicationError):
    """The platform cannot honour the version of an application's contract."""
