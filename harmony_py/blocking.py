"""Plan and apply from code that runs no event loop: ops scripts, cron jobs, a REPL.

``run_plan(maestro)`` is ``await maestro.plan()`` inside ``async with maestro``,
run on an event loop of its own: it returns the :class:`RunReport` once the
connections the topologies opened are closed again. ``run_apply`` is the same
for ``maestro.apply()``. Each call is one run: the next call connects again.

Inside async code, use the maestro directly (``async with maestro: await
maestro.plan()``); calling these from a running event loop is refused.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio

from .errors import HarmonyError
from .events import EventHandler, ignore_event
from .maestro import Maestro
from .report import RunReport

__all__ = ["run_apply", "run_plan"]


def run_plan(maestro: Maestro[Any], on_event: EventHandler = ignore_event) -> RunReport:
    """Plan on an event loop of its own, then close the topologies' connections.

    What :meth:`Maestro.plan` reports; it mutates nothing. ``on_event``
    receives the same events the command line renders.
    """
    _refuse_inside_event_loop("run_plan", "await maestro.plan()")

    async def plan() -> RunReport:
        async with maestro:
            return await maestro.plan(on_event)

    return anyio.run(plan)


def run_apply(
    maestro: Maestro[Any], on_event: EventHandler = ignore_event, *, plan: RunReport | None = None
) -> RunReport:
    """Apply on an event loop of its own, then close the topologies' connections.

    What :meth:`Maestro.apply` reports. It applies without asking: a script
    that wants a person's confirmation shows ``run_plan``'s report first.
    ``plan``, for a group of hosts, is the plan ``run_plan`` returned:
    members it found failed or unchanged are not contacted again.
    """
    _refuse_inside_event_loop("run_apply", "await maestro.apply()")

    async def apply() -> RunReport:
        async with maestro:
            return await maestro.apply(on_event, plan=plan)

    return anyio.run(apply)


def _refuse_inside_event_loop(function: str, instead: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise HarmonyError(
        f"{function}() runs an event loop of its own and cannot be called from async code; "
        f"there, use `async with maestro: {instead}`"
    )
