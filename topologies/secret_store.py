"""Generated passwords, kept 0600 on the machine running harmony_py (see adr/0021).

A password is generated once, on first need, and read back on every later
run, so re-applying a score never rotates it by accident. The store lives
with the project: ``$HARMONY_SECRETS_DIR`` if set, else ``.harmony/secrets``
under the working directory (git-ignored). Directories are 0700, files 0600.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from harmony_py.errors import HarmonyError
from harmony_py.secret import Secret

ENV_VAR = "HARMONY_SECRETS_DIR"
DEFAULT_DIR = Path(".harmony") / "secrets"
_KEY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


def secrets_dir() -> Path:
    configured = os.environ.get(ENV_VAR)
    return Path(configured) if configured else Path.cwd() / DEFAULT_DIR


class SecretStore:
    """Named secrets as files under one directory."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else secrets_dir()
        self._drafts: dict[str, Secret] | None = None

    def for_plan(self) -> SecretStore:
        """A view for plans: it reads stored secrets and never stores one.

        What apply would generate is drafted in memory instead (the same draft
        for a key within this view), so a plan compares against a value that
        cannot match anything live and reports the change, mutating nothing.
        """
        view = SecretStore(self.root)
        view._drafts = {}
        return view

    def path_of(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise HarmonyError(f"secret key {key!r} must be slash-separated names of letters, digits, '_', '.', '-'")
        return self.root / key

    def get(self, key: str) -> Secret | None:
        path = self.path_of(key)
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            return None
        if mode & 0o077:
            raise HarmonyError(f"secret file {path} is readable by others (mode {mode:04o}); chmod 600 it")
        return Secret(path.read_text(encoding="utf-8").rstrip("\n"))

    def get_or_create(self, key: str) -> Secret:
        """The stored secret, or a new random one stored first (only drafted in a plan view)."""
        found = self.get(key)
        if found is not None:
            return found
        value = secrets.token_urlsafe(24)
        if self._drafts is not None:
            return self._drafts.setdefault(key, Secret(value))
        self._write_new(self.path_of(key), value)
        # Another process may have won the race: whatever is stored is the truth.
        stored = self.get(key)
        assert stored is not None
        return stored

    def _write_new(self, path: Path, value: str) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        relative = path.parent.relative_to(self.root)
        current = self.root
        for part in relative.parts:
            current = current / part
            current.mkdir(mode=0o700, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
