"""Generated passwords, kept 0600 on the machine running harmony_py (adr/0021, adr/0005).

A password is generated once, on first need, and read back on every later
run, so re-applying a score never rotates it by accident. The store belongs
to the project, never to the working directory: ``$HARMONY_SECRETS_DIR`` if
set, else ``secrets/`` in the project's ``.harmony`` directory (see
:mod:`harmony_py.project`). Directories are 0700, files 0600, and the store
carries a ``.gitignore`` of ``*``. A store others could write, a symlink in
it, or a secret file someone else owns or can read is refused, naming the
path and the fix (:mod:`harmony_py.state_guard`).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

from harmony_py.errors import HarmonyError, UnsafeStateError
from harmony_py.project import ensure_state_dir, keep_out_of_git, state_dir
from harmony_py.state_guard import read_private_file, require_no_open_ancestor, require_private_directory
from harmony_py.values import Secret

ENV_VAR = "HARMONY_SECRETS_DIR"
SECRETS_DIR_NAME = "secrets"
_KEY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


def secrets_dir() -> Path:
    """``$HARMONY_SECRETS_DIR``, else ``secrets`` in the project's state directory."""
    configured = os.environ.get(ENV_VAR)
    return Path(os.path.abspath(configured)) if configured else state_dir() / SECRETS_DIR_NAME


class SecretStore:
    """Named secrets as files under one directory."""

    def __init__(self, root: Path | None = None) -> None:
        self._in_project = root is None and not os.environ.get(ENV_VAR)
        self.root = root if root is not None else secrets_dir()
        self._drafts: dict[str, Secret] | None = None

    def for_plan(self) -> SecretStore:
        """A view for plans: it reads stored secrets and never stores one.

        What apply would generate is drafted in memory instead (the same draft
        for a key within this view), so a plan compares against a value that
        cannot match anything live and reports the change, mutating nothing.
        """
        view = SecretStore(self.root)
        view._in_project = self._in_project
        view._drafts = {}
        return view

    def path_of(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise HarmonyError(f"secret key {key!r} must be slash-separated names of letters, digits, '_', '.', '-'")
        return self.root / key

    def get(self, key: str) -> Secret | None:
        path = self.path_of(key)
        if self._drafts is not None and key in self._drafts:
            return self._drafts[key]
        if not self._check_directories(path, create=False):
            return None
        text = read_private_file(path)
        return None if text is None else Secret(text.rstrip("\n"))

    def get_or_create(self, key: str, make: Callable[[], str] | None = None) -> Secret:
        """The stored secret, or a new one stored first (only drafted in a plan view).

        ``make`` makes the new value (a key and its certificate, say); by default a random password.
        """
        found = self.get(key)
        if found is not None:
            return found
        value = make() if make is not None else secrets.token_urlsafe(24)
        if self._drafts is not None:
            return self._drafts.setdefault(key, Secret(value))
        path = self.path_of(key)
        self._check_directories(path, create=True)
        self._write_new(path, value)
        # Another process may have won the race: whatever is stored is the truth.
        stored = self.get(key)
        if stored is None:
            raise UnsafeStateError(f"secret file {path} disappeared right after it was written; re-run")
        return stored

    def replace(self, key: str, value: str) -> Secret:
        """Store ``value`` under ``key`` in place of what was there (a rotation); only drafted in a plan view."""
        if self._drafts is not None:
            self._drafts[key] = Secret(value)
            return self._drafts[key]
        path = self.path_of(key)
        self._check_directories(path, create=True)
        fresh = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        self._write_new(fresh, value)
        # A rename is atomic: a reader sees the old value or the new one, never half of either.
        os.replace(fresh, path)
        stored = self.get(key)
        if stored is None:
            raise UnsafeStateError(f"secret file {path} disappeared right after it was written; re-run")
        return stored

    def _check_directories(self, path: Path, *, create: bool) -> bool:
        """Check (and with ``create``, make) each directory from the store's root to ``path``'s.

        False when one is missing and ``create`` is not set: nothing is stored there.
        """
        if self._in_project:
            state = self.root.parent
            if create:
                ensure_state_dir()
            elif os.path.lexists(state):
                require_private_directory(state)
        require_no_open_ancestor(self.root)
        if not os.path.lexists(self.root):
            if not create:
                return False
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        require_private_directory(self.root)
        if create:
            keep_out_of_git(self.root)
        current = self.root
        for part in path.parent.relative_to(self.root).parts:
            current = current / part
            if not os.path.lexists(current):
                if not create:
                    return False
                current.mkdir(mode=0o700, exist_ok=True)
            require_private_directory(current)
        return True

    def _write_new(self, path: Path, value: str) -> None:
        try:
            # O_EXCL never follows a link: a planted one makes this fail, then the read refuses it.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            return
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(value + "\n")
