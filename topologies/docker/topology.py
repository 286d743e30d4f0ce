"""DockerTopology: a Docker engine on its own, reached with the docker SDK (adr/0030)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import anyio
import anyio.to_thread

from harmony_py.errors import TopologyNotReadyError
from harmony_py.topology import TopologyReport

from .engine import DockerEngine, SocketAddress, engine_url


@dataclass(frozen=True)
class DockerTopology:
    """A Docker engine reached with the docker SDK. Provides ``Docker``.

    ``base_url``: ``unix:///path/docker.sock``, a socket path, ``tcp://...``,
    or ``None`` for ``DOCKER_HOST`` (the engine's default socket without it).
    Missing images are an error unless ``pull_missing`` (a registry is configured).
    An engine that does not answer fails ``ensure_ready``.
    """

    base_url: str | None = None
    pull_missing: bool = False
    name: str = "docker"

    def docker(self) -> DockerEngine:
        return self._engine

    async def ensure_ready(self) -> TopologyReport:
        problem = await anyio.to_thread.run_sync(self._address.problem)
        if problem is not None:
            raise TopologyNotReadyError(f"no Docker engine answers at {problem}")
        return TopologyReport(self.name, await self.docker().version())

    # Made on first use and kept: a frozen dataclass without slots has a __dict__ to keep them in.

    @functools.cached_property
    def _address(self) -> SocketAddress:
        return SocketAddress(engine_url(self.base_url))

    @functools.cached_property
    def _engine(self) -> DockerEngine:
        return DockerEngine(self._address, pull_missing=self.pull_missing)
