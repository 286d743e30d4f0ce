"""No SSH_MSG_IGNORE ahead of every packet on a connection whose cipher is not CBC.

asyncssh sends an empty SSH_MSG_IGNORE before every packet once encryption is on: the
countermeasure RFC 4251 section 9.3.1 gives against the chosen-plaintext attack on CBC mode's
chained IVs. harmony_py offers no CBC cipher (AES-GCM, ChaCha20-Poly1305, AES-CTR: connection.py),
and for those the extra packet only doubles what is sealed, sent (a ``send`` system call and a
TCP segment each) and opened on both sides: about 18,000 of the 37,000 packets of a first apply
to 50 hosts (adr/0111). :func:`omit_ignore_packets` stops them on one connection whose
negotiated cipher is not CBC; other asyncssh connections in the process are untouched.
"""

from __future__ import annotations

from typing import Any

import asyncssh
from asyncssh.connection import SSHConnection
from asyncssh.constants import MSG_IGNORE

_MARK = "_harmony_omit_ignore"


def omit_ignore_packets(conn: asyncssh.SSHClientConnection) -> bool:
    """Stop the per-packet SSH_MSG_IGNORE on ``conn`` unless its cipher is CBC; whether it did."""
    cipher = str(conn.get_extra_info("send_cipher") or "")
    if not cipher or cipher.endswith("-cbc"):
        return False
    _install()
    setattr(conn, _MARK, True)
    return True


def _install() -> None:
    original = SSHConnection.send_packet
    if getattr(original, "_harmony_guarded", False):
        return

    def send_packet(self: SSHConnection, pkttype: int, *args: bytes, handler: Any = None) -> None:
        if pkttype == MSG_IGNORE and getattr(self, _MARK, False):
            return
        original(self, pkttype, *args, handler=handler)

    send_packet._harmony_guarded = True  # type: ignore[attr-defined]  # a marker on our own function
    # Private asyncssh API (2.x): there is no option for this (adr/0111).
    SSHConnection.send_packet = send_packet  # type: ignore[method-assign]
