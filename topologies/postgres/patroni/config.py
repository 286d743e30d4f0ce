"""Patroni's configuration file for one member, and the timings it is held to.

Timings (adr/0082): ``ttl`` 20 s, ``loop_wait`` 1 s, ``retry_timeout`` 3 s, the
documented minimums, checked here with Patroni's rule
``loop_wait + 2 * retry_timeout <= ttl`` (older Patroni accepted anything). An
isolated leader stops writing once it cannot renew its key within
``retry_timeout``; nobody else can take the key before ``ttl`` has passed since
its last renewal: the gap between the two is the split-brain margin.

Synchronous replication is on (an acknowledged commit is on two members) and
not strict: with two members the survivor of a failover keeps taking writes
alone until the other returns (strict would hang every commit meanwhile).

The file holds the REST API's and etcd's passwords and the replication
passwords: it is written 0600 for ``postgres`` and handled as a :class:`Secret`
(a plan shows that it changes, never its content).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from capabilities.postgresql import PgConfig
from harmony_py.errors import ScoreValueError
from harmony_py.values import Secret
from topologies.postgres.text import pg_hba_conf

from .layout import NAMESPACE, Participant
from .tls import certificate_login, ident_lines, local_replication_rule, ssl_parameters

REWIND_USER = "harmony_rewind"
"""The role Patroni creates for pg_rewind (execute rights on the functions it needs, no more)."""
API_USER = "patroni"
ETCD_PATRONI_USER = "patroni"


@dataclass(frozen=True)
class Timings:
    ttl: int = 20
    loop_wait: int = 1
    retry_timeout: int = 3

    def __post_init__(self) -> None:
        if self.ttl < 20 or self.loop_wait < 1 or self.retry_timeout < 3:
            raise ScoreValueError(
                f"Patroni timings ttl={self.ttl}, loop_wait={self.loop_wait}, retry_timeout={self.retry_timeout} are "
                "below Patroni's minimums (ttl 20, loop_wait 1, retry_timeout 3)"
            )
        if self.loop_wait + 2 * self.retry_timeout > self.ttl:
            raise ScoreValueError(
                f"Patroni timings break loop_wait + 2 * retry_timeout <= ttl ({self.loop_wait} + 2 * "
                f"{self.retry_timeout} > {self.ttl}): a leader cut off could still write after another took over"
            )


@dataclass(frozen=True)
class Credentials:
    """The generated passwords one cluster's engine uses (from the secret store)."""

    replication: Secret
    rewind: Secret
    rest_api: Secret
    etcd_patroni: Secret
    etcd_root: Secret


def dynamic_settings(timings: Timings, settings: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What Patroni keeps in etcd for the whole cluster (bootstrap only: later changes go through the engine).

    The score's ``settings`` are part of it, not of the member's file: Patroni ignores a local value of
    max_connections-like settings, which must match across members; later changes are ``PATCH /config``
    (reconfigure.py)."""
    return {
        "ttl": timings.ttl,
        "loop_wait": timings.loop_wait,
        "retry_timeout": timings.retry_timeout,
        "maximum_lag_on_failover": 1048576,
        "synchronous_mode": True,
        "synchronous_mode_strict": False,
        "postgresql": {
            "use_pg_rewind": True,
            "use_slots": True,
            "parameters": {
                "wal_level": "replica",
                "hot_standby": "on",
                "wal_log_hints": "on",
                "max_wal_senders": 10,
                "max_replication_slots": 10,
                "wal_keep_size": "256MB",
                "password_encryption": "scram-sha-256",
                **dict(sorted((settings or {}).items())),
            },
        },
    }


def hba_rules(config: PgConfig, *, tls: bool = False) -> list[str]:
    """The manual path's rules (the superuser by peer only; scram for everyone else, never trust), and
    Patroni's own replication connections to its server over the socket (``use_unix_socket_repl``):
    with TLS, ``hostssl`` only, the replication role by certificate and locally by ``peer`` (adr/0102)."""
    manual = [line for line in pg_hba_conf(config, tls=tls).splitlines() if line and not line.startswith("#")]
    local = local_replication_rule(config) if tls else f"local replication {config.replication_user} scram-sha-256"
    return [*manual, local]


def authentication(member: Participant, secrets: Credentials, *, tls: bool) -> dict[str, Any]:
    """Who Patroni logs in as: the superuser by peer; replication and pg_rewind by password, or with TLS
    both as the replication role by its certificate (no password in the file, as on the manual path)."""
    if tls:
        login = certificate_login(member.config, member.pg)
        return {"superuser": {"username": "postgres"}, "replication": login, "rewind": dict(login)}
    return {
        "superuser": {"username": "postgres"},
        "replication": {"username": member.config.replication_user, "password": secrets.replication.reveal()},
        "rewind": {"username": REWIND_USER, "password": secrets.rewind.reveal()},
    }


def patroni_config(
    member: Participant, everyone: Sequence[Participant], secrets: Credentials, timings: Timings, *, tls: bool = False
) -> dict[str, Any]:
    config = member.config
    pg = member.pg
    listen = ",".join(config.listen_addresses)
    found: dict[str, Any] = {
        "scope": config.name,
        "namespace": NAMESPACE,
        "name": member.name,
        "log": {"level": "INFO", "dir": member.patroni_log_dir, "file_num": 4, "file_size": 10_000_000},
        "restapi": {
            "listen": f"{member.host}:{member.rest_port}",
            "connect_address": f"{member.host}:{member.rest_port}",
            # Changing requests (switchover, restart, configuration) need it; GET /primary, /cluster stay open.
            "authentication": {"username": API_USER, "password": secrets.rest_api.reveal()},
        },
        # etcd 3.4 serves only the v3 API: the v2 "etcd:" section would wait for ever.
        "etcd3": {
            "hosts": [f"{p.host}:{p.etcd_client_port}" for p in everyone if p.etcd],
            "username": ETCD_PATRONI_USER,
            "password": secrets.etcd_patroni.reveal(),
        },
        "bootstrap": {
            "dcs": dynamic_settings(timings, config.settings),
            "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, {"auth-local": "peer"}, {"auth-host": "scram-sha-256"}],
        },
        "postgresql": {
            "listen": f"{listen}:{member.pg_port}",
            "connect_address": f"{member.host}:{member.pg_port}",
            "data_dir": pg.data_dir,
            "bin_dir": pg.bin_dir,
            "pgpass": f"{member.patroni_dir}/pgpass",
            "use_unix_socket": True,
            # Patroni asks its own server for its timeline over a replication connection (to decide on
            # pg_rewind after a partition): by default to 127.0.0.1, which allowed_networks need not cover.
            "use_unix_socket_repl": True,
            "authentication": authentication(member, secrets, tls=tls),
            "parameters": {"unix_socket_directories": pg.socket_dir, **(ssl_parameters(pg) if tls else {})},
            "pg_hba": hba_rules(config, tls=tls),
            # Without it a new replica's clone waits for a spread checkpoint (94 s measured on an empty cluster).
            "basebackup": [{"checkpoint": "fast"}],
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }
    if tls:
        found["postgresql"]["pg_ident"] = ident_lines(config)
    return found


def config_text(
    member: Participant, everyone: Sequence[Participant], secrets: Credentials, timings: Timings, *, tls: bool = False
) -> Secret:
    """The file's content (JSON, which is YAML), as a Secret: it holds passwords."""
    return Secret(json.dumps(patroni_config(member, everyone, secrets, timings, tls=tls), indent=1) + "\n")
