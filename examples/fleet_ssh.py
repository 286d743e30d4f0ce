"""The same files, directory and package on a fleet of Debian hosts over SSH.

    HARMONY_HOSTS="web1 deploy@web2:2222" python -m harmony_py apply examples/fleet_ssh.py --parallel 20

Host keys must already be in ~/.ssh/known_hosts (or set accept_new_host_key=True below).
"""

import os

from harmony_py import Maestro, Secret
from harmony_py.scores import CommandScore, DirectoryScore, FileScore, PackageScore
from topologies import LinuxHostTopology, linux_hosts

HOSTS = os.environ.get("HARMONY_HOSTS", "localhost").split()

defaults = LinuxHostTopology("defaults", user="root", connect_timeout_s=10.0)

maestro = Maestro(linux_hosts(HOSTS, like=defaults)).add(
    PackageScore(["rsync"]),
    DirectoryScore("/srv/app", mode=0o755),
    FileScore("/srv/app/app.conf", "port = 8080\nworkers = 4\n", mode=0o644),
    FileScore("/srv/app/token", Secret(os.environ.get("APP_TOKEN", "change-me"))),
    CommandScore(["sh", "-c", "date -u > /srv/app/installed-at"], creates="/srv/app/installed-at"),
)
