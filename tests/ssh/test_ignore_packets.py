"""No SSH_MSG_IGNORE ahead of every packet on harmony_py's connections (none of its ciphers is CBC; adr/0111).

Counted by the connection's send sequence number, which SSH increments once per packet sent.
Real sshd servers, see conftest.py.
"""

from __future__ import annotations

import anyio

from topologies import LinuxHostTopology
from topologies.host.ssh.ignore_packets import omit_ignore_packets

from .conftest import HostFactory
from .sshd import SshServer

COMMANDS = 20


async def _packets_sent_for(host: LinuxHostTopology, *, omit: bool) -> int:
    runner = host.command_runner()
    conn = await runner.connection()
    await runner.run(["true"])  # the session is open before counting
    conn._harmony_omit_ignore = omit  # type: ignore[attr-defined]  # the mark omit_ignore_packets sets
    before = conn._send_seq  # asyncssh's count of the packets it sent
    for _ in range(COMMANDS):
        result = await runner.run(["true"])
        assert result.ok
    return conn._send_seq - before


def test_a_connection_sends_no_ignore_packet_ahead_of_each_packet_and_still_works(
    make_host: HostFactory, ssh_servers: list[SshServer]
) -> None:
    async def run() -> tuple[str, int, int]:
        host = make_host(ssh_servers[0])
        try:
            conn = await host.command_runner().connection()
            cipher = str(conn.get_extra_info("send_cipher"))
            assert omit_ignore_packets(conn)
            return cipher, await _packets_sent_for(host, omit=False), await _packets_sent_for(host, omit=True)
        finally:
            await host.aclose()

    cipher, with_ignore, without = anyio.run(run)
    assert cipher == "aes256-gcm@openssh.com"
    assert with_ignore == 2 * without, (with_ignore, without)
    assert without <= 2 * COMMANDS  # a command in the session: its frame, and at most a window adjustment
