"""No per-packet logging work unless asyncssh's packet logging is on (its debug level 3).

asyncssh builds each packet's log line (a copy of the payload, the message
name, a byte count) for every packet sent and received, and only then does its
logger see that packet logging is off: about 2 us per packet here, on both
sides of every observation. :func:`skip_packet_logging_when_off` puts the level
check first; with ``asyncssh.set_debug_level(3)`` (and its logger at DEBUG)
packets are logged exactly as before. See adr/0089.
"""

from __future__ import annotations

from asyncssh.logging import SSHLogger
from asyncssh.packet import SSHPacket, SSHPacketLogger

_PACKET_LOG_LEVEL = 3
"""asyncssh's debug level at which packets are logged (asyncssh.logging.SSHLogger.packet)."""


def skip_packet_logging_when_off() -> None:
    """Make asyncssh's per-packet logging free while it is off; idempotent."""
    original = SSHPacketLogger._log_packet
    if getattr(original, "_harmony_guarded", False):
        return

    def log_packet_when_on(
        self: SSHPacketLogger, msg: str, pkttype: int, pktid: int | None, packet: bytes | SSHPacket, note: str
    ) -> None:
        # Read on every call: turning asyncssh's debug level up later still logs.
        if SSHLogger._debug_level >= _PACKET_LOG_LEVEL:
            original(self, msg, pkttype, pktid, packet, note)

    log_packet_when_on._harmony_guarded = True  # type: ignore[attr-defined]  # a marker on our own function
    # Private asyncssh API (2.x): there is no public switch for this work (adr/0089).
    SSHPacketLogger._log_packet = log_packet_when_on  # type: ignore[method-assign]
