"""A PostgreSQL primary on one Debian host and a synchronous streaming replica on another, over SSH.

    HARMONY_PG_HOSTS="10.0.0.11 10.0.0.12" HARMONY_PG_NETWORK=10.0.0.0/24 \\
        python -m harmony_py apply examples/failover_postgres_ssh.py      # deploy; later: rejoin fenced members

Moving the primary is examples/failover_postgres_ssh_promote.py (same
variables), which holds only the switchover or failover.

Each server listens on every address (``*``) and is advertised to the other
host, and to clients, at the address harmony_py reaches its host at; only
HARMONY_PG_NETWORK may log in with a password. PostgreSQL 15 is installed
with apt where missing. Host keys must already be in ~/.ssh/known_hosts.
Generated passwords are kept 0600 in the secret store (``postgresql/app/<user>``);
the superuser connects on a host with ``sudo -u postgres psql -h /var/lib/postgresql/15/app/run``.
"""

import os

from capabilities import PgUser
from harmony_py import Maestro
from harmony_py.scores import PostgreSQLScore, PostgreSQLStatusScore
from topologies import FailoverTopology, LinuxHostTopology

first, second = os.environ.get("HARMONY_PG_HOSTS", "db1 db2").split()

cluster = FailoverTopology[LinuxHostTopology](
    primary=LinuxHostTopology(first, user="root"),
    replica=LinuxHostTopology(second, user="root"),
)

app = PostgreSQLScore(
    "app",
    databases=["app"],
    users=[PgUser("app", databases=("app",))],
    listen_addresses=["*"],
    allowed_networks=[os.environ.get("HARMONY_PG_NETWORK", "10.0.0.0/24")],
)

maestro = Maestro(cluster).add(app, PostgreSQLStatusScore(app))
