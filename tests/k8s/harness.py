"""Run the emulator on its own event loop in a thread, as a real API server runs beside the client.

The topology under test drives the official (synchronous) client from worker
threads of the test's event loop; the server answering it runs here, so the
two never share a loop and either side can block without stalling the other.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import kmock
import yaml

from ..ports import free_port
from .emulator import HarmonyEmulator

R = TypeVar("R")


class EmulatorThread:
    """``with EmulatorThread() as server:`` an API server on 127.0.0.1, torn down on exit."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="k8s-emulator", daemon=True)
        self.emulator: HarmonyEmulator | None = None
        self.url = ""

    def __enter__(self) -> EmulatorThread:
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._failure is not None:
            raise RuntimeError("the emulator did not start") from self._failure
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    @property
    def api(self) -> HarmonyEmulator:
        assert self.emulator is not None
        return self.emulator

    def call(self, function: Callable[[], R]) -> R:
        """Run ``function`` on the emulator's loop (its state is not thread-safe) and return its result."""
        assert self._loop is not None

        async def run() -> R:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def write_kubeconfig(self, path: Path, *, namespace: str | None = None) -> Path:
        context: dict[str, Any] = {"cluster": "emulator", "user": "tester"}
        if namespace:
            context["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
            "contexts": [{"name": "emulator", "context": context}],
            "current-context": "emulator",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        return path

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by __enter__
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        # A port of our own below 32768: the kernel's ephemeral range (what port=None would
        # give) is where client sockets live, and a listener there can collide with them.
        async with HarmonyEmulator(**self._options) as emulator, kmock.Server(emulator, port=free_port()) as server:
            self.emulator = emulator
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()
