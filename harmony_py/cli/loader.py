"""Turn a score file into the maestro it defines, with one clear error when it cannot."""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from harmony_py.errors import HarmonyError, ScoreFileError
from harmony_py.maestro import Maestro
from harmony_py.project import use_score_file

MAESTRO_NAME = "maestro"


def load_maestro(file: str) -> Maestro[Any]:
    path = Path(file)
    if not path.exists():
        raise ScoreFileError(f"score file {file} not found")
    if not path.is_file():
        raise ScoreFileError(f"score file {file} is not a file")
    # State (generated passwords, the apply lock) belongs to the file's project, not the working directory.
    use_score_file(path)
    module = _execute(path)
    if not hasattr(module, MAESTRO_NAME):
        raise ScoreFileError(no_maestro_message(file))
    maestro = getattr(module, MAESTRO_NAME)
    if not isinstance(maestro, Maestro):
        raise ScoreFileError(
            f"`{MAESTRO_NAME}` in score file {file} is a {type(maestro).__name__}, "
            "not a harmony_py.Maestro"
        )
    return maestro


def no_maestro_message(file: str) -> str:
    """The error for a score file without a ``maestro`` (``check`` says it too, without running the file)."""
    return (
        f"score file {file} defines no `{MAESTRO_NAME}`: add a line such as "
        f"`{MAESTRO_NAME} = Maestro(LocalhostTopology()).add(...)`"
    )


def _execute(path: Path) -> ModuleType:
    module_name = f"_harmony_score_file_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ScoreFileError(f"score file {path} cannot be loaded as Python (it should end in .py)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # Let a score file import its neighbours, as `python FILE` would.
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise ScoreFileError(
            f"score file {path}, line {exc.lineno}: syntax error: {exc.msg}"
        ) from exc
    except HarmonyError as exc:
        raise ScoreFileError(f"score file {path}{_line_in(path, exc)}: {exc}") from exc
    except Exception as exc:
        raise ScoreFileError(
            f"score file {path}{_line_in(path, exc)}: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        sys.path.remove(str(path.resolve().parent))
    return module


def _line_in(path: Path, exc: BaseException) -> str:
    """', line N' for the deepest frame of the score file itself, if any."""
    resolved = str(path.resolve())
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == resolved or frame.filename == str(path):
            line = frame.lineno
    return f", line {line}" if line is not None else ""
