"""Install the HA engine (Debian's etcd, Patroni in /opt/harmony/patroni) on this machine.

The same code installs it on any host a PostgreSQLScore with a witness runs on
(topologies/postgres/patroni/install.py); scripts/test.sh runs this first, so
that test hosts in network namespaces, which reach no package index, find it
present. Prints what it installs; nothing when all of it is there.
"""

from __future__ import annotations

import sys

import anyio

from harmony_py.errors import HarmonyError
from topologies.host.local_runner import LocalCommandRunner
from topologies.postgres.patroni.install import install, plan_install


async def main() -> None:
    runner = LocalCommandRunner("localhost")
    for change in await plan_install(runner, "localhost"):
        print(change.summary)
    await install(runner, "localhost")


if __name__ == "__main__":
    try:
        anyio.run(main)
    except HarmonyError as error:
        print(error, file=sys.stderr)
        raise SystemExit(1) from None
