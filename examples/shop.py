"""The shop: a web application and its PostgreSQL database, from one contract, on any platform.

From a clone, after the README's set-up command, as root with Debian's ``runit``
(``apt-get install runit``; PostgreSQL 15 is installed with apt when missing)::

    .venv/bin/pip install -q -e '.[examples]'     # the shop's app needs psycopg
    .venv/bin/python -m harmony_py plan  examples/shop.py
    .venv/bin/python -m harmony_py apply examples/shop.py
    curl -d '{"item": "tea"}' http://127.0.0.1:8080/orders; curl http://127.0.0.1:8080/orders

The contract below does not change from one platform to another; only the
line choosing the topology does (here ``SHOP_TOPOLOGY``: localhost, docker,
failover, failover-auto, linux or k8s; see shop_app/platforms.py). The database's endpoint flows to
the application as ``DATABASE_URL`` when the database exists; its password is
generated once, kept 0600, and never printed. The application runs on the
interpreter harmony_py runs with (no need to activate the virtualenv). For
``docker``, import the image first:
``.venv/bin/python -c 'import docker, shop_app; shop_app.build_image(docker.from_env())'``
(run in examples/).
"""

import os

import shop_app
from shop_app.platforms import from_environment

from harmony_py import Maestro, Secret
from harmony_py.scores import ApplicationScore, PostgreSQLDatabase

shop = ApplicationScore(
    "shop",
    image=shop_app.IMAGE,
    command=shop_app.COMMAND,
    source=str(shop_app.HERE),
    replicas=2,
    port=int(os.environ.get("SHOP_PORT", "8080")),
    health_path="/health",
    database=PostgreSQLDatabase(version=15, port=int(os.environ.get("SHOP_DB_PORT", "25433"))),
    secrets={"SHOP_API_KEY": Secret(os.environ.get("SHOP_API_KEY", "change-me"))},
    env={"SHOP_CURRENCY": "EUR"},
)

maestro = Maestro(from_environment()).add(shop)
