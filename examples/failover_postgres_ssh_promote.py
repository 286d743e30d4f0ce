"""Make another host of examples/failover_postgres_ssh.py the primary: a switchover, or a failover.

    HARMONY_PG_HOSTS="10.0.0.11 10.0.0.12" HARMONY_PG_PRIMARY=replica \\
        python -m harmony_py apply examples/failover_postgres_ssh_promote.py      # switchover
    HARMONY_PG_HOSTS="10.0.0.11 10.0.0.12" HARMONY_PG_FAILOVER=1 HARMONY_PG_PRIMARY=replica \\
        python -m harmony_py apply examples/failover_postgres_ssh_promote.py      # failover

Only the move and a status report: never the cluster's PostgreSQLScore, which
would start a primary that was just killed. Apply the deploy file afterwards
to rejoin fenced members as replicas.
"""

import os

from failover_postgres_ssh import app, cluster

from harmony_py import Maestro
from harmony_py.scores import PostgreSQLFailoverScore, PostgreSQLStatusScore, PostgreSQLSwitchoverScore

wanted_primary = os.environ.get("HARMONY_PG_PRIMARY", "replica")
move = PostgreSQLFailoverScore if os.environ.get("HARMONY_PG_FAILOVER") else PostgreSQLSwitchoverScore

maestro = Maestro(cluster).add(move(app, to=wanted_primary), PostgreSQLStatusScore(app))
