"""Run the emulated API server as its own process: ``python -m tests.k8s.serve KUBECONFIG_PATH``.

Writes a kubeconfig pointing at it, prints its URL, and serves until stdin closes.
Benchmarks use it so the server does not share a Python process (and its GIL) with the client.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .harness import EmulatorThread


def main() -> None:
    with EmulatorThread(auto_ready=False, keep_requests=False) as server:
        server.write_kubeconfig(Path(sys.argv[1]))
        print(server.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
