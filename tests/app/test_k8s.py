"""The application's service on Kubernetes, against the emulated API server (tests/k8s's harness).

The emulator runs no containers: this checks the objects the platform
converges (a Deployment reading its secrets from a Secret, a Service), that a
second apply changes nothing, and that secret values stay out of plans and of
the Deployment. The database half is the cluster's PostgreSQL capability.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capabilities.application import AppSpec
from capabilities.errors import ContractVersionError
from harmony_py import Maestro, ScoreState, Secret
from harmony_py.scores import ApplicationScore, ApplicationServiceScore, PostgreSQLDatabase
from tests.k8s.harness import EmulatorThread
from tests.k8s.real_postgres import RealPostgreSQL, pods_postgres, real_postgres  # noqa: F401  (fixtures)
from topologies import K8sAnywhereTopology
from harmony_py.scores.k8s_application_manifests import SECRET_DIGEST_ANNOTATION
from topologies.k8s.applications import DIGEST_KEY, secret_digest

DATABASE_URL = "postgresql://shop:pa%3Ass@shop.default.svc:5432/shop"
API_KEY = "k8s-api-key-value"


@pytest.fixture
def server() -> Iterator[EmulatorThread]:
    with EmulatorThread() as running:
        yield running


@pytest.fixture
def cluster(server: EmulatorThread, tmp_path: Path) -> K8sAnywhereTopology:
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")
    return K8sAnywhereTopology(kubeconfig=str(kubeconfig), request_timeout_s=2.0, retries=2, watch_idle_s=2.0)


def shop() -> ApplicationScore:
    return ApplicationScore(
        "shop",
        image="harmony-example/shop:1",
        command=("python3", "server.py"),
        replicas=2,
        port=8080,
        secrets={"SHOP_API_KEY": Secret(API_KEY), "DATABASE_URL": Secret(DATABASE_URL)},
        env={"SHOP_CURRENCY": "EUR"},
        database=None,
    )


def web() -> ApplicationServiceScore:
    """The application's service part alone, as the ApplicationScore makes it."""
    return shop().service_score().named("shop.web")


async def test_the_service_is_a_deployment_reading_a_secret_and_a_second_apply_changes_nothing(
    cluster: K8sAnywhereTopology, server: EmulatorThread
) -> None:
    planned = await Maestro(cluster).add(web()).plan()
    assert [r.state for r in planned.scores] == [ScoreState.PENDING]
    assert [c.target for c in planned.scores[0].changes] == ["Secret shop-web-env", "Deployment shop-web", "Service shop-web"]

    applied = await Maestro(cluster).add(web()).apply()
    assert applied.ok, applied
    deployment = server.call(lambda: server.api.find("Deployment", "shop-web"))
    assert deployment is not None and deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item for item in container["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "shop-web-env", "key": "DATABASE_URL"}
    assert env["SHOP_CURRENCY"]["value"] == "EUR" and env["PORT"]["value"] == "8080"
    assert container["args"] == ["python3", "server.py"]
    secret = server.call(lambda: server.api.find("Secret", "shop-web-env"))
    assert secret is not None and base64.b64decode(secret["data"]["SHOP_API_KEY"]).decode() == API_KEY
    assert server.call(lambda: server.api.find("Service", "shop-web")) is not None

    again = await Maestro(cluster).add(web()).apply()
    assert [r.state for r in again.scores] == [ScoreState.UNCHANGED]
    assert not (await Maestro(cluster).add(web()).plan()).has_changes
    assert await cluster.application_runtime().url(web().spec()) == "http://shop-web.default.svc:8080"

    shown = json.dumps(deployment) + repr(planned) + repr(applied)
    for value in (API_KEY, DATABASE_URL, "pa%3Ass", base64.b64encode(API_KEY.encode()).decode()):
        assert value not in shown


async def test_pods_that_stopped_being_ready_are_a_pending_wait_not_nothing_to_do(
    cluster: K8sAnywhereTopology, server: EmulatorThread
) -> None:
    """Health on Kubernetes is the Deployment's rollout status (the readiness probes on the health path)."""
    assert (await Maestro(cluster).add(web()).apply()).ok
    key = server.call(
        lambda: next(key for key, obj in server.api.store.items() if obj.get("kind") == "Deployment" and key[4] == "shop-web")
    )
    ready = dict(server.call(lambda: server.api.store[key])["status"])
    server.call(lambda: server.api.set_status(key, {**ready, "readyReplicas": 1, "availableReplicas": 1}))
    planned = await Maestro(cluster).add(web()).plan()
    assert [change.summary for change in planned.scores[0].changes] == ["wait for shop-web: 1 of 2 updated replicas available"]

    server.call(lambda: server.api.set_status(key, ready))
    assert not (await Maestro(cluster).add(web()).plan()).has_changes


async def test_the_whole_contract_plans_and_applies_with_the_database_on_the_cluster(
    cluster: K8sAnywhereTopology, server: EmulatorThread, pods_postgres: RealPostgreSQL
) -> None:
    pods_postgres.behind(server, [("default", "shop-0")])  # the database's Pod answers psql: its roles are made by exec
    whole = ApplicationScore(
        "shop", image="harmony-example/shop:1", command=("python3", "server.py"), replicas=2, port=8080,
        database=PostgreSQLDatabase(port=5432), secrets={"SHOP_API_KEY": Secret(API_KEY)},
    )  # fmt: skip
    planned = await Maestro(cluster).add(whole).plan()
    states = {report.identity: report.state for report in planned.scores}
    assert states == {"shop.contract": ScoreState.UNCHANGED, "shop.db": ScoreState.PENDING, "shop.web": ScoreState.PENDING}
    assert "DATABASE_URL" in " ".join(planned.scores[2].unknown_inputs)
    applied = await Maestro(cluster).add(whole).apply()
    assert applied.ok, applied
    assert server.call(lambda: server.api.find("StatefulSet", "shop")) is not None
    deployment = server.call(lambda: server.api.find("Deployment", "shop-web"))
    assert deployment is not None
    secret = server.call(lambda: server.api.find("Secret", "shop-web-env"))
    assert secret is not None and "DATABASE_URL" in secret["data"]
    again = await Maestro(cluster).add(whole).apply()
    assert all(report.state is ScoreState.UNCHANGED for report in again.scores), again
    replanned = await Maestro(cluster).add(whole).plan()
    assert not replanned.has_changes, [c for r in replanned.scores for c in r.changes]


async def test_a_contract_version_the_cluster_cannot_honour_is_refused(cluster: K8sAnywhereTopology) -> None:
    with pytest.raises(ContractVersionError, match="a Kubernetes cluster cannot honour application contract version 2"):
        await cluster.application_runtime().plan(AppSpec("shop-web", "shop:1", (), 1, 8080, "/health", contract=2))


ENV_NAMES = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True).filter(lambda name: name not in {"PORT", "HOST"})
ENV_VALUES = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(env=st.dictionaries(ENV_NAMES, st.one_of(ENV_VALUES, ENV_VALUES.map(Secret)), max_size=4), replicas=st.integers(1, 3))
def test_any_service_converges_then_applying_again_changes_nothing(
    cluster: K8sAnywhereTopology, env: dict[str, str | Secret], replicas: int
) -> None:
    service = ApplicationServiceScore("shop-web", "shop:1", replicas=replicas, port=8080, env=env)

    async def check() -> None:
        first = await Maestro(cluster).add(service).apply()
        assert first.ok, first
        assert not (await Maestro(cluster).add(service).plan()).has_changes
        again = await Maestro(cluster).add(service).apply()
        assert [r.state for r in again.scores] == [ScoreState.UNCHANGED]

    anyio.run(check)


def template_of(server: EmulatorThread) -> dict[str, Any]:
    deployment = server.call(lambda: server.api.find("Deployment", "shop-web"))
    assert deployment is not None
    template: dict[str, Any] = deployment["spec"]["template"]
    return template


async def test_a_changed_secret_rolls_the_pods_and_an_unchanged_one_does_not(
    cluster: K8sAnywhereTopology, server: EmulatorThread, tmp_path: Path
) -> None:
    # A plan stores nothing, not even the key of the digests.
    await Maestro(cluster).add(web()).plan()
    assert not (tmp_path / "secrets" / DIGEST_KEY).exists()
    assert (await Maestro(cluster).add(web()).apply()).ok
    assert (tmp_path / "secrets" / DIGEST_KEY).stat().st_mode & 0o777 == 0o600
    first = template_of(server)["metadata"]["annotations"][SECRET_DIGEST_ANNOTATION]

    # Only a non-secret variable changes: the pods roll for it, the digest stays.
    currency = ApplicationServiceScore("shop-web", "harmony-example/shop:1", command=("python3", "server.py"), replicas=2, port=8080,
                                       env={**web().env, "SHOP_CURRENCY": "CHF"}).named("shop.web")  # fmt: skip
    assert (await Maestro(cluster).add(currency).apply()).ok
    assert template_of(server)["metadata"]["annotations"][SECRET_DIGEST_ANNOTATION] == first

    rotated = ApplicationServiceScore("shop-web", "harmony-example/shop:1", command=("python3", "server.py"), replicas=2, port=8080,
                                      env={**currency.env, "SHOP_API_KEY": Secret("rotated-api-key")}).named("shop.web")  # fmt: skip
    planned = await Maestro(cluster).add(rotated).plan()
    changes = planned.scores[0].changes
    assert {c.target for c in changes} == {"Secret default/shop-web-env", "Deployment default/shop-web"}, changes
    deployment_change = next(c for c in changes if c.target == "Deployment default/shop-web")
    assert SECRET_DIGEST_ANNOTATION in (deployment_change.diff or "") + deployment_change.summary

    applied = await Maestro(cluster).add(rotated).apply()
    assert applied.ok, applied
    second = template_of(server)["metadata"]["annotations"][SECRET_DIGEST_ANNOTATION]
    assert second != first and second.startswith("hmac-sha256:")
    again = await Maestro(cluster).add(rotated).apply()
    assert [r.state for r in again.scores] == [ScoreState.UNCHANGED]
    assert not (await Maestro(cluster).add(rotated).plan()).has_changes

    # The digest tells nothing: neither a value nor a plain hash of the values appears anywhere.
    shown = json.dumps(template_of(server)) + repr(planned) + repr(applied)
    plain = json.dumps({"DATABASE_URL": DATABASE_URL, "SHOP_API_KEY": "rotated-api-key"}, sort_keys=True, separators=(",", ":"))
    for value in ("rotated-api-key", API_KEY, DATABASE_URL, hashlib.sha256(plain.encode()).hexdigest(),
                  hashlib.sha256(b"rotated-api-key").hexdigest()):  # fmt: skip
        assert value not in shown


def test_the_digest_depends_on_every_value_and_on_the_key() -> None:
    key, other_key = Secret("k" * 32), Secret("o" * 32)
    values = {"A": Secret("1"), "B": Secret("2")}
    digest = secret_digest(values, key)
    assert digest == secret_digest(dict(reversed(values.items())), key)  # order does not matter
    assert digest != secret_digest({**values, "B": Secret("3")}, key)
    assert digest != secret_digest({"A": Secret("1"), "B2": Secret("")}, key)
    assert digest != secret_digest(values, other_key)
