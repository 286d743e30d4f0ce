"""Finding free loopback ports for the servers the tests start.

Every port a test listens on comes from here, below Linux's ephemeral range
(32768+, where client source ports would take it) and above the replicas'
default backend ports (20000-20999, which the runtimes pick from themselves).

Under pytest-xdist each worker picks from a slice of its own
(``PYTEST_XDIST_WORKER`` ``gwN`` of ``PYTEST_XDIST_WORKER_COUNT``): between the
check that a port is free and the server binding it, another worker cannot
pick the same port. Within a process a port is handed out once: a port chosen
when a module is imported (``PORT = free_port()``) and bound minutes later is
not given meanwhile to a server that another test starts for the session.
"""

from __future__ import annotations

import os
import random
import socket


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


_LISTEN_RANGE = range(21000, 30000)
"""Where tests' servers listen when any port will do: below 32768, above the default backend ports."""


def worker_index() -> tuple[int, int]:
    """This process's xdist worker number and the number of workers; ``(0, 1)`` outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not name.startswith("gw") or not name[2:].isdigit() or count < 1:
        return 0, 1
    return int(name[2:]) % count, count


def worker_ports() -> range:
    """The part of the listening range this worker picks from (all of it outside xdist)."""
    index, count = worker_index()
    size = len(_LISTEN_RANGE) // count
    start = _LISTEN_RANGE.start + index * size
    return range(start, start + size)


_handed_out: set[int] = set()
"""Ports this process has handed out already (never handed out again)."""


def free_ports(count: int, host: str = "127.0.0.1", *also_on: str) -> range:
    """``count`` consecutive ports of this worker's slice that nothing listens on now (on ``host`` and ``also_on``)."""
    ports = worker_ports()
    starts = range(ports.start, ports.stop - count + 1)
    if not starts:
        raise RuntimeError(f"no room for {count} ports in {ports.start}-{ports.stop - 1}")
    first = random.randrange(len(starts))
    for offset in range(len(starts)):
        start = starts[(first + offset) % len(starts)]
        candidates = range(start, start + count)
        if _handed_out.isdisjoint(candidates) and all(
            port_is_free(port, address) for port in candidates for address in (host, *also_on)
        ):
            _handed_out.update(candidates)
            return candidates
    raise RuntimeError(f"no {count} free ports in {ports.start}-{ports.stop - 1} on {host}")


def free_port(host: str = "127.0.0.1", *also_on: str) -> int:
    """A port of this worker's slice that nothing listens on now (on ``host`` and ``also_on``), from a random place."""
    return free_ports(1, host, *also_on)[0]
