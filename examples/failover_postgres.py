"""A PostgreSQL primary and a synchronous streaming replica: the cluster's deploy file.

Both members are this machine (two directories, two ports), so it runs
anywhere PostgreSQL 15 is installed; replace them with two LinuxHostTopology
hosts for real machines: the scores do not change.

    python -m harmony_py plan  examples/failover_postgres.py
    python -m harmony_py apply examples/failover_postgres.py        # deploy; later: rejoin fenced members

Moving the primary is another file, examples/failover_postgres_promote.py,
holding only the switchover or failover: applying this deploy file while the
primary is down would start it again.

Generated passwords are kept 0600 in the secret store, one file per user:
``postgresql/app/<user>``; the superuser ``postgres`` has none and connects
on the server's machine through its socket:
``sudo -u postgres psql -h $HARMONY_PG_ROOT/a/15/app/run -p 25432``.
"""

import os

from capabilities import PgUser
from harmony_py import Maestro
from harmony_py.scores import PostgreSQLScore, PostgreSQLStatusScore
from topologies import FailoverTopology, LocalInstance

ROOT = os.environ.get("HARMONY_PG_ROOT", "/var/lib/postgresql/harmony-example")

cluster = FailoverTopology[LocalInstance](
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

maestro = Maestro(cluster).add(app, PostgreSQLStatusScore(app))
