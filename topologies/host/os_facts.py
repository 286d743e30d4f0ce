"""What a host says about itself: its operating system (``/etc/os-release``) and the user harmony_py runs as."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

OS_RELEASE = Path("/etc/os-release")


def os_facts(os_release: Path = OS_RELEASE) -> Mapping[str, str]:
    """This machine's facts from ``os_release``; ``os`` is ``unknown`` when it cannot be read."""
    try:
        text = os_release.read_text(encoding="utf-8")
    except OSError:
        return {"os": "unknown"}
    return parse_os_release(text)


def parse_os_release(text: str) -> dict[str, str]:
    """The facts scores adapt to, from the text of /etc/os-release."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            fields[key.strip()] = value.strip().strip('"').strip("'")
    return {
        "os": fields.get("PRETTY_NAME", fields.get("NAME", "unknown")),
        "os_id": fields.get("ID", "unknown"),
        "os_version": fields.get("VERSION_ID", ""),
    }


def current_user() -> str:
    """The name of the user this process runs as (its uid when it has no name)."""
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (KeyError, ImportError):
        return str(os.getuid())
