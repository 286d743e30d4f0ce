"""How a command that is cancelled or timed out is stopped: its whole process group, TERM then KILL.

A command is started as the leader of a process group of its own, so that
everything it starts (``sh -c 'sleep 30; touch x'`` starts ``sleep``) can be
stopped with it; stopping only the program harmony_py started would leave its
children running next to the re-run. A program that detaches on purpose (a
daemon calling ``setsid``) leaves the group and is not touched.
"""

from __future__ import annotations

import contextlib
import os
import signal

import anyio
import anyio.abc

KILL_GRACE_S = 2.0
"""After SIGTERM, this long to exit before SIGKILL."""


async def stop_local_group(process: anyio.abc.Process) -> None:
    """SIGTERM ``process``'s group, SIGKILL what is left after the grace; waits for ``process`` itself."""
    with anyio.CancelScope(shield=True):
        _signal_group(process.pid, signal.SIGTERM)
        with anyio.move_on_after(KILL_GRACE_S):
            await process.wait()
        # Members that outlived the leader, or ignored SIGTERM.
        _signal_group(process.pid, signal.SIGKILL)
        await process.wait()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
