"""Who takes part in a Patroni cluster, where each keeps its files, and the ports it listens on.

Every participant is a host (its ``HostPostgreSQL``: a runner and a placement).
Each database member runs an etcd member and Patroni (which runs PostgreSQL);
the witness runs an etcd member only. When that would make an even etcd (three
database members and a witness), the last database member runs Patroni without
an etcd member of its own (adr/0097).

Ports follow from the PostgreSQL port ``P`` a member uses (the config's port
moved by the host's ``port_shift``), so that members on one machine
(``LocalInstance`` with shifts 0, 1, 2 ...) never collide: Patroni's REST API on
``P + 2000``, etcd's client port on ``P + 3000`` and its peer port on ``P + 4000``
(5432 -> 7432, 8432, 9432). Offsets a thousand apart keep every shift below 1000
clear of another member's port (a rule like etcd's 2379/2380 + shift would give
one member's client port to the next member's peer).

Files live beside the manual path's, never in its place: Patroni's under
``<root>/<version>/<name>/patroni`` (its PGDATA is ``data`` there), etcd's under
``<root>/etcd/<name>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from capabilities.command_runner import CommandRunnerService
from capabilities.postgresql import PgConfig
from topologies.postgres.host import HostPlacement
from topologies.postgres.text import PostgreSQLLayout

REST_OFFSET = 2000
ETCD_CLIENT_OFFSET = 3000
ETCD_PEER_OFFSET = 4000
MAX_PORT_SHIFT = 999
PATRONI_HOME = "/opt/harmony/patroni"
"""The virtualenv Patroni is installed into (readable and executable by ``postgres``)."""
NAMESPACE = "/service/"
"""The etcd key prefix Patroni keeps its clusters under."""


@dataclass(frozen=True)
class Participant:
    """One host of the cluster: a database member or the witness."""

    label: str
    """The topology's label: ``primary``, ``replica``, ``site[0]``, ``witness``."""
    runner: CommandRunnerService
    placement: HostPlacement
    config: PgConfig
    """The cluster's config as this host runs it (its listen addresses and networks applied)."""
    database: bool
    etcd: bool = True
    """Whether an etcd member runs here (every participant, but one database member when the count would be even)."""

    @property
    def name(self) -> str:
        """The label as an identifier: Patroni's member name and etcd's."""
        return re.sub(r"[^a-z0-9_]+", "_", self.label.lower()).strip("_") or "member"

    @property
    def host(self) -> str:
        """The address others reach this participant at (its PostgreSQL, REST API and etcd member)."""
        return self.placement.host(self.config)

    @property
    def machine(self) -> str:
        """Which machine this is: the address it is reached at, or this machine."""
        return self.placement.reached_at or "this machine"

    @property
    def pg_port(self) -> int:
        return self.config.port + self.placement.port_shift

    @property
    def rest_port(self) -> int:
        return self.pg_port + REST_OFFSET

    @property
    def etcd_client_port(self) -> int:
        return self.pg_port + ETCD_CLIENT_OFFSET

    @property
    def etcd_peer_port(self) -> int:
        return self.pg_port + ETCD_PEER_OFFSET

    @property
    def ports(self) -> dict[str, int]:
        """What listens on which port here (for the check that nothing else does)."""
        found = {"etcd client": self.etcd_client_port, "etcd peer": self.etcd_peer_port} if self.etcd else {}
        if self.database:
            found |= {"PostgreSQL": self.pg_port, "Patroni REST API": self.rest_port}
        return found

    # -- files --------------------------------------------------------------

    @property
    def manual_layout(self) -> PostgreSQLLayout:
        """Where the manual leader/follower path keeps this cluster (refused, never adopted)."""
        return PostgreSQLLayout.under(self.placement.root, self.config, port=self.pg_port, host=self.host)

    @property
    def pg(self) -> PostgreSQLLayout:
        """Patroni's PostgreSQL: PGDATA, socket, password file under ``.../patroni``."""
        manual = self.manual_layout
        return PostgreSQLLayout(f"{manual.base_dir}/patroni", manual.port, manual.host, manual.bin_dir)

    @property
    def patroni_dir(self) -> str:
        return self.pg.base_dir

    @property
    def patroni_config(self) -> str:
        return f"{self.patroni_dir}/patroni.yml"

    @property
    def patroni_log_dir(self) -> str:
        return f"{self.patroni_dir}/log"

    @property
    def etcd_dir(self) -> str:
        return f"{self.placement.root.rstrip('/')}/etcd/{self.config.name}"

    @property
    def etcd_data(self) -> str:
        return f"{self.etcd_dir}/data"

    @property
    def etcd_log(self) -> str:
        return f"{self.etcd_dir}/etcd.log"

    # -- services -----------------------------------------------------------

    @property
    def etcd_service(self) -> str:
        """The supervisor's name of this etcd member (unique on a machine holding several)."""
        return f"harmony-etcd-{self.config.name}-{self.etcd_client_port}"

    @property
    def patroni_service(self) -> str:
        return f"harmony-patroni-{self.config.name}-{self.pg_port}"

    @property
    def target(self) -> str:
        """What this participant's changes name."""
        return f"{self.label} ({self.host})"

    @property
    def etcd_client_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.etcd_client_port}"

    @property
    def etcd_peer_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.etcd_peer_port}"

    @property
    def rest_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.rest_port}"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
