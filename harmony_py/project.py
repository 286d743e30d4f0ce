"""Where a project's state lives: the project root and its ``.harmony/`` directory (adr/0005).

harmony_py keeps state on the machine running it, per project: generated
passwords (``.harmony/secrets/``) and the lock that lets one apply run at a
time (``.harmony/apply.lock``). Which project a run belongs to never depends
on the working directory:

- **A score file** (``python -m harmony_py plan|apply FILE``): the project
  root is the nearest directory, from the file's own directory upwards, that
  holds a ``.harmony`` directory; if none does, the file's directory. The
  search does not climb into a directory everyone can write (such as ``/tmp``).
- **Library use** (your own tool imports harmony_py): the root you give with
  :func:`set_project_root`; else the same search from the script being run
  (``__main__``'s file), unless that is an installed program; else
  :class:`NoProjectRootError`, raised when state is first needed.

``$HARMONY_SECRETS_DIR`` still moves the secret store (not the lock) elsewhere.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from .errors import HarmonyError, NoProjectRootError
from .state_guard import require_no_open_ancestor, require_private_directory

STATE_DIR_NAME = ".harmony"
_GITIGNORE_NAME = ".gitignore"
_IGNORE_EVERYTHING = "*\n"  # git then ignores the directory's files, this one included

_chosen_root: Path | None = None


def set_project_root(path: str | os.PathLike[str] | None) -> Path | None:
    """Keep this project's state in ``path/.harmony`` (None: back to the default rule).

    For tools that import harmony_py and apply scores without a score file.
    Returns the absolute root.
    """
    global _chosen_root
    _chosen_root = None if path is None else Path(os.path.abspath(path))
    return _chosen_root


def use_score_file(score_file: Path) -> Path:
    """Make the project of ``score_file`` the current one (what the CLI does before loading it)."""
    root = find_project_root(Path(os.path.realpath(score_file)).parent)
    set_project_root(root)
    return root


def find_project_root(start: Path) -> Path:
    """The nearest directory from ``start`` upwards holding ``.harmony``, else ``start``.

    The search stops below a directory everyone can write (``/tmp``): what
    others put there is no project of yours.
    """
    start = Path(os.path.abspath(start))
    for directory in (start, *start.parents):
        marker = directory / STATE_DIR_NAME
        if marker.is_dir() or marker.is_symlink():  # a link is refused loudly later, not skipped
            return directory
        if _writable_by_everyone(directory.parent):
            break
    return start


def project_root() -> Path:
    """The current project's root, by the rules in this module's docstring."""
    if _chosen_root is not None:
        return _chosen_root
    script = _main_script()
    if script is not None:
        return find_project_root(script.parent)
    raise NoProjectRootError(
        "harmony_py does not know which project this run belongs to, so it has nowhere to keep generated "
        "passwords or the apply lock: call harmony_py.set_project_root(path) first, or set "
        "HARMONY_SECRETS_DIR (harmony_py never uses the working directory for this)"
    )


def state_dir() -> Path:
    """``.harmony`` in the project root (it may not exist yet)."""
    return project_root() / STATE_DIR_NAME


def ensure_state_dir() -> Path:
    """The project's ``.harmony`` directory, created 0700 with a ``.gitignore`` and checked private."""
    directory = state_dir()
    require_no_open_ancestor(directory)
    if not os.path.lexists(directory):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            pass  # another run made it first; it is checked like any other
        except OSError as exc:
            raise HarmonyError(
                f"cannot create harmony_py's state directory {directory}: {exc.strerror}; make the project "
                "directory writable, or call harmony_py.set_project_root(path) for another one"
            ) from None
    require_private_directory(directory)
    keep_out_of_git(directory)
    return directory


def keep_out_of_git(directory: Path) -> None:
    """Give ``directory`` a ``.gitignore`` of ``*``, so ``git status`` never lists what is in it."""
    try:
        fd = os.open(directory / _GITIGNORE_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(_IGNORE_EVERYTHING)


def _main_script() -> Path | None:
    """The file of the script being run, unless there is none or it is an installed program."""
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    if not isinstance(file, str):
        return None  # interactive, `python -c`, or code read from stdin
    script = Path(os.path.realpath(file))
    installed = {Path(os.path.realpath(prefix)) for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    if any(script.is_relative_to(prefix) for prefix in installed):
        return None  # pytest, a console script in a virtualenv: not a project of its own
    return script


def _writable_by_everyone(directory: Path) -> bool:
    try:
        return bool(os.stat(directory).st_mode & stat.S_IWOTH)
    except OSError:
        return True  # cannot tell: do not climb
