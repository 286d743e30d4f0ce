"""PostgreSQL on Kubernetes: the PostgreSQL capability for any topology that has K8sClient.

One cluster ``config.name`` is a StatefulSet (its data on a PersistentVolumeClaim
from a volume claim template), a Service in front of it, and a Secret holding
the generated passwords, generated once and reused on every later apply. A
replica is a second StatefulSet whose init container clones its primary with
``pg_basebackup -R`` when its volume is empty, then streams from it.

Written against ``capabilities.postgresql`` as it stood on main when this was
written; kept in its own module so it can follow that Protocol's changes.
Limits (see adr/0043): databases and users are created by the image's init
scripts on first start only, and promotion restarts the pod without
``standby.signal`` rather than running ``pg_ctl promote`` in it (the K8sClient
capability has no exec).
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from capabilities.k8s import ROLLOUT, K8sClient
from capabilities.postgresql import (
    PgConfig,
    PgEndpoint,
    ReplicationRole,
    ReplicationSource,
    ReplicationState,
)
from harmony_py.errors import HarmonyError
from harmony_py.secret import Secret

FIELD_MANAGER = "harmony-postgres"
ROLE_ANNOTATION = "harmony.dev/postgres-role"
UPSTREAM_ANNOTATION = "harmony.dev/postgres-upstream"
SUPERUSER = "postgres"
READY_TIMEOUT_S = 300.0
_DATA = "/var/lib/postgresql/data"
_PGDATA = f"{_DATA}/pgdata"


class K8sPostgreSQLMixin:
    """Gives a K8sClient topology the PostgreSQL capability (mixed into K8sAnywhereTopology)."""

    async def deploy_postgres(self: K8sClient, config: PgConfig) -> PgEndpoint:
        return await deploy(self, config, role=ReplicationRole.PRIMARY, source=None)

    async def postgres_endpoint(self: K8sClient, config: PgConfig, database: str) -> PgEndpoint:
        return await endpoint(self, config, database)

    async def postgres_replication(self: K8sClient, config: PgConfig) -> ReplicationState:
        return await replication(self, config)

    async def follow_postgres(self: K8sClient, config: PgConfig, source: ReplicationSource) -> None:
        await deploy(self, config, role=ReplicationRole.REPLICA, source=source)

    async def promote_postgres(self: K8sClient, config: PgConfig) -> None:
        state = await replication(self, config)
        if state.role is ReplicationRole.ABSENT:
            raise HarmonyError(f"PostgreSQL {config.name} does not exist on this cluster; deploy it first")
        if state.role is ReplicationRole.REPLICA:
            await deploy(self, config, role=ReplicationRole.PRIMARY, source=None)


async def deploy(client: K8sClient, config: PgConfig, *, role: ReplicationRole, source: ReplicationSource | None) -> PgEndpoint:
    passwords = await _passwords(client, config)
    for manifest in manifests(config, passwords, role=role, source=source):
        await client.k8s_apply(manifest, field_manager=FIELD_MANAGER)
    await client.k8s_wait("apps/v1", "StatefulSet", config.name, None, condition=ROLLOUT, timeout_s=READY_TIMEOUT_S)
    return await endpoint(client, config, config.databases[0] if config.databases else "postgres")


async def endpoint(client: K8sClient, config: PgConfig, database: str) -> PgEndpoint:
    service = await client.k8s_get("v1", "Service", config.name)
    if service is None:
        raise HarmonyError(f"PostgreSQL {config.name} has no Service on this cluster; deploy it first")
    namespace = service["metadata"].get("namespace", "default")
    passwords = await _stored_passwords(client, config)
    if SUPERUSER not in passwords:
        raise HarmonyError(f"PostgreSQL {config.name}: the Secret {secret_name(config)} holds no password")
    host = f"{config.name}.{namespace}.svc"
    return PgEndpoint(host, config.port, database, SUPERUSER, Secret(passwords[SUPERUSER]))


async def replication(client: K8sClient, config: PgConfig) -> ReplicationState:
    found = await client.k8s_get("apps/v1", "StatefulSet", config.name)
    if found is None:
        return ReplicationState(ReplicationRole.ABSENT)
    if int(found.get("spec", {}).get("replicas", 1)) == 0:
        return ReplicationState(ReplicationRole.STOPPED)
    annotations = found.get("metadata", {}).get("annotations") or {}
    if annotations.get(ROLE_ANNOTATION) == ReplicationRole.REPLICA.value:
        return ReplicationState(ReplicationRole.REPLICA, upstream=annotations.get(UPSTREAM_ANNOTATION))
    return ReplicationState(ReplicationRole.PRIMARY)


def secret_name(config: PgConfig) -> str:
    return f"{config.name}-credentials"


def manifests(
    config: PgConfig, passwords: dict[str, str], *, role: ReplicationRole, source: ReplicationSource | None
) -> list[dict[str, Any]]:
    """Secret, Service and StatefulSet of one PostgreSQL cluster, in the order they are applied."""
    labels = {"app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": config.name}
    secret_data = dict(passwords)
    if source is not None:
        secret_data["replication-source"] = source.password.reveal()
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name(config), "labels": labels},
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in sorted(secret_data.items())},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": config.name, "labels": labels},
        "spec": {"selector": labels, "ports": [{"name": "postgres", "port": config.port, "targetPort": "postgres"}]},
    }
    annotations = {ROLE_ANNOTATION: role.value}
    if source is not None:
        annotations[UPSTREAM_ANNOTATION] = f"{source.host}:{source.port}"
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": config.name, "labels": labels, "annotations": annotations},
        "spec": {
            "serviceName": config.name,
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "initContainers": [_clone_container(config, source)] if source is not None else [],
                    "containers": [_postgres_container(config, role)],
                    "volumes": [{"name": "init", "configMap": {"name": f"{config.name}-init", "optional": True}}],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }
    return [secret, _init_scripts(config), service, statefulset]


def _postgres_container(config: PgConfig, role: ReplicationRole) -> dict[str, Any]:
    settings = [f"-c {key}={value}" for key, value in sorted(config.settings.items())]
    # Promotion by restart: a pod that starts as primary drops the standby marker first.
    start = (
        f'if [ "$HARMONY_PG_ROLE" = primary ]; then rm -f {_PGDATA}/standby.signal; fi; '
        f"exec docker-entrypoint.sh postgres -c port={config.port} -c wal_level=replica "
        f"-c max_wal_senders=10 -c hot_standby=on {' '.join(settings)}"
    ).strip()
    return {
        "name": "postgres",
        "image": f"postgres:{config.version}",
        "command": ["sh", "-c", start],
        "ports": [{"name": "postgres", "containerPort": config.port}],
        "env": [
            {"name": "PGDATA", "value": _PGDATA},
            {"name": "PGPORT", "value": str(config.port)},
            {"name": "HARMONY_PG_ROLE", "value": role.value},
            _secret_env("POSTGRES_PASSWORD", config, SUPERUSER),
        ]
        + [_secret_env(f"HARMONY_PG_PASSWORD_{index}", config, user.name) for index, user in enumerate(config.users)],
        "readinessProbe": {"exec": {"command": ["pg_isready", "-p", str(config.port)]}, "periodSeconds": 5},
        "volumeMounts": [
            {"name": "data", "mountPath": _DATA},
            {"name": "init", "mountPath": "/docker-entrypoint-initdb.d"},
        ],
    }


def _clone_container(config: PgConfig, source: ReplicationSource) -> dict[str, Any]:
    script = (
        f'[ -s {_PGDATA}/PG_VERSION ] || pg_basebackup -h "$SOURCE_HOST" -p "$SOURCE_PORT" -U "$SOURCE_USER" '
        f'-D {_PGDATA} -R -X stream -S "$SOURCE_SLOT" -C'
    )
    return {
        "name": "clone-primary",
        "image": f"postgres:{config.version}",
        "command": ["sh", "-c", script],
        "env": [
            {"name": "SOURCE_HOST", "value": source.host},
            {"name": "SOURCE_PORT", "value": str(source.port)},
            {"name": "SOURCE_USER", "value": source.user},
            {"name": "SOURCE_SLOT", "value": source.slot},
            _secret_env("PGPASSWORD", config, "replication-source"),
        ],
        "volumeMounts": [{"name": "data", "mountPath": _DATA}],
    }


def _init_scripts(config: PgConfig) -> dict[str, Any]:
    """SQL the image runs on first start: roles (passwords from the environment) and databases."""
    lines = ["set -e", 'psql -v ON_ERROR_STOP=1 --username postgres <<EOSQL']
    for index, user in enumerate(config.users):
        lines.append(f"CREATE ROLE \"{user.name}\" LOGIN PASSWORD '${{HARMONY_PG_PASSWORD_{index}}}';")
    owners = {db: user.name for user in config.users for db in user.databases}
    for database in config.databases:
        owner = f' OWNER "{owners[database]}"' if database in owners else ""
        lines.append(f'CREATE DATABASE "{database}"{owner};')
    lines.append("EOSQL")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{config.name}-init"},
        "data": {"10-harmony.sh": "\n".join(lines) + "\n"},
    }


def _secret_env(variable: str, config: PgConfig, key: str) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret_name(config), "key": key}}}


async def _stored_passwords(client: K8sClient, config: PgConfig) -> dict[str, str]:
    found = await client.k8s_get("v1", "Secret", secret_name(config))
    data = (found or {}).get("data") or {}
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


async def _passwords(client: K8sClient, config: PgConfig) -> dict[str, str]:
    """The superuser's and each user's password: given, else already stored, else generated now."""
    stored = await _stored_passwords(client, config)
    wanted = {SUPERUSER: stored.get(SUPERUSER) or secrets.token_urlsafe(24)}
    for user in config.users:
        if user.password is not None:
            wanted[user.name] = user.password.reveal()
        else:
            wanted[user.name] = stored.get(user.name) or secrets.token_urlsafe(24)
    return wanted
