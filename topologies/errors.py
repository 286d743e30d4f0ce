"""The errors the adapters raise: each names its technology, under the layer's error it refines.

A score catches the capability's error (``capabilities.errors``): a
``HostPostgreSQLError`` and a ``K8sPostgreSQLError`` are both a
``PostgreSQLError``. Everything derives from
:class:`~harmony_py.errors.HarmonyError`.

    HarmonyError                              (harmony_py.errors)
    ├── TopologyNotReadyError                 (harmony_py.errors) a topology could not be prepared or reached
    │   ├── HostKeyError                        an SSH host's key is unknown or changed
    │   ├── AuthenticationError                 an SSH host refused every credential
    │   ├── ConnectionLostError                 an SSH connection dropped under a command or file operation
    │   └── DockerUnavailableError              an SSH host's Docker engine cannot be reached
    ├── CommandTimeoutError                   (capabilities.errors) raised as it is by both command runners
    ├── FileAccessError                       (capabilities.errors)
    │   ├── LocalFileError                      a file operation on this machine
    │   └── RemoteFileError                     a file operation over SFTP
    ├── PostgreSQLError                       (capabilities.errors)
    │   ├── HostPostgreSQLError                 a server on a host, run through its commands
    │   ├── PatroniUnreachableError             a member's Patroni REST API does not answer
    │   ├── PatroniRequestError                 Patroni refused a request (its HTTP status kept)
    │   └── K8sPostgreSQLError                  a server in a Pod, through the exec API
    └── ApplicationError                      (capabilities.errors)
        ├── ApplicationStartError               a supervised process did not come up healthy
        └── K8sApplicationError                 an application could not be converged on a cluster
"""

from __future__ import annotations

from capabilities.errors import ApplicationError, FileAccessError, PostgreSQLError
from harmony_py.errors import TopologyNotReadyError


class HostKeyError(TopologyNotReadyError):
    """The host's key is unknown or different from the one on record."""


class AuthenticationError(TopologyNotReadyError):
    """The host refused every credential offered."""


class ConnectionLostError(TopologyNotReadyError):
    """The connection to a host dropped while a command or file operation was under way."""

    def __init__(self, host: str, doing: str, detail: str = "") -> None:
        self.host = host
        cause = f" ({detail})" if detail else ""
        super().__init__(
            f"{host}: SSH connection lost while {doing}{cause}; whether it finished on the host is unknown. "
            "Check that the host is up and reachable, then re-run to converge (a new connection is opened)."
        )


class DockerUnavailableError(TopologyNotReadyError):
    """The host's Docker engine cannot be reached through the SSH connection."""


class LocalFileError(FileAccessError):
    """A local file operation refused or failed; the message names the path."""


class RemoteFileError(FileAccessError):
    """A file operation on a remote host failed."""


class HostPostgreSQLError(PostgreSQLError):
    """A PostgreSQL server on a host could not be brought to the desired state."""


class PatroniUnreachableError(PostgreSQLError):
    """No answer from a member's Patroni REST API (not running, or its host is unreachable)."""


class PatroniRequestError(PostgreSQLError):
    """Patroni answered a request with an error status; ``status`` is the HTTP status."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class K8sPostgreSQLError(PostgreSQLError):
    """A PostgreSQL server on Kubernetes could not be brought to the desired state."""


class ApplicationStartError(ApplicationError):
    """The application's process did not come up healthy."""


class K8sApplicationError(ApplicationError):
    """An application could not be converged on the cluster."""
