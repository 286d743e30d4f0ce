"""The shop's image: a busybox root filesystem with the shop's server, run on the host's Python.

No registry is reachable where the examples and tests run, so the image is made
with ``docker import`` from a tar built here: busybox (a shell, and ``wget``
for the health check) and ``server.py``. The interpreter, its standard library
and psycopg are not copied in: they are the host's, bind-mounted read-only
when a container runs (:func:`host_paths`), which keeps the image at about
2 MB (see adr/0056).
"""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SERVER = HERE / "server.py"
BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "wget", "cat", "env", "true")
IMAGE = "harmony-example/shop:1"
COMMAND = (sys.executable, "server.py")
"""What runs: in the image's /app, or in this directory when run as a local process.

The interpreter harmony_py runs with, by its path, not ``python3`` from PATH: it has
psycopg once the ``examples`` extra is installed (``pip install -e '.[examples]'``),
whether or not its virtualenv is activated; in a container it is found where it
is mounted (see :func:`host_paths`).
"""


def host_paths() -> tuple[str, ...]:
    """The host directories a container of the image needs: this Python (its virtualenv too) and the C library.

    Paths inside another one of the list are left out (a system Python's prefix is /usr).
    """
    wanted = [sys.prefix, sys.base_prefix, "/usr/lib", "/usr/lib64"]
    existing = sorted({path for path in wanted if os.path.isdir(path)})
    return tuple(path for path in existing if not any(path.startswith(f"{other}/") for other in existing))


def image_tar() -> bytes:
    """The root filesystem of the image, as the tar ``docker import`` reads."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory, mode in (("bin", 0o755), ("app", 0o755), ("tmp", 0o1777), ("usr", 0o755)):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64")):
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        tar.add(str(BUSYBOX), arcname="bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        tar.add(str(SERVER), arcname="app/server.py")
    return buffer.getvalue()


def image_changes() -> list[str]:
    """The image's configuration: where the host's Python will be, and what runs."""
    # COMMAND's interpreter is this one (a virtualenv's has psycopg), found where it is mounted.
    path = f"{os.path.dirname(sys.executable)}:{sys.base_prefix}/bin:/bin"
    return ["WORKDIR /app", f"ENV PATH={path}", f"CMD {json.dumps(list(COMMAND))}"]


def build_image(client: Any, reference: str = IMAGE) -> str:
    """Import the image into the engine ``client`` (a docker.DockerClient); return its id."""
    repository, _, tag = reference.rpartition(":")
    client.api.import_image_from_data(image_tar(), repository=repository, tag=tag, changes=image_changes())
    image_id: str = client.images.get(reference).id
    return image_id
