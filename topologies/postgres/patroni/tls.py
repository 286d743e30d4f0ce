"""TLS under the engine: the cluster's certificates on each member, and Patroni's configuration for them (adr/0102).

The certificates are the manual path's (adr/0095): one authority per cluster, a
server certificate per member, the replication role's client certificate, issued
by :class:`~topologies.postgres.tls.ClusterAuthority` and placed 0600 for
``postgres`` by the same code (:meth:`HostPostgreSQLServer.tls_files`), beside
Patroni's PGDATA so that neither ``pg_basebackup`` nor ``pg_rewind`` copies one
member's over another's. Patroni's file then carries:

- ``postgresql.parameters``: ``ssl`` and the three files (all reloadable);
- ``postgresql.authentication.replication``: the role, ``sslmode=verify-full``
  and the certificate files, no password. Patroni builds every replication
  connection from it (a replica's ``primary_conninfo``, ``pg_basebackup``, the
  timeline checks before a rewind); ``authentication.rewind`` is the same role
  and certificate, as on the manual path (``pg_rewind`` logs in to a database,
  ``hostssl all <role> ... cert``);
- ``pg_hba``: the manual path's TLS rules (``hostssl ... cert`` for the role,
  ``hostssl ... scram-sha-256`` for everyone else, no plain ``host``), and for
  Patroni's own replication connection over the socket (``use_unix_socket_repl``)
  ``peer`` mapped from the ``postgres`` user to the role (``pg_ident``): no
  password on any replication path.

A rotated certificate is loaded by a reload through Patroni (its SIGHUP reloads
PostgreSQL, which rereads the files); the walk waits until PostgreSQL shows it
reloaded (``pg_conf_load_time()``), so an apply that reports the rotation done
has observed it.
"""

from __future__ import annotations

from typing import Any

import anyio

from capabilities.postgresql import PgConfig
from harmony_py.hostops.files import OwnedFile
from harmony_py.scores.pg_server_settings import server_tls_settings
from topologies.errors import HostPostgreSQLError
from topologies.postgres.server import HostPostgreSQLServer
from topologies.postgres.text import PostgreSQLLayout

IDENT_MAP = "harmony_replication"
"""The ``pg_ident`` map letting the ``postgres`` user (Patroni) in as the replication role over the socket."""
RELOAD_S = 30.0
"""How long PostgreSQL may take to show the reload Patroni was asked for."""


def ssl_parameters(pg: PostgreSQLLayout) -> dict[str, str]:
    """The member's server side of TLS (every one reloadable: a rotation needs no restart)."""
    return server_tls_settings(pg.server_cert, pg.server_key, pg.root_cert)


def certificate_login(config: PgConfig, pg: PostgreSQLLayout) -> dict[str, Any]:
    """Patroni's ``authentication`` entry for the replication role: its certificate, verifying the server's."""
    return {
        "username": config.replication_user,
        "sslmode": "verify-full",
        "sslrootcert": pg.root_cert,
        "sslcert": pg.client_cert,
        "sslkey": pg.client_key,
    }


def local_replication_rule(config: PgConfig) -> str:
    """Patroni's own replication connection to its server over the socket, as ``postgres`` mapped to the role."""
    return f"local replication {config.replication_user} peer map={IDENT_MAP}"


def ident_lines(config: PgConfig) -> list[str]:
    return [f"{IDENT_MAP} postgres {config.replication_user}"]


async def certificate_files(server: HostPostgreSQLServer) -> list[OwnedFile]:
    """The member's certificates and keys (0600, postgres), and the CA certificate for clients (0644)."""
    if not server.tls:
        return []
    return [*await server.owned(server.tls_files()), *await server.owned(server.public_files(), mode=0o644)]


async def conf_load_time(server: HostPostgreSQLServer) -> str | None:
    """When PostgreSQL last read its configuration, else None when it does not answer."""
    try:
        return (await server.sql("SELECT pg_conf_load_time()", what="reading the configuration's load time")).strip()
    except HostPostgreSQLError:
        return None


async def await_reloaded(server: HostPostgreSQLServer, before: str, where: str) -> None:
    """Return once PostgreSQL has reread its configuration since ``before``; else fail saying so."""
    with anyio.move_on_after(RELOAD_S):
        while (await conf_load_time(server)) in (before, None):
            await anyio.sleep(0.2)
        return
    raise HostPostgreSQLError(
        f"{where}: PostgreSQL did not reload within {RELOAD_S:g} s after Patroni was asked to "
        "(the new certificates are placed but not loaded yet); Patroni's log says why"
    )
