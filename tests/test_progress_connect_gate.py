"""The connect gate's window per server (adr/0107): it shrinks when a server drops handshakes, grows back, and never strands a waiter.

The SSH case with a real sshd (MaxStartups 2, many members) is in
tests/ssh/test_progress_connect_backoff.py; these drive the gate alone.
"""

from __future__ import annotations

import anyio

from topologies.host.ssh.connect_gate import SERVER_WINDOW, Attempt, ConnectGate, _ServerWindow

HOST, PORT = "10.0.0.1", 22


def test_drops_of_one_round_halve_the_window_once_and_it_grows_back_by_one_per_window_of_successes() -> None:
    async def scenario() -> tuple[int, list[bool], list[int]]:
        gate = ConnectGate()
        ready = anyio.Event()
        attempts: list[Attempt] = []

        async def handshake(dropped: bool) -> None:
            async with gate.handshake(HOST, PORT) as attempt:
                attempts.append(attempt)
                await ready.wait()
                attempt.dropped = dropped

        async with anyio.create_task_group() as tasks:
            for n in range(SERVER_WINDOW):  # a full window, six of them dropped by the server
                tasks.start_soon(handshake, n >= 2)
            await _settle()
            ready.set()
        halved = gate.window_size(HOST, PORT)
        sizes: list[int] = []
        for _ in range(4 + 5 + 6):
            async with gate.handshake(HOST, PORT):
                pass
            sizes.append(gate.window_size(HOST, PORT))
        return halved, [attempt.shed for attempt in attempts], sizes

    halved, shed, sizes = anyio.run(scenario)
    assert halved == SERVER_WINDOW // 2
    # Those dropped after the server let two through were shed by a server that is up.
    assert shed.count(True) == SERVER_WINDOW - 2
    assert sizes == [4, 4, 4, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 7]


def test_a_drop_by_a_server_that_never_let_one_through_is_not_shedding() -> None:
    async def scenario() -> bool:
        gate = ConnectGate()
        async with gate.handshake(HOST, PORT) as attempt:
            attempt.dropped = True
        return attempt.shed

    assert anyio.run(scenario) is False


def test_a_waiter_woken_then_cancelled_passes_its_slot_on() -> None:
    async def scenario() -> tuple[int, bool]:
        window = _ServerWindow(size=1, in_flight=1)
        first_scope = anyio.CancelScope()
        second_in = anyio.Event()

        async def first() -> None:
            with first_scope:
                await window.enter()

        async def second() -> None:
            await window.enter()
            second_in.set()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(first)
            await _settle()
            tasks.start_soon(second)
            await _settle()
            assert len(window.waiting) == 2
            # The first waiter is cancelled, and in the same turn the slot frees and it is woken.
            first_scope.cancel()
            window.in_flight = 0
            window.waiting.popleft().set()
            await _settle()
            tasks.cancel_scope.cancel()  # a stranded second waiter fails the assertion below, not the run
        return window.in_flight, second_in.is_set()

    assert anyio.run(scenario) == (1, True)


async def _settle() -> None:
    """Let every runnable task run until it waits (a few loop turns, no clock)."""
    for _ in range(20):
        await anyio.sleep(0)
