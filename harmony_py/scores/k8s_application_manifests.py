"""The Kubernetes objects of one application (``AppSpec``): a Secret, a Deployment and a Service.

Built here, beside the scores, so that the cluster's application runtime
(``topologies.k8s.applications``, apply) and ``harmony_py.render`` (files)
send the same objects. What each object holds is described there.

A database URL whose server is verified with a CA certificate (``spec.authorities``,
adr/0103) gets that certificate in ConfigMap ``<name>-authorities`` (it is public),
mounted at :data:`AUTHORITIES_MOUNT`, and its ``sslrootcert`` points there: the
endpoint's own path is on the database's host, not in the application's Pod.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from capabilities.application import AppSpec, authorities_beside
from harmony_py.values import Secret

SECRET_DIGEST_ANNOTATION = "harmony.dev/secret-digest"
AUTHORITIES_MOUNT = "/etc/harmony/authorities"
"""Where an application's Pods read the CA certificates their database URLs verify servers with."""


def secret_name(spec: AppSpec) -> str:
    return f"{spec.name}-env"


def authorities_name(spec: AppSpec) -> str:
    return f"{spec.name}-authorities"


def placed_authorities(spec: AppSpec) -> tuple[dict[str, str | Secret], dict[str, str]]:
    """The application's environment with each database URL that has an authority verifying the server
    with the copy mounted in its Pods, and that ConfigMap's data (``<VARIABLE>.root.crt``: PEM)."""
    placed = authorities_beside(spec, AUTHORITIES_MOUNT)
    return placed.env, {path.rpartition("/")[2]: pem for path, pem in placed.files.items()}


def secret_values(spec: AppSpec) -> Mapping[str, Secret]:
    """The values of the application's Secret, as its Pods read them (URLs verifying with the mounted CA)."""
    env, _ = placed_authorities(spec)
    return {key: value for key, value in env.items() if isinstance(value, Secret)}


def application_manifests(spec: AppSpec, secret_digest: str | None) -> list[dict[str, Any]]:
    """The application's objects, in the order they are applied (the Secret and ConfigMap before their readers).

    ``secret_digest`` goes on the pod template (a changed secret then rolls the pods); ``None``
    leaves it out (nothing secret, or rendered files, which hold no secret).
    """
    labels = {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/managed-by": "harmony"}
    selector = {"app.kubernetes.io/name": spec.name}
    placed, authorities = placed_authorities(spec)
    secrets = {key: value for key, value in placed.items() if isinstance(value, Secret)}
    env: list[dict[str, Any]] = [{"name": "PORT", "value": str(spec.port)}, {"name": "HOST", "value": "0.0.0.0"}]
    for key, value in sorted(placed.items()):
        if isinstance(value, Secret):
            env.append({"name": key, "valueFrom": {"secretKeyRef": {"name": secret_name(spec), "key": key}}})
        else:
            env.append({"name": key, "value": value})
    container: dict[str, Any] = {
        "name": spec.name,
        "image": spec.image,
        "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
        "env": env,
        "readinessProbe": {"httpGet": {"path": spec.health_path, "port": "http"}, "periodSeconds": 5},
    }
    if spec.command:
        container["args"] = list(spec.command)
    pod: dict[str, Any] = {"containers": [container]}
    if authorities:
        container["volumeMounts"] = [{"name": "authorities", "mountPath": AUTHORITIES_MOUNT, "readOnly": True}]
        pod["volumes"] = [{"name": "authorities", "configMap": {"name": authorities_name(spec)}}]
    template_metadata: dict[str, Any] = {"labels": labels}
    if secret_digest is not None:
        template_metadata["annotations"] = {SECRET_DIGEST_ANNOTATION: secret_digest}
    objects: list[dict[str, Any]] = []
    if authorities:
        # Public certificates: a ConfigMap, shown in plans; a new one is read at the next connection.
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": authorities_name(spec), "labels": labels},
                "data": authorities,
            }
        )
    if secrets:
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": secret_name(spec), "labels": labels},
                "type": "Opaque",
                "data": {key: base64.b64encode(value.reveal().encode()).decode() for key, value in sorted(secrets.items())},
            }
        )
    objects.append(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": spec.name, "labels": labels},
            "spec": {
                "replicas": spec.replicas,
                "selector": {"matchLabels": selector},
                "template": {"metadata": template_metadata, "spec": pod},
            },
        }
    )
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": spec.name, "labels": labels},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": spec.port, "targetPort": "http", "protocol": "TCP"}]},
        }
    )
    return objects
