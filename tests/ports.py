"""Finding free loopback ports for the servers the tests start: the one port check of the suite.

Every test (and bench) server that needs a port takes it from :func:`free_port`,
below Linux's ephemeral range (32768+), where the outgoing connections of other
programs could take it between the check and the use.
"""

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


def free_port(*hosts: str, span: int = 1, within: range = _LISTEN_RANGE) -> int:
    """A port P in ``within`` such that P .. P+span-1 are free now on every one of ``hosts``
    (default 127.0.0.1), starting at a random place (a server and the replicas one above it)."""
    hosts = hosts or ("127.0.0.1",)
    candidates = range(within.start, within.stop - span + 1)
    start = random.randrange(len(candidates))
    for offset in range(len(candidates)):
        port = candidates[(start + offset) % len(candidates)]
        if all(port_is_free(port + step, host) for step in range(span) for host in hosts):
            return port
    raise RuntimeError(f"no {span} free ports together in {within.start}-{within.stop - 1} on {', '.join(hosts)}")
