"""DockerTopology: a Docker engine on its own, reached with the docker SDK (adr/0030)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread

from harmony_py.errors import TopologyNotReadyError
from harmony_py.topology import TopologyReport

from .engine import DockerEngine, engine_url, probe_engine


@dataclass(frozen=True)
class DockerTopology(DockerEngine):
    """A Docker engine reached with the docker SDK. Provides ``Docker``.

    ``base_url``: ``unix:///path/docker.sock``, a socket path, ``tcp://...``,
    or ``None`` for ``DOCKER_HOST`` (the engine's default socket without it).
    Missing images are an error unless ``pull_missing`` (a registry is configured).
    """

    base_url: str | None = None
    pull_missing: bool = False
    name: str = "docker"

    def _docker_url(self) -> str | None:
        return engine_url(self.base_url)

    def _docker_pulls(self) -> bool:
        return self.pull_missing

    async def ensure_ready(self) -> TopologyReport:
        url = self._docker_url()
        problem = await anyio.to_thread.run_sync(probe_engine, url)
        if problem is not None:
            raise TopologyNotReadyError(f"no Docker engine answers at {problem}")
        version: dict[str, Any] = await self._call(lambda client: client.version())
        return TopologyReport(
            self.name,
            {
                "docker.version": str(version.get("Version", "unknown")),
                "docker.api_version": str(version.get("ApiVersion", "unknown")),
                "docker.os": str(version.get("Os", "unknown")),
            },
        )
