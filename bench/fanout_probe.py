"""Count the SSH packets a tool sends and receives, by message type, without a hook in the tool.

    python bench/fanout_probe.py COUNTS.json harmony apply FILE --yes --json
    python bench/fanout_probe.py COUNTS.json pyinfra -y INVENTORY DEPLOY

Wraps the SSH library's one send and one receive function per packet
(asyncssh ``SSHConnection.send_packet``/``_finish_recv_packet``; paramiko
``Packetizer.send_message``/``read_message``), runs the tool's CLI in this
process, and writes the counts to COUNTS.json at exit. The wrapper costs one
Python call per packet (well under a millisecond per thousand packets), and
bench/fanout.py only uses it in an extra, untimed run. Ansible talks through
the OpenSSH client, which cannot be counted this way.
"""

from __future__ import annotations

import atexit
import collections
import json
import runpy
import sys
from collections.abc import Callable
from typing import Any

MESSAGE_GROUPS = {
    2: "ignore",
    80: "request",
    81: "request",
    82: "request",
    90: "channel-open",
    91: "channel-open",
    92: "channel-open",
    93: "window",
    94: "data",
    95: "data",
    96: "channel-close",
    97: "channel-close",
    98: "request",
    99: "request",
    100: "request",
}
"""SSH message numbers (RFC 4250) grouped; everything else below 80 is the handshake (kex, auth)."""


def group_of(message: int) -> str:
    return MESSAGE_GROUPS.get(message, "handshake" if message < 80 else f"msg{message}")


class PacketCounts:
    def __init__(self) -> None:
        self.sent: collections.Counter[str] = collections.Counter()
        self.received: collections.Counter[str] = collections.Counter()
        self.connections = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "sent": dict(self.sent),
            "received": dict(self.received),
            "sent_total": sum(self.sent.values()),
            "received_total": sum(self.received.values()),
        }


def count_asyncssh(counts: PacketCounts) -> None:
    from asyncssh.connection import SSHConnection

    send: Callable[..., None] = SSHConnection.send_packet
    finish: Callable[..., None] = SSHConnection._finish_recv_packet
    connection_made: Callable[..., None] = SSHConnection.connection_made

    def send_packet(self: SSHConnection, pkttype: int, *args: bytes, **kwargs: Any) -> None:
        # asyncssh defers packets sent before kex/auth completes and re-sends them later: count those once.
        if self._transport is not None and not _deferred(self, pkttype):
            counts.sent[group_of(pkttype)] += 1
        send(self, pkttype, *args, **kwargs)

    def finish_recv_packet(self: SSHConnection, pkttype: int, *args: Any, **kwargs: Any) -> None:
        counts.received[group_of(pkttype)] += 1
        finish(self, pkttype, *args, **kwargs)

    def made(self: SSHConnection, transport: Any) -> None:
        counts.connections += 1
        connection_made(self, transport)

    setattr(SSHConnection, "send_packet", send_packet)
    setattr(SSHConnection, "_finish_recv_packet", finish_recv_packet)
    setattr(SSHConnection, "connection_made", made)


def _deferred(connection: Any, pkttype: int) -> bool:
    """Mirror of asyncssh's own test in ``send_packet`` for packets it holds back until kex and auth are done."""
    kex_done = connection._kex_complete
    auth_done = connection._auth_complete
    if pkttype in (4, 5, 6) or pkttype > 49:  # MSG_DEBUG, SERVICE_REQUEST/ACCEPT, beyond MSG_KEX_LAST
        if not kex_done:
            return True
    if pkttype == 53 and not (connection._auth_in_progress or auth_done):  # MSG_USERAUTH_BANNER
        return True
    return pkttype > 79 and not auth_done  # beyond MSG_USERAUTH_LAST


def count_paramiko(counts: PacketCounts) -> None:
    from paramiko.packet import Packetizer

    send: Callable[..., None] = Packetizer.send_message
    read: Callable[..., tuple[int, Any]] = Packetizer.read_message
    start: Callable[..., None] = Packetizer.__init__

    def send_message(self: Packetizer, data: Any) -> None:
        raw = data.asbytes()
        counts.sent[group_of(raw[0])] += 1
        send(self, data)

    def read_message(self: Packetizer) -> tuple[int, Any]:
        message = read(self)
        counts.received[group_of(message[0])] += 1
        return message

    def init(self: Packetizer, *args: Any, **kwargs: Any) -> None:
        counts.connections += 1
        start(self, *args, **kwargs)

    setattr(Packetizer, "send_message", send_message)
    setattr(Packetizer, "read_message", read_message)
    setattr(Packetizer, "__init__", init)


def main() -> None:
    out, tool, *argv = sys.argv[1:]
    counts = PacketCounts()

    def write() -> None:
        with open(out, "w") as handle:
            json.dump(counts.as_json(), handle)

    atexit.register(write)
    if tool == "harmony":
        count_asyncssh(counts)
        sys.argv = ["harmony", *argv]
        runpy.run_module("harmony_py", run_name="__main__", alter_sys=True)
    elif tool == "pyinfra":
        import pyinfra_cli  # noqa: F401  (gevent patches the standard library first, as pyinfra's CLI does)

        count_paramiko(counts)
        from pyinfra_cli.main import main as pyinfra_main

        sys.argv = ["pyinfra", *argv]
        pyinfra_main()
    else:
        raise SystemExit(f"unknown tool {tool!r}")


if __name__ == "__main__":
    main()
