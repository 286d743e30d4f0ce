"""PostgreSQL on Kubernetes (PostgreSQLServer of K8sAnywhereTopology), against the emulator.

The emulator runs no containers: no Pod ever exists, so nothing can be asked
inside a server. What this shows is the API side: the objects each member gets
and their spec, passwords generated once and kept out of plans and changes,
NOOP on re-apply, the replica's declaration, fencing, and clear errors where a
Pod is needed and absent or never ready. Running the servers (exec, promotion,
streaming, switchover and failover) is the real_cluster tier's job
(tests/k8s/test_real_cluster.py).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capabilities.errors import K8sApiError, K8sNotReadyError
from capabilities.postgresql import PgConfig, PgUser, PostgreSQL, PostgreSQLCluster, ReplicationRole
from harmony_py.capability_check import capability_gaps
from harmony_py.values import Change, ChangeAction, Secret
from topologies import FailoverTopology, K8sAnywhereTopology
from harmony_py.scores.k8s_postgres_manifests import Declared, declared_from, manifests
from topologies.postgres.text import facts_sql, scram_matches
from topologies.secret_store import SecretStore

from .harness import EmulatorThread
from .real_postgres import RealPostgreSQL

CONFIG = PgConfig(
    "orders", databases=("orders",), users=(PgUser("app", databases=("orders",)),), settings={"max_connections": "50"}
)


@pytest.fixture(autouse=True)
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "secrets"
    monkeypatch.setenv("HARMONY_SECRETS_DIR", str(path))
    yield path


def member(kubeconfig: Path, namespace: str, ready_timeout_s: float = 2.0) -> K8sAnywhereTopology:
    return K8sAnywhereTopology(
        kubeconfig=str(kubeconfig), namespace=namespace, request_timeout_s=2.0, retries=0, watch_idle_s=2.0,
        postgres_ready_timeout_s=ready_timeout_s,
    )  # fmt: skip


@pytest.fixture
async def pair(kubeconfig: Path) -> FailoverTopology[K8sAnywhereTopology]:
    primary, replica = member(kubeconfig, "pg-a"), member(kubeconfig, "pg-b")
    for namespace in ("pg-a", "pg-b"):
        await primary.k8s_client().apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, field_manager="test")
    return FailoverTopology(primary, replica)


@pytest.fixture
def kubelet(server: EmulatorThread, pods_postgres: RealPostgreSQL) -> RealPostgreSQL:
    """Pods ``orders-0`` answering psql (a real server): a primary's converge asks it for roles and databases."""
    pods_postgres.behind(server, [(namespace, "orders-0") for namespace in ("pg-a", "pg-b", "default")])
    return pods_postgres


def find(server: EmulatorThread, kind: str, name: str, namespace: str) -> dict[str, Any]:
    found = server.call(lambda: server.api.find(kind, name, namespace))
    assert found is not None, f"{kind} {namespace}/{name} is missing"
    return found


def passwords() -> list[str]:
    store = SecretStore()
    return [store.get_or_create(f"postgresql/orders/{user}").reveal() for user in ("postgres", "replicator", "app")]


def assert_no_secret(changes: list[Change]) -> None:
    shown = " ".join(f"{c.target} {c.summary} {c.diff or ''}" for c in changes)
    for password in passwords():
        assert password not in shown
        assert base64.b64encode(password.encode()).decode() not in shown


def test_a_pair_of_clusters_provides_replicated_postgresql() -> None:
    pair = FailoverTopology(K8sAnywhereTopology(namespace="a"), K8sAnywhereTopology(namespace="b"))
    assert capability_gaps(pair, PostgreSQL) == []
    assert capability_gaps(pair, PostgreSQLCluster) == []


async def test_one_server_objects_then_noop(pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, kubelet: RealPostgreSQL) -> None:
    primary = pair.primary
    planned = await primary.postgresql().plan(CONFIG)
    assert server.call(lambda: server.api.find("StatefulSet", "orders", "pg-a")) is None, "a plan changed something"
    changes = await primary.postgresql().deploy(CONFIG)
    assert sorted(c.target for c in changes) == sorted(c.target for c in planned)
    assert {c.target for c in changes} == {
        "Secret pg-a/orders-credentials", "Secret pg-a/orders-tls", "ConfigMap pg-a/orders-init",
        "ConfigMap pg-a/orders-replication", "Service pg-a/orders", "StatefulSet pg-a/orders", "PostgreSQL pg-a/orders",
    }  # fmt: skip  (TLS is on by default on Kubernetes: adr/0100, adr/0103)
    assert [c.summary for c in changes if c.target == "PostgreSQL pg-a/orders"] == [
        "create replication role replicator", "create role app", "create database orders owned by app",
    ]
    assert all(c.action is ChangeAction.CREATE for c in changes)
    assert_no_secret(changes)

    statefulset = find(server, "StatefulSet", "orders", "pg-a")
    spec = statefulset["spec"]
    assert spec["replicas"] == 1 and spec["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    [prepare] = spec["template"]["spec"]["initContainers"]
    assert "pg_basebackup" in prepare["command"][2] and "pg_rewind" in prepare["command"][2]
    [container] = spec["template"]["spec"]["containers"]
    assert "-cmax_connections=50" in container["command"][2] and "-cwal_log_hints=on" in container["command"][2]
    secret = find(server, "Secret", "orders-credentials", "pg-a")
    assert set(secret["data"]) == {"postgres", "replicator", "app"}
    assert base64.b64decode(secret["data"]["app"]).decode() == passwords()[2]
    assert find(server, "ConfigMap", "orders-replication", "pg-a")["data"] == {"role": "primary"}
    init = find(server, "ConfigMap", "orders-init", "pg-a")["data"]["10-harmony.sh"]
    assert "host replication replicator" in init and "ROLE" not in init  # roles: the converge's, through exec

    version = statefulset["metadata"]["resourceVersion"]
    assert await primary.postgresql().deploy(CONFIG) == []
    assert await primary.postgresql().plan(CONFIG) == []
    assert find(server, "StatefulSet", "orders", "pg-a")["metadata"]["resourceVersion"] == version

    endpoint = await primary.postgresql().endpoint(CONFIG, "orders")
    assert (endpoint.host, endpoint.port, endpoint.user) == ("orders.pg-a.svc", 5432, "app")
    assert endpoint.password.reveal() == passwords()[2] and passwords()[2] not in repr(endpoint)
    assert await primary.postgresql().address(CONFIG) == "orders.pg-a.svc:5432"


async def test_replica_is_declared_to_clone_its_primary(pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, kubelet: RealPostgreSQL) -> None:
    await pair.primary.postgresql().deploy(CONFIG)
    source = await pair.primary.postgresql().replication_source(CONFIG, "replica")
    assert (source.host, source.slot, source.name) == ("orders.pg-a.svc", "harmony_replica", "replica")
    await pair.replica.postgresql().follow(CONFIG, source)
    declared = find(server, "ConfigMap", "orders-replication", "pg-b")["data"]
    assert declared == {
        "role": "replica", "source_host": "orders.pg-a.svc", "source_port": "5432", "source_user": "replicator",
        "slot": "harmony_replica", "application_name": "replica", "rewind": "",
    }  # fmt: skip
    secret = find(server, "Secret", "orders-credentials", "pg-b")
    assert base64.b64decode(secret["data"]["replication-source"]).decode() == source.password.reveal()
    # One Pod template for both roles: a promotion needs no new Pod.
    templates = [find(server, "StatefulSet", "orders", ns)["spec"]["template"] for ns in ("pg-a", "pg-b")]
    assert templates[0] == templates[1]

    versions = {ns: find(server, "StatefulSet", "orders", ns)["metadata"]["resourceVersion"] for ns in ("pg-a", "pg-b")}
    await pair.replica.postgresql().follow(CONFIG, source)
    assert await pair.replica.postgresql().plan(CONFIG) == []
    assert find(server, "ConfigMap", "orders-replication", "pg-b")["data"] == declared
    assert {ns: find(server, "StatefulSet", "orders", ns)["metadata"]["resourceVersion"] for ns in ("pg-a", "pg-b")} == versions


async def test_failover_plan_shows_the_primary_and_the_clone(
    pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, secrets_dir: Path
) -> None:
    changes = await pair.postgresql().plan(CONFIG)
    assert not secrets_dir.exists()  # a plan stores no secret: the passwords apply would generate are drafts
    summaries = [f"{c.target}: {c.summary}" for c in changes]
    assert any(s.startswith("primary (StatefulSet pg-a/orders): primary: create") for s in summaries), summaries
    assert any("replica (orders.pg-b.svc:5432)" in s and "pg_basebackup" in s for s in summaries), summaries
    assert_no_secret(changes)
    assert server.call(lambda: server.api.find("StatefulSet", "orders")) is None


async def test_failover_deploy_stops_clearly_where_a_running_pod_is_needed(
    pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread
) -> None:
    # The primary's objects are applied (and its Pod made); creating the
    # replica's slot needs psql in that Pod, which the emulator does not run.
    with pytest.raises(K8sApiError, match="exec psql in Pod orders-0 in namespace pg-a: the command could not run: this emulator runs no containers"):
        await pair.postgresql().deploy(CONFIG)
    find(server, "StatefulSet", "orders", "pg-a")
    assert server.call(lambda: server.api.find("StatefulSet", "orders", "pg-b")) is None
    status = await pair.postgresql().status(CONFIG)
    assert status.member("primary").state.role is ReplicationRole.UNREACHABLE
    assert "runs no containers" in (status.member("primary").state.problem or "")
    assert status.member("replica").state.role is ReplicationRole.ABSENT


def pod_uid(server: EmulatorThread, namespace: str) -> str | None:
    pod = server.call(lambda: server.api.find("Pod", "orders-0", namespace))
    return None if pod is None else str(pod["metadata"]["uid"])


async def test_a_stopped_server_is_started_by_a_new_pod(pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, kubelet: RealPostgreSQL) -> None:
    await pair.primary.postgresql().deploy(CONFIG)
    first = pod_uid(server, "pg-a")
    assert first is not None
    # What postgresql().stop declares (its clean stop runs in the Pod: real_cluster tier).
    postgres = pair.primary.postgresql().server(CONFIG)
    declared, password, _ = await postgres.declared()
    await postgres.apply_objects(dataclasses.replace(declared, stopped=True), password)
    assert (await pair.primary.postgresql().replication(CONFIG)).role is ReplicationRole.STOPPED
    planned = await pair.primary.postgresql().plan(CONFIG)
    assert ("Pod orders-0", "start PostgreSQL (restart the pod)") in [(c.target, c.summary) for c in planned]
    changes = await pair.primary.postgresql().deploy(CONFIG)
    assert [c.summary for c in changes if c.action is ChangeAction.RUN] == ["start PostgreSQL (restart the pod)"]
    assert pod_uid(server, "pg-a") not in (None, first)
    assert "annotations" not in find(server, "StatefulSet", "orders", "pg-a")["metadata"]
    assert await pair.primary.postgresql().deploy(CONFIG) == []


async def test_a_former_primary_rejoins_rewound_in_a_new_pod(pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, kubelet: RealPostgreSQL) -> None:
    await pair.primary.postgresql().deploy(CONFIG)
    await pair.replica.postgresql().deploy(CONFIG)
    before = pod_uid(server, "pg-b")
    await pair.replica.postgresql().follow(CONFIG, await pair.primary.postgresql().replication_source(CONFIG, "replica"))
    declared = find(server, "ConfigMap", "orders-replication", "pg-b")["data"]
    assert declared["role"] == "replica" and len(declared["rewind"]) == 8  # a token: rewind once
    assert pod_uid(server, "pg-b") not in (None, before)


async def test_exec_into_a_pod_that_is_not_running_says_why(pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread) -> None:
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orders-0", "namespace": "pg-a"},
        "spec": {"containers": [{"name": "postgres", "image": "postgres:15"}]},
        "status": {"phase": "Pending", "containerStatuses": [
            {"name": "postgres", "ready": False, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no registry"}}}]},
    }  # fmt: skip
    server.call(lambda: server.api.put_object("", "v1", "pods", "pg-a", pod))
    with pytest.raises(K8sNotReadyError, match="the pod is not running.*ImagePullBackOff"):
        await pair.primary.k8s_client().exec("orders-0", ["true"])


async def test_fence_holds_the_server_down(pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, kubelet: RealPostgreSQL) -> None:
    await pair.primary.postgresql().deploy(CONFIG)
    await pair.primary.postgresql().fence(CONFIG)
    statefulset = find(server, "StatefulSet", "orders", "pg-a")
    assert statefulset["spec"]["replicas"] == 0
    with anyio.fail_after(5):  # the toy controller removes the Pod of a StatefulSet scaled to zero
        while pod_uid(server, "pg-a") is not None:
            await anyio.sleep(0.01)
    assert statefulset["metadata"]["annotations"]["harmony.dev/postgres-fenced"] == "true"
    # If anything starts it again, it starts as a standby.
    assert find(server, "ConfigMap", "orders-replication", "pg-a")["data"]["role"] == "replica"
    state = await pair.primary.postgresql().replication(CONFIG)
    assert (state.role, state.fenced) == (ReplicationRole.STOPPED, True)
    assert await pair.primary.postgresql().deploy(CONFIG) == []
    assert find(server, "StatefulSet", "orders", "pg-a")["spec"]["replicas"] == 0


async def test_a_server_whose_pod_never_becomes_ready_fails_clearly(kubeconfig: Path, server: EmulatorThread) -> None:
    server.call(lambda: setattr(server.api, "auto_ready", False))
    topology = member(kubeconfig, "default", ready_timeout_s=0.5)
    with pytest.raises(K8sNotReadyError, match=r"StatefulSet orders in namespace default not Rollout after 0.5 s.*no pods were created"):
        await topology.postgresql().deploy(CONFIG)


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_scripts_the_pods_run_are_valid_shell(shell: str) -> None:
    objects = manifests(CONFIG, {"postgres": "p", "replicator": "r", "app": "a"}, Declared(), None)
    pod = next(o for o in objects if o["kind"] == "StatefulSet")["spec"]["template"]["spec"]
    scripts = [container["command"][2] for container in (*pod["initContainers"], *pod["containers"])]
    scripts += [o["data"]["10-harmony.sh"] for o in objects if o["metadata"]["name"] == "orders-init"]
    for script in scripts:
        checked = subprocess.run([shell, "-n"], input=script, capture_output=True, text=True, check=False)
        assert checked.returncode == 0, f"{shell} -n: {checked.stderr}\n{script}"


async def test_the_score_on_a_pair_keeps_passwords_out_of_reports(pair: FailoverTopology[K8sAnywhereTopology]) -> None:
    from harmony_py import Maestro, ScoreState
    from harmony_py.cli.json_output import run_json
    from harmony_py.scores import PostgreSQLScore

    score = PostgreSQLScore("orders", databases=("orders",), users=("app",))
    planned = await Maestro(pair).add(score).plan()
    assert planned.scores[0].state is ScoreState.PENDING and planned.scores[0].changes
    applied = await Maestro(pair).add(score).apply()
    assert applied.scores[0].state is ScoreState.FAILED and "runs no containers" in applied.scores[0].message
    for report in (planned, applied):
        text = json.dumps(run_json(report))
        for password in passwords():
            assert password not in text and base64.b64encode(password.encode()).decode() not in text


@settings(max_examples=50, deadline=None)
@given(
    declared=st.builds(
        Declared, role=st.sampled_from(["primary", "replica"]), source_host=st.sampled_from(["", "orders.pg-a.svc"]),
        source_port=st.integers(1, 65535), source_user=st.sampled_from(["replicator"]), slot=st.sampled_from(["harmony_replica"]),
        application_name=st.sampled_from(["replica"]), rewind=st.sampled_from(["", "0a1b2c3d"]), fenced=st.booleans(), stopped=st.booleans(),
    )  # fmt: skip
)
def test_what_the_objects_declare_reads_back(declared: Declared) -> None:
    objects = {o["kind"] + "/" + o["metadata"]["name"]: o for o in manifests(CONFIG, {"postgres": "p"}, declared, "s")}
    found = declared_from(objects["ConfigMap/orders-replication"], objects["StatefulSet/orders"])
    if declared.role == "primary":  # a primary declares no upstream
        declared = Declared(role="primary", fenced=declared.fenced, stopped=declared.stopped)
    assert found == declared


# -- roles and databases, through exec, on a real server behind the Pod (adr/0060) --------------------


def role_summaries(changes: list[Change]) -> list[str]:
    return [c.summary for c in changes if c.target == "PostgreSQL pg-a/orders"]


async def test_a_user_added_to_the_score_later_is_planned_created_then_noop(
    pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, kubelet: RealPostgreSQL
) -> None:
    from harmony_py import Maestro, ScoreState
    from harmony_py.cli.json_output import run_json
    from harmony_py.scores import PostgreSQLScore

    primary = pair.primary
    first = PostgreSQLScore("orders", databases=("orders",), users=(PgUser("app", databases=("orders",)),))
    assert (await Maestro(primary).add(first).apply()).ok
    # Made by exec (the emulator runs no init script): the first deploy's roles are real.
    assert kubelet.psql("SELECT datname || ':' || pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'orders'") == "orders:app"

    later = PostgreSQLScore("orders", databases=("orders",), users=(PgUser("app", databases=("orders",)), PgUser("reports", databases=("reports", "orders"))))
    planned = await Maestro(primary).add(later).plan()
    [report] = planned.scores
    assert report.state is ScoreState.PENDING
    assert role_summaries(list(report.changes)) == [
        "create role reports", "create database reports owned by reports", "grant reports all on database orders",
    ]
    assert kubelet.psql("SELECT count(*) FROM pg_roles WHERE rolname = 'reports'") == "0", "a plan changed something"

    applied = await Maestro(primary).add(later).apply()
    assert applied.ok, applied
    assert role_summaries(list(applied.scores[0].changes)) == role_summaries(list(report.changes))
    facts = json.loads(kubelet.psql(facts_sql("replicator")))
    password = SecretStore().get_or_create("postgresql/orders/reports").reveal()
    assert scram_matches(password, facts["roles"]["reports"]["verifier"])
    assert facts["databases"]["reports"] == "reports" and "reports/orders" in facts["grants"]

    again = await Maestro(primary).add(later).apply()
    assert [r.state for r in again.scores] == [ScoreState.UNCHANGED], again
    assert not (await Maestro(primary).add(later).plan()).has_changes

    # The verifiers went on psql's stdin: no exec's argv (the API request's URL) holds one.
    commands = server.call(lambda: list(server.api.exec_log))
    assert any("-f" in command for command in commands) and not any("SCRAM" in " ".join(command) for command in commands)
    # Neither the password nor its verifier appears in any report.
    text = json.dumps([run_json(r) for r in (planned, applied, again)])
    verifier = facts["roles"]["reports"]["verifier"]
    assert password not in text and verifier not in text and "SCRAM-SHA-256$" not in text


async def test_a_changed_password_updates_the_role(
    pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, kubelet: RealPostgreSQL
) -> None:
    config = dataclasses.replace(CONFIG, users=(PgUser("app", Secret("first-pass"), databases=("orders",)),))
    await pair.primary.postgresql().deploy(config)
    changed = dataclasses.replace(CONFIG, users=(PgUser("app", Secret("second-pass"), databases=("orders",)),))
    planned = await pair.primary.postgresql().plan(changed)
    assert role_summaries(planned) == ["update role app (login, password)"]
    assert role_summaries(await pair.primary.postgresql().deploy(changed)) == ["update role app (login, password)"]
    verifier = json.loads(kubelet.psql(facts_sql("replicator")))["roles"]["app"]["verifier"]
    assert scram_matches("second-pass", verifier) and not scram_matches("first-pass", verifier)
    assert await pair.primary.postgresql().deploy(changed) == []


async def test_a_replica_is_not_asked_for_roles(
    pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, kubelet: RealPostgreSQL
) -> None:
    await pair.primary.postgresql().deploy(CONFIG)
    await pair.replica.postgresql().follow(CONFIG, await pair.primary.postgresql().replication_source(CONFIG, "replica"))
    server.call(lambda: server.api.exec_env.pop(("pg-b", "orders-0")))  # nothing answers psql in its Pod
    assert await pair.replica.postgresql().plan(CONFIG) == []


USER_NAMES = st.sampled_from(["app", "reports", "audit"])
DATABASE_NAMES = st.sampled_from(["orders", "stock", "billing"])


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    users=st.lists(st.tuples(USER_NAMES, st.lists(DATABASE_NAMES, max_size=2, unique=True)), max_size=3, unique_by=lambda u: u[0]),
    databases=st.lists(DATABASE_NAMES, max_size=2, unique=True),
)
def test_any_roles_and_databases_converge_then_noop(
    pair: FailoverTopology[K8sAnywhereTopology], server: EmulatorThread, kubelet: RealPostgreSQL,
    users: list[tuple[str, list[str]]], databases: list[str],
) -> None:  # fmt: skip
    config = PgConfig("orders", databases=tuple(databases), users=tuple(PgUser(name, databases=tuple(d)) for name, d in users))

    async def check() -> None:
        await pair.primary.postgresql().deploy(config)
        assert await pair.primary.postgresql().plan(config) == []
        assert await pair.primary.postgresql().deploy(config) == []

    anyio.run(check)
    facts = json.loads(kubelet.psql(facts_sql("replicator")))
    assert {name for name, _ in users} <= set(facts["roles"])
    assert set(databases) | {d for _, ds in users for d in ds} <= set(facts["databases"])
