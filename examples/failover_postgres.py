"""A PostgreSQL primary and a synchronous streaming replica, then a switchover.

Both members are this machine (two directories, two ports), so it runs
anywhere PostgreSQL 15 is installed; replace them with two LinuxHostTopology
hosts for real machines: the scores do not change.

    python -m harmony_py plan  examples/failover_postgres.py
    python -m harmony_py apply examples/failover_postgres.py
    HARMONY_PG_PRIMARY=replica python -m harmony_py apply examples/failover_postgres.py   # switchover
    HARMONY_PG_FAILOVER=1 HARMONY_PG_PRIMARY=primary python -m harmony_py apply examples/failover_postgres.py

Generated passwords are kept 0600 in .harmony/secrets/ (never printed).
"""

import os

from capabilities import PgUser
from harmony_py import Maestro
from harmony_py.scores import (
    PostgreSQLFailoverScore,
    PostgreSQLScore,
    PostgreSQLStatusScore,
    PostgreSQLSwitchoverScore,
)
from topologies import FailoverTopology, LocalhostTopology
from topologies.local_instance import LocalInstance

ROOT = os.environ.get("HARMONY_PG_ROOT", "/var/lib/postgresql/harmony-example")

cluster = FailoverTopology[LocalhostTopology](
    primary=LocalInstance("pg-a", root=f"{ROOT}/a"),
    replica=LocalInstance("pg-b", root=f"{ROOT}/b", port_shift=1),
)

app = PostgreSQLScore(
    "app",
    port=int(os.environ.get("HARMONY_PG_PORT", "25432")),
    databases=["app"],
    users=[PgUser("app", databases=("app",))],
    settings={"max_connections": "50"},
)

wanted_primary = os.environ.get("HARMONY_PG_PRIMARY", "primary")
move = PostgreSQLFailoverScore if os.environ.get("HARMONY_PG_FAILOVER") else PostgreSQLSwitchoverScore

maestro = Maestro(cluster).add(app, move(app, to=wanted_primary), PostgreSQLStatusScore(app))
