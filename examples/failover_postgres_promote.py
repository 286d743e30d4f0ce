"""Make another member of examples/failover_postgres.py the primary: a switchover, or a failover.

    HARMONY_PG_PRIMARY=replica python -m harmony_py apply examples/failover_postgres_promote.py    # switchover
    HARMONY_PG_FAILOVER=1 HARMONY_PG_PRIMARY=replica \\
        python -m harmony_py apply examples/failover_postgres_promote.py                          # failover

It holds only the move (and a status report), never the cluster's
PostgreSQLScore: a deploy would start a primary that was just killed. A
failover fences every member that is not a streaming replica; applying the
deploy file afterwards rejoins them as replicas (pg_rewind). Each move
reports success only once the new primary took a write and the members
following it stream from it.
"""

import os

from failover_postgres import app, cluster

from harmony_py import Maestro
from harmony_py.scores import PostgreSQLFailoverScore, PostgreSQLStatusScore, PostgreSQLSwitchoverScore

wanted_primary = os.environ.get("HARMONY_PG_PRIMARY", "replica")
move = PostgreSQLFailoverScore if os.environ.get("HARMONY_PG_FAILOVER") else PostgreSQLSwitchoverScore

maestro = Maestro(cluster).add(move(app, to=wanted_primary), PostgreSQLStatusScore(app))
