"""The Kubernetes objects of one application (``AppSpec``): a Secret, a Deployment and a Service.

Built here, beside the scores, so that the cluster's application runtime
(``topologies.k8s.applications``, apply) and ``harmony_py.render`` (files)
send the same objects. What each object holds is described there.
"""

from __future__ import annotations

import base64
from typing import Any

from capabilities.application import AppSpec
from harmony_py.values import Secret

SECRET_DIGEST_ANNOTATION = "harmony.dev/secret-digest"


def secret_name(spec: AppSpec) -> str:
    return f"{spec.name}-env"


def application_manifests(spec: AppSpec, secret_digest: str | None) -> list[dict[str, Any]]:
    """The application's objects, in the order they are applied (the Secret before its readers).

    ``secret_digest`` goes on the pod template (a changed secret then rolls the pods); ``None``
    leaves it out (nothing secret, or rendered files, which hold no secret).
    """
    labels = {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/managed-by": "harmony"}
    selector = {"app.kubernetes.io/name": spec.name}
    secrets = {key: value for key, value in spec.env.items() if isinstance(value, Secret)}
    env: list[dict[str, Any]] = [{"name": "PORT", "value": str(spec.port)}, {"name": "HOST", "value": "0.0.0.0"}]
    for key, value in sorted(spec.env.items()):
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
    template_metadata: dict[str, Any] = {"labels": labels}
    if secret_digest is not None:
        template_metadata["annotations"] = {SECRET_DIGEST_ANNOTATION: secret_digest}
    objects: list[dict[str, Any]] = []
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
                "template": {"metadata": template_metadata, "spec": {"containers": [container]}},
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
