"""The text harmony_py writes for PostgreSQL: configuration files, SQL, SCRAM verifiers.

Pure functions, no I/O, so the rules (quoting, what is managed) are tested
without a server. Passwords reach a server only as SCRAM verifiers, and the
verifier is never put in a change, a plan or an error message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from capabilities.postgresql import PgConfig
from harmony_py.scores.pg_server_settings import server_tls_settings

REPLICATION_CONF = "harmony-replication.conf"
SCRAM_ITERATIONS = 4096
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_REWIND_FUNCTIONS = (
    "pg_catalog.pg_ls_dir(text, boolean, boolean)",
    "pg_catalog.pg_stat_file(text, boolean)",
    "pg_catalog.pg_read_binary_file(text)",
    "pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)",
)


def is_identifier(name: str) -> bool:
    """A lower-case SQL identifier that needs no quoting anywhere (role, database, slot)."""
    return bool(_IDENTIFIER.match(name))


def conf_value(value: str) -> str:
    """A postgresql.conf string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class PostgreSQLLayout:
    """Where one cluster lives on a host, and where others reach it.

    Everything of the cluster is under ``base_dir``: ``data`` (PGDATA), ``run``
    (the Unix socket), ``server.log``, the replication password file and the
    fence marker. Keeping them outside PGDATA means ``pg_basebackup`` and
    ``pg_rewind``, which replace PGDATA's content, never touch them.
    """

    base_dir: str
    port: int
    host: str
    bin_dir: str

    @classmethod
    def under(cls, root: str, config: PgConfig, *, port: int | None = None, host: str | None = None) -> PostgreSQLLayout:
        return cls(
            base_dir=f"{root.rstrip('/')}/{config.version}/{config.name}",
            port=config.port if port is None else port,
            host=host if host is not None else reachable_host(config),
            bin_dir=f"/usr/lib/postgresql/{config.version}/bin",
        )

    @property
    def data_dir(self) -> str:
        return f"{self.base_dir}/data"

    @property
    def socket_dir(self) -> str:
        return f"{self.base_dir}/run"

    @property
    def log_file(self) -> str:
        return f"{self.base_dir}/server.log"

    @property
    def passfile(self) -> str:
        return f"{self.base_dir}/replication.pgpass"

    @property
    def fence_file(self) -> str:
        return f"{self.base_dir}/FENCED"

    # TLS files (adr/0095): beside PGDATA, so pg_basebackup and pg_rewind never copy one member's over another's.
    @property
    def server_cert(self) -> str:
        return f"{self.base_dir}/server.crt"

    @property
    def server_key(self) -> str:
        return f"{self.base_dir}/server.key"

    @property
    def root_cert(self) -> str:
        return f"{self.base_dir}/root.crt"

    @property
    def client_cert(self) -> str:
        return f"{self.base_dir}/replication.crt"

    @property
    def client_key(self) -> str:
        return f"{self.base_dir}/replication.key"

    @property
    def public_root_cert(self) -> str:
        """The CA certificate where every user of the host can read it (the cluster's own directory is 0700)."""
        return f"{self.base_dir}.root.crt"

    def binary(self, name: str) -> str:
        return f"{self.bin_dir}/{name}"


def reachable_host(config: PgConfig) -> str:
    for address in config.listen_addresses:
        if address not in ("*", "0.0.0.0", "::"):
            return address
    return "127.0.0.1"


def postgresql_conf(config: PgConfig, layout: PostgreSQLLayout, *, tls: bool = False) -> str:
    """The whole postgresql.conf: the same on every member except port and paths."""
    lines = [
        f"# Managed by harmony_py for cluster {config.name}: edits are reverted.",
        f"# Role-specific settings (primary or replica) are in {REPLICATION_CONF}.",
        f"listen_addresses = {conf_value(','.join(config.listen_addresses))}",
        f"port = {layout.port}",
        f"unix_socket_directories = {conf_value(layout.socket_dir)}",
        "password_encryption = 'scram-sha-256'",
        "wal_level = 'replica'",
        # pg_rewind needs hint bits in WAL to rewind a former primary.
        "wal_log_hints = on",
        "hot_standby = on",
        "max_wal_senders = 10",
        "max_replication_slots = 10",
    ]
    if tls:
        # All reloadable: a rotated certificate takes effect with pg_ctl reload.
        settings = server_tls_settings(layout.server_cert, layout.server_key, layout.root_cert)
        lines += [f"{key} = {value if value == 'on' else conf_value(value)}" for key, value in settings.items()]
    lines += [f"{key} = {conf_value(value)}" for key, value in sorted(config.settings.items())]
    lines.append(f"include_if_exists = {conf_value(REPLICATION_CONF)}")
    return "\n".join(lines) + "\n"


def pg_hba_conf(config: PgConfig, *, tls: bool = False) -> str:
    """Who may connect how. With ``tls``: only over TLS; the replication role by its client certificate
    (no password anywhere), every other role with its password (scram-sha-256)."""
    rows = [
        "# Managed by harmony_py: edits are reverted.",
        "local all postgres peer",
        "local all all scram-sha-256",
    ]
    if tls:
        for network in config.allowed_networks:
            rows.append(f"hostssl replication {config.replication_user} {network} cert")
            # pg_rewind connects to a database, not for replication.
            rows.append(f"hostssl all {config.replication_user} {network} cert")
            rows.append(f"hostssl all all {network} scram-sha-256")
        return "\n".join(rows) + "\n"
    for network in config.allowed_networks:
        rows.append(f"host replication {config.replication_user} {network} scram-sha-256")
        rows.append(f"host all all {network} scram-sha-256")
    return "\n".join(rows) + "\n"


def sync_standby_names(standbys: Iterable[str]) -> str:
    """The ``synchronous_standby_names`` value making every commit wait for all ``standbys`` to flush it (adr/0022)."""
    names = tuple(standbys)
    return f"FIRST {len(names)} ({', '.join(sql_ident(name) for name in names)})" if names else ""


def primary_replication_conf(standbys: Iterable[str]) -> str:
    return (
        "# Managed by harmony_py: this server is the primary.\n"
        f"synchronous_standby_names = {conf_value(sync_standby_names(standbys))}\n"
    )


def replica_replication_conf(
    host: str, port: int, user: str, passfile: str, name: str, slot: str, *, tls: PostgreSQLLayout | None = None
) -> str:
    primary = replication_conninfo(host, port, user, passfile, tls=tls, application_name=name)
    return (
        "# Managed by harmony_py: this server is a replica.\n"
        f"primary_conninfo = {conf_value(primary)}\n"
        f"primary_slot_name = {conf_value(slot)}\n"
        "synchronous_standby_names = ''\n"
    )


def replication_conninfo(
    host: str, port: int, user: str, passfile: str, *, tls: PostgreSQLLayout | None = None, **more: str
) -> str:
    """How a server or a program reaches another server of the cluster, relying on no default.

    libpq fills every key left out from the environment or a service file;
    the ones that change how a connection is made are therefore all spelled
    out: no SSL required (a cluster's servers have none unless a setting adds
    it, and then ``prefer`` uses it), no GSSAPI attempt, and a bounded wait.
    With ``tls`` (this member's layout): TLS verifying the server's certificate
    and name against the cluster's authority, the replication role's client
    certificate instead of a password.
    """
    if tls is not None:
        return conninfo(
            host=host, port=str(port), user=user, sslmode="verify-full", sslrootcert=tls.root_cert,
            sslcert=tls.client_cert, sslkey=tls.client_key, gssencmode="disable", connect_timeout="10", **more,
        )  # fmt: skip
    return conninfo(
        host=host, port=str(port), user=user, passfile=passfile,
        sslmode="prefer", gssencmode="disable", connect_timeout="10", **more,
    )  # fmt: skip


def conninfo(**fields: str) -> str:
    return " ".join(f"{key}={_conninfo_value(value)}" for key, value in fields.items())


def _conninfo_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pgpass_line(user: str, password: str) -> str:
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"*:*:*:{user}:{escaped}\n"


def sync_names(setting: str) -> tuple[str, ...]:
    """The standby names in a ``synchronous_standby_names`` value."""
    inner = setting
    match = re.match(r"^\s*(?:FIRST|ANY)?\s*\d*\s*\((.*)\)\s*$", setting, re.IGNORECASE)
    if match:
        inner = match.group(1)
    names = []
    for part in inner.split(","):
        part = part.strip()
        if part.startswith('"') and part.endswith('"'):
            part = part[1:-1].replace('""', '"')
        if part:
            names.append(part)
    return tuple(names)


# -- SCRAM -----------------------------------------------------------------


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores, so the password itself never reaches the server."""
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored_key).decode()}:{b64(server_key).decode()}"


def scram_matches(password: str, verifier: str | None) -> bool:
    """Whether ``verifier`` (from pg_authid) was made from ``password``."""
    if not verifier:
        return False
    match = re.match(r"^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$", verifier)
    if not match:
        return False
    iterations, salt = int(match.group(1)), base64.b64decode(match.group(2))
    return hmac.compare_digest(scram_verifier(password, salt=salt, iterations=iterations), verifier)


# -- SQL -------------------------------------------------------------------

STATUS_SQL = """
SELECT json_build_object(
  'recovery', pg_is_in_recovery(),
  'lsn', CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text
              ELSE pg_current_wal_lsn()::text END,
  'lag', CASE WHEN pg_is_in_recovery()
              THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) END,
  'timeline', CASE WHEN pg_is_in_recovery()
              THEN (SELECT received_tli FROM pg_stat_wal_receiver)
              ELSE (SELECT timeline_id FROM pg_control_checkpoint()) END,
  'sync_names', current_setting('synchronous_standby_names'),
  'upstream', (SELECT sender_host || ':' || sender_port FROM pg_stat_wal_receiver
               WHERE status = 'streaming'),
  'slots', (SELECT coalesce(json_agg(slot_name ORDER BY slot_name), '[]'::json)
            FROM pg_replication_slots WHERE slot_type = 'physical'),
  'standbys', (SELECT coalesce(json_agg(json_build_object(
                  'name', application_name, 'state', state, 'sync_state', sync_state,
                  'lag', CASE WHEN pg_is_in_recovery() THEN NULL
                              ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) END)
                  ORDER BY application_name), '[]'::json)
               FROM pg_stat_replication)
)
"""


def status_and_facts_sql(replication_user: str) -> str:
    """STATUS_SQL and facts_sql in one query: one program for what a converge observes first."""
    return (
        f"SELECT json_build_object('status', ({STATUS_SQL.strip()}), "
        f"'facts', ({facts_sql(replication_user).strip()}))"
    )


def facts_sql(replication_user: str) -> str:
    """Roles (with verifiers), databases and their owners, CREATE grants, and pg_rewind grants."""
    rewind = " AND ".join(
        f"has_function_privilege(r.oid, {sql_literal(function)}, 'EXECUTE')" for function in _REWIND_FUNCTIONS
    )
    return f"""
SELECT json_build_object(
  'roles', (SELECT coalesce(json_object_agg(rolname, json_build_object(
              'verifier', rolpassword, 'login', rolcanlogin, 'replication', rolreplication)), '{{}}'::json)
            FROM pg_authid),
  'databases', (SELECT coalesce(json_object_agg(d.datname, r.rolname), '{{}}'::json)
                FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba),
  'grants', (SELECT coalesce(json_agg(r.rolname || '/' || d.datname), '[]'::json)
             FROM pg_roles r CROSS JOIN pg_database d
             WHERE r.rolcanlogin AND NOT d.datistemplate
               AND has_database_privilege(r.oid, d.oid, 'CREATE')),
  'rewind_grants', (SELECT {rewind} FROM pg_roles r WHERE r.rolname = {sql_literal(replication_user)})
)
"""


def replication_role_sql(user: str, verifier: str, *, exists: bool) -> str:
    verb = f"ALTER ROLE {sql_ident(user)}" if exists else f"CREATE ROLE {sql_ident(user)}"
    statements = [f"{verb} LOGIN REPLICATION PASSWORD {sql_literal(verifier)};"]
    statements += [
        f"GRANT EXECUTE ON FUNCTION {function} TO {sql_ident(user)};" for function in _REWIND_FUNCTIONS
    ]
    return "\n".join(statements)


def login_role_sql(user: str, verifier: str, *, exists: bool) -> str:
    verb = f"ALTER ROLE {sql_ident(user)}" if exists else f"CREATE ROLE {sql_ident(user)}"
    return f"{verb} LOGIN PASSWORD {sql_literal(verifier)};"


def slots_sql(keep: Iterable[str]) -> str:
    """Create the slots in ``keep`` that are missing; drop inactive slots not in it."""
    names = tuple(keep)
    wanted = "ARRAY[" + ", ".join(sql_literal(name) for name in names) + "]::text[]"
    return f"""
SELECT pg_create_physical_replication_slot(name, true)
  FROM unnest({wanted}) AS name
 WHERE name NOT IN (SELECT slot_name FROM pg_replication_slots);
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
 WHERE NOT active AND slot_type = 'physical' AND NOT (slot_name = ANY({wanted}));
"""


def mask_verifiers(text: str) -> str:
    """Hide anything that looks like a SCRAM verifier in an error message."""
    return re.sub(r"SCRAM-SHA-256\$[^'\s]*", "SCRAM-SHA-256$********", text)


WRITE_PROBE_SQL = "SELECT pg_logical_emit_message(true, 'harmony_py', 'write probe') IS NOT NULL"
"""A transaction that writes WAL and nothing else: its commit waits for the synchronous standbys as a client's does.

A transactional message takes a transaction ID and logs a record, the two
things that make a commit wait (an ID alone logs nothing, and its commit
does not wait); it touches no table, and only logical decoding ever reads it.
"""

