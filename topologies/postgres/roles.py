"""What a PostgreSQL server on a host and one on Kubernetes share: roles, passwords, replication state.

The two differ only in how they run ``psql`` (a program on the host, an exec
into the Pod); what they ask and how they read the answers is here, once:

- :func:`password_of`: a user's password, given in the score or generated once and stored;
- :func:`role_changes`: the changes and SQL statements that converge roles, databases and grants;
- :func:`state_from_status`: a server's replication state from its answer to ``STATUS_SQL``;
- :func:`slot_for`: the replication slot a follower streams through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from capabilities.postgresql import PgConfig, ReplicationRole, ReplicationState, StandbyInfo
from harmony_py.values import Change, ChangeAction, Secret
from topologies.secret_store import SecretStore

from .text import login_role_sql, replication_role_sql, scram_matches, scram_verifier, sql_ident, sync_names


def password_of(config: PgConfig, store: SecretStore, user: str) -> Secret:
    """The password ``user`` has in cluster ``config``: the one given in the score, else generated once and stored."""
    for wanted in config.users:
        if wanted.name == user and wanted.password is not None:
            return wanted.password
    return store.get_or_create(f"postgresql/{config.name}/{user}")


NO_ROLES: dict[str, Any] = {"roles": {}, "databases": {}, "grants": [], "rewind_grants": False}
"""The facts of a server that has none of a cluster's roles and databases yet (what a new one will get)."""


def role_changes(
    config: PgConfig, password_of: Callable[[str], Secret], facts: Mapping[str, Any], target: str
) -> tuple[list[Change], list[str]]:
    """What converges a primary's roles, databases and grants from ``facts`` (facts_sql's answer):
    the changes to report and the SQL statements making them (each string runs on its own).

    Passwords go as SCRAM verifiers (adr/0023); the statements hold verifiers, the changes nothing secret.
    Shared by the servers on hosts and on Kubernetes, which only differ in how they run psql.
    """
    roles: Mapping[str, Mapping[str, Any]] = facts["roles"]
    changes: list[Change] = []
    statements: list[str] = []

    repl = config.replication_user
    found = roles.get(repl)
    password = password_of(repl).reveal()
    if found is None or not found["replication"] or not found["login"] or not facts["rewind_grants"] \
            or not scram_matches(password, found["verifier"]):  # fmt: skip
        verb = "create" if found is None else "update"
        changes.append(Change(ChangeAction.CREATE if found is None else ChangeAction.UPDATE, target,
                              f"{verb} replication role {repl}"))  # fmt: skip
        statements.append(replication_role_sql(repl, scram_verifier(password), exists=found is not None))

    for user in config.users:
        found = roles.get(user.name)
        password = password_of(user.name).reveal()
        if found is None:
            changes.append(Change(ChangeAction.CREATE, target, f"create role {user.name}"))
        elif not found["login"] or not scram_matches(password, found["verifier"]):
            changes.append(Change(ChangeAction.UPDATE, target, f"update role {user.name} (login, password)"))
        else:
            continue
        statements.append(login_role_sql(user.name, scram_verifier(password), exists=found is not None))

    databases: Mapping[str, str] = facts["databases"]
    for database in all_databases(config):
        owner = config.owner_of(database)
        if database not in databases:
            changes.append(Change(ChangeAction.CREATE, target, f"create database {database} owned by {owner}"))
            statements.append(f"CREATE DATABASE {sql_ident(database)} OWNER {sql_ident(owner)};")
        elif databases[database] != owner:
            changes.append(Change(ChangeAction.UPDATE, target, f"owner of database {database} -> {owner}"))
            statements.append(f"ALTER DATABASE {sql_ident(database)} OWNER TO {sql_ident(owner)};")

    grants = set(facts["grants"])
    for user in config.users:
        for database in user.databases:
            # An owner's rights pass to the next owner: a former owner needs the grant after.
            granted = f"{user.name}/{database}" in grants and databases.get(database) != user.name
            if not granted and config.owner_of(database) != user.name:
                changes.append(Change(ChangeAction.UPDATE, target, f"grant {user.name} all on database {database}"))
                statements.append(f"GRANT ALL ON DATABASE {sql_ident(database)} TO {sql_ident(user.name)};")
    return changes, statements


def all_databases(config: PgConfig) -> list[str]:
    """The cluster's databases, then those only its users name, in order, once each."""
    names = list(config.databases)
    for user in config.users:
        names += [d for d in user.databases if d not in names]
    return names


def state_from_status(found: Any, *, fenced: bool = False) -> ReplicationState:
    """A server's state from its answer to STATUS_SQL (on a host or in a Pod)."""
    standbys = tuple(
        StandbyInfo(s["name"], s["state"], s["sync_state"], _int(s["lag"])) for s in found["standbys"]
    )
    role = ReplicationRole.REPLICA if found["recovery"] else ReplicationRole.PRIMARY
    lag = _int(found["lag"])
    return ReplicationState(
        role=role,
        upstream=found["upstream"],
        # Before anything is streamed, the receive position lags the replay position.
        replay_lag_bytes=None if lag is None else max(lag, 0),
        sync_standbys=sync_names(found["sync_names"]) if role is ReplicationRole.PRIMARY else (),
        standbys=standbys,
        lsn=found["lsn"],
        timeline=found["timeline"],
        fenced=fenced,
        slots=tuple(found.get("slots") or ()),
    )


def slot_for(name: str) -> str:
    return f"harmony_{name}"


def _int(value: Any) -> int | None:
    return None if value is None else int(float(value))
