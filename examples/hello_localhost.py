"""The README's main job: a directory, a file and a guarded command on this machine.

    python -m harmony_py apply examples/hello_localhost.py
"""

import os
import tempfile

from harmony_py import Maestro
from harmony_py.scores import CommandScore, DirectoryScore, FileScore
from topologies import LocalhostTopology

# realpath: where the temporary directory is reached through a link (macOS's /var), FileScore would refuse it.
ROOT = os.environ.get("HARMONY_HELLO_DIR", os.path.join(os.path.realpath(tempfile.gettempdir()), "harmony_py-hello"))

maestro = Maestro(LocalhostTopology()).add(
    DirectoryScore(ROOT, mode=0o755),
    FileScore(f"{ROOT}/motd", "Hello from harmony_py.\nThis file is managed: edits are reverted.\n"),
    FileScore(f"{ROOT}/app.conf", "port = 8080\nworkers = 4\n", mode=0o640),
    CommandScore(
        ["sh", "-c", f"date -u +%Y-%m-%dT%H:%M:%SZ > {ROOT}/first-apply"],
        creates=f"{ROOT}/first-apply",
    ),
)
