"""Three replicas of a web image behind nginx on this machine, updated without downtime.

    python -m harmony_py plan examples/replicated_web.py
    WEB_IMAGE=my-web:2.1 python -m harmony_py apply examples/replicated_web.py

Needs a Docker engine (DOCKER_HOST or /var/run/docker.sock) holding the image; nginx
is installed with apt when missing. Each replica listens on 127.0.0.1:$PORT and
answers /health; clients use 127.0.0.1:8080. A new version that never turns healthy
is rolled back and the run exits non-zero.
"""

import os

from harmony_py import Maestro
from harmony_py.scores import ReplicatedServiceScore, UpdatePolicy
from topologies import LocalhostTopology

maestro = Maestro(LocalhostTopology()).add(
    ReplicatedServiceScore(
        "web",
        os.environ.get("WEB_IMAGE", "my-web:2.0"),
        replicas=3,
        port=8080,
        health_path="/health",
        update=UpdatePolicy(parallelism=1, order="start-first", monitor_s=60, failure_action="rollback"),
    )
)
