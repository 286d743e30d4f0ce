"""The application tests' real parts: PostgreSQL servers, a Docker engine with the shop image, an nginx.

PostgreSQL and the engine come from the postgres and docker suites' fixtures
(each its own instance here); applications answer on 127.36.0.0/16, the
addresses this area owns. Every application a test deploys is removed
afterwards, also when the test fails.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docker.conftest import Engine, balancer_root, engine
from tests.ports import port_is_free
from tests.postgres.conftest import pg_root

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

import shop_app  # noqa: E402  (the example's package, found through EXAMPLES)

__all__ = ["balancer_root", "engine", "pg_root"]


def free_port(host: str = "127.0.0.1", below: int = 30000) -> int:
    """A port free on ``host``, below the kernel's ephemeral range."""
    chooser = random.Random()
    for _ in range(200):
        port = chooser.randrange(20000, below)
        if port_is_free(port, host) and port_is_free(port, "127.0.0.1"):
            return port
    raise RuntimeError(f"no free port on {host}")


@pytest.fixture(scope="session")
def shop_image(engine: Engine) -> str:
    """The shop's image, imported into the suite's engine."""
    shop_app.build_image(engine.client)
    return shop_app.IMAGE
