"""Finding free loopback ports for the servers the tests start."""

from __future__ import annotations

import random
import socket


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


_LISTEN_RANGE = range(20000, 30000)
"""Where tests' servers listen when any port will do: below Linux's ephemeral range (32768+)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port in ``_LISTEN_RANGE`` that nothing listens on now, starting at a random place."""
    start = random.randrange(len(_LISTEN_RANGE))
    for offset in range(len(_LISTEN_RANGE)):
        port = _LISTEN_RANGE[(start + offset) % len(_LISTEN_RANGE)]
        if port_is_free(port, host):
            return port
    raise RuntimeError(f"no free port in {_LISTEN_RANGE.start}-{_LISTEN_RANGE.stop - 1} on {host}")
