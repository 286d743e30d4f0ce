"""A web host end to end: its account, app directory, configuration, service, cron job and a kernel setting.

    HARMONY_HOST=web1 HARMONY_USER=ops SHOP_TOKEN=... python -m harmony_py apply examples/web_host.py

The login needs passwordless sudo; the host needs busybox (Debian package
busybox-static, installed below) and runit or systemd. The service is
restarted exactly when its configuration changed in the apply.
"""

from __future__ import annotations

import os

from capabilities.command_runner import CommandRunner
from harmony_py import Maestro, Score, Secret
from harmony_py.scores import (
    CronScore,
    DirectoryScore,
    FileScore,
    GroupScore,
    PackageScore,
    ServiceScore,
    SysctlScore,
    TemplateScore,
    UserScore,
)
from topologies import LinuxHostTopology

CONFIG = """\
# {{ name }}: written by harmony_py
PORT={{ port }}
TOKEN='{{ token }}'
"""


def web_host(name: str, *, port: int, token: Secret, greeting: str = "hello") -> list[Score[CommandRunner]]:
    """The scores of one web application ``name`` served by busybox httpd on ``port`` under the host's supervisor."""
    home = f"/srv/{name}"
    config = TemplateScore(
        f"/etc/{name}/{name}.conf", CONFIG, {"name": name, "port": port, "token": token}, owner="root", group=name, mode=0o640
    )
    serve = f". /etc/{name}/{name}.conf && exec busybox httpd -f -p \"127.0.0.1:$PORT\" -h {home}/public"
    return [
        PackageScore(["busybox-static"]),
        GroupScore(name, system=True),
        # The user's home is the app directory: created with the user, owned by it.
        UserScore(name, group=name, home=home, shell="/usr/sbin/nologin", system=True),
        DirectoryScore(f"{home}/public", mode=0o755),
        FileScore(f"{home}/public/index.html", f"<h1>{greeting} from {name}</h1>\n"),
        DirectoryScore(f"/etc/{name}", mode=0o755),
        config,
        ServiceScore(name, command=serve, user=name, directory=home, restart_on=[config]),
        CronScore(f"{name}-tmp-cleanup", "17 4 * * *", f"find {home}/tmp -type f -mtime +7 -delete", user=name),
        SysctlScore("net.core.somaxconn", 1024),
    ]


maestro = Maestro(
    LinuxHostTopology(os.environ.get("HARMONY_HOST", "web1"), user=os.environ.get("HARMONY_USER", "ops"), sudo=True)
).add(*web_host("shop", port=8080, token=Secret(os.environ.get("SHOP_TOKEN", "change-me"))))
