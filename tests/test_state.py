"""State belongs to the project and is guarded (adr/0005).

The secret store is found from the score file, never the working directory;
it refuses places others could tamper with; git never lists it. CLI cases
run ``python -m harmony_py`` in real subprocesses; ownership cases chown
files to ``nobody`` (the tests run as root).
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from harmony_py import project
from harmony_py.errors import NoProjectRootError, UnsafeStateError
from harmony_py.project import find_project_root, set_project_root
from tests.state_cli import cli_env, run_cli
from topologies.secret_store import ENV_VAR, SecretStore

KEY = "postgresql/app/app"


def password_score_file(directory: Path, target: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "score.py"
    path.write_text(
        textwrap.dedent(
            f"""
            from harmony_py import Maestro
            from tests.password_score import PasswordDigestScore
            from topologies import LocalhostTopology

            maestro = Maestro(LocalhostTopology()).add(PasswordDigestScore({KEY!r}, {str(target)!r}))
            """
        )
    )
    return path


@pytest.fixture
def nobody() -> int:
    if os.geteuid() != 0:
        pytest.skip("needs root to give files to another user")
    return pwd.getpwnam("nobody").pw_uid


@pytest.fixture
def no_env_override(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(ENV_VAR, raising=False)
    yield
    set_project_root(None)


# -- 1. the store is anchored to the score file ------------------------------------------


def test_plan_from_another_directory_plans_no_change_and_the_store_is_beside_the_score_file(tmp_path: Path) -> None:
    score = password_score_file(tmp_path / "project", tmp_path / "role-verifier")
    here, elsewhere = tmp_path / "a", tmp_path / "b"
    here.mkdir()
    elsewhere.mkdir()

    applied = run_cli("apply", "--yes", str(score), cwd=here)
    assert applied.returncode == 0, applied.stderr

    planned = run_cli("plan", "--detailed-exitcode", str(score), cwd=elsewhere)
    assert planned.returncode == 0, planned.stdout + planned.stderr  # found: "update password", a rotation
    assert "update password" not in planned.stdout
    assert (tmp_path / "project" / ".harmony" / "secrets" / KEY).is_file()
    assert not (here / ".harmony").exists() and not (elsewhere / ".harmony").exists()
    again = run_cli("apply", "--yes", str(score), cwd=elsewhere)
    assert again.returncode == 0 and "Nothing to do" in again.stdout, again.stdout + again.stderr


def test_score_file_in_a_subdirectory_shares_the_state_of_the_enclosing_project(tmp_path: Path) -> None:
    (tmp_path / ".harmony").mkdir(mode=0o700)
    score = password_score_file(tmp_path / "deploy" / "db", tmp_path / "role-verifier")
    applied = run_cli("apply", "--yes", str(score), cwd=tmp_path / "deploy")
    assert applied.returncode == 0, applied.stderr
    assert (tmp_path / ".harmony" / "secrets" / KEY).is_file()
    assert not (tmp_path / "deploy" / "db" / ".harmony").exists()


def test_project_root_is_the_nearest_directory_upwards_holding_harmony_state(tmp_path: Path) -> None:
    (tmp_path / "repo" / "deploy" / "db").mkdir(parents=True)
    assert find_project_root(tmp_path / "repo" / "deploy" / "db") == tmp_path / "repo" / "deploy" / "db"
    (tmp_path / "repo" / ".harmony").mkdir()
    assert find_project_root(tmp_path / "repo" / "deploy" / "db") == tmp_path / "repo"
    (tmp_path / "repo" / "deploy" / ".harmony").mkdir()
    assert find_project_root(tmp_path / "repo" / "deploy" / "db") == tmp_path / "repo" / "deploy"


def test_project_root_search_does_not_climb_into_a_directory_others_can_write(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (shared / "mine").mkdir(parents=True)
    (shared / ".harmony").mkdir()  # planted by someone else in a directory everyone writes
    shared.chmod(0o777)
    assert find_project_root(shared / "mine") == shared / "mine"
    shared.chmod(0o775)  # a team's group-writable project directory is climbed
    assert find_project_root(shared / "mine") == shared


def test_harmony_secrets_dir_still_overrides_the_project_store(tmp_path: Path) -> None:
    score = password_score_file(tmp_path / "project", tmp_path / "role-verifier")
    env = {**cli_env(), ENV_VAR: str(tmp_path / "elsewhere" / "secrets")}
    applied = subprocess.run(
        [sys.executable, "-m", "harmony_py", "apply", "--yes", str(score)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert applied.returncode == 0, applied.stderr
    assert (tmp_path / "elsewhere" / "secrets" / KEY).is_file()
    assert not (tmp_path / "project" / ".harmony" / "secrets").exists()


def test_library_use_from_a_script_keeps_state_beside_the_script_not_the_working_directory(tmp_path: Path) -> None:
    script = tmp_path / "tool" / "ops.py"
    script.parent.mkdir()
    script.write_text(f"from topologies.secret_store import SecretStore\nSecretStore().get_or_create({KEY!r})\n")
    (tmp_path / "cwd").mkdir()
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=cli_env(), cwd=tmp_path / "cwd")
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "tool" / ".harmony" / "secrets" / KEY).is_file()
    assert not (tmp_path / "cwd" / ".harmony").exists()


def test_library_use_with_no_script_file_is_refused_rather_than_using_the_working_directory(tmp_path: Path) -> None:
    code = f"from topologies.secret_store import SecretStore\nSecretStore().get_or_create({KEY!r})\n"
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), cwd=tmp_path)
    assert ran.returncode != 0
    assert "NoProjectRootError" in ran.stderr and "set_project_root" in ran.stderr
    assert not (tmp_path / ".harmony").exists()


def test_set_project_root_places_the_store_for_library_users(tmp_path: Path, no_env_override: None) -> None:
    assert set_project_root(tmp_path / "ops") == tmp_path / "ops"
    (tmp_path / "ops").mkdir()
    SecretStore().get_or_create(KEY)
    assert (tmp_path / "ops" / ".harmony" / "secrets" / KEY).is_file()
    set_project_root(None)
    # Under pytest __main__ is an installed program, not a project: refused, not guessed.
    with pytest.raises(NoProjectRootError):
        project.project_root()


# -- 2. the store refuses places others could tamper with ---------------------------------


def private_store(tmp_path: Path) -> SecretStore:
    store = SecretStore(tmp_path / "secrets")
    store.get_or_create(KEY)
    return store


def test_world_writable_store_with_a_file_planted_by_nobody_is_refused(tmp_path: Path, nobody: int) -> None:
    store = SecretStore(tmp_path / "secrets")
    (tmp_path / "secrets").mkdir(mode=0o700)
    (tmp_path / "secrets").chmod(0o777)
    planted = tmp_path / "secrets" / "postgresql" / "app"
    planted.mkdir(parents=True, mode=0o700)
    (planted / "app").write_text("chosen-by-nobody\n")
    (planted / "app").chmod(0o600)
    for path in (planted.parent, planted, planted / "app"):
        os.chown(path, nobody, -1)
    with pytest.raises(UnsafeStateError) as refused:
        store.get_or_create(KEY)
    message = str(refused.value)
    assert f"{tmp_path / 'secrets'} is writable by others (mode 0777)" in message
    assert f"chmod go-w {tmp_path / 'secrets'}" in message


def test_secret_file_owned_by_another_user_is_refused(tmp_path: Path, nobody: int) -> None:
    store = private_store(tmp_path)
    os.chown(store.path_of(KEY), nobody, -1)
    with pytest.raises(UnsafeStateError, match=f"secret file {store.path_of(KEY)} is owned by nobody, not by root"):
        store.get(KEY)


def test_store_subdirectory_owned_by_another_user_is_refused(tmp_path: Path, nobody: int) -> None:
    store = private_store(tmp_path)
    os.chown(store.path_of(KEY).parent, nobody, -1)
    with pytest.raises(UnsafeStateError, match=f"{store.path_of(KEY).parent} is owned by nobody.*chown root"):
        store.get(KEY)


def test_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    store = private_store(tmp_path)
    store.path_of(KEY).chmod(0o640)
    with pytest.raises(UnsafeStateError, match=f"readable by others \\(mode 0640\\); chmod 600 {store.path_of(KEY)}"):
        store.get(KEY)


def test_store_directory_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "secrets").symlink_to(tmp_path / "real")
    with pytest.raises(UnsafeStateError, match=f"{tmp_path / 'secrets'} is a symlink \\(to {tmp_path / 'real'}\\)"):
        SecretStore(tmp_path / "secrets").get_or_create(KEY)
    assert list((tmp_path / "real").iterdir()) == []


def test_dangling_symlink_as_a_secret_file_is_refused_with_a_message_not_an_empty_assertion(tmp_path: Path) -> None:
    store = private_store(tmp_path)
    store.path_of(KEY).unlink()
    store.path_of(KEY).symlink_to(tmp_path / "nowhere")
    with pytest.raises(UnsafeStateError, match=f"secret file {store.path_of(KEY)} is a symlink.*rm {store.path_of(KEY)}"):
        store.get_or_create(KEY)
    assert not (tmp_path / "nowhere").exists()


def test_dangling_symlink_as_the_store_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secrets").symlink_to(tmp_path / "nowhere")
    with pytest.raises(UnsafeStateError, match="is a symlink"):
        SecretStore(tmp_path / "secrets").get_or_create(KEY)


def test_state_directory_others_can_write_is_refused_even_when_the_store_inside_is_private(
    tmp_path: Path, no_env_override: None
) -> None:
    set_project_root(tmp_path)
    store = SecretStore()
    store.get_or_create(KEY)
    (tmp_path / ".harmony").chmod(0o770)
    with pytest.raises(UnsafeStateError, match=f"{tmp_path / '.harmony'} is writable by others \\(mode 0770\\)"):
        store.get(KEY)


def test_store_below_a_directory_everyone_can_write_without_the_sticky_bit_is_refused(tmp_path: Path) -> None:
    store = private_store(tmp_path / "open")
    (tmp_path / "open").chmod(0o777)
    with pytest.raises(UnsafeStateError, match=f"{tmp_path / 'open'} \\(above {store.root}\\) is writable by everyone"):
        store.get(KEY)
    (tmp_path / "open").chmod(0o1777)  # sticky, as /tmp: others cannot rename what is ours
    assert store.get(KEY) is not None


def test_cli_plan_names_the_unsafe_store_and_uses_nothing_from_it(tmp_path: Path) -> None:
    score = password_score_file(tmp_path / "project", tmp_path / "role-verifier")
    secrets = tmp_path / "project" / ".harmony" / "secrets"
    secrets.mkdir(parents=True)
    secrets.chmod(0o777)
    result = run_cli("plan", "--json", str(score), cwd=tmp_path)
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert f"{secrets} is writable by others" in json.dumps(document)


# -- 3. git never lists the store -----------------------------------------------------------


def git_untracked(repo: Path) -> list[str]:
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--ignored=no"],
        cwd=repo, capture_output=True, text=True, check=True,
    )
    return sorted(line[3:] for line in status.stdout.splitlines())


def test_git_status_in_the_project_never_lists_generated_passwords(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    score = password_score_file(repo, tmp_path / "role-verifier")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    applied = run_cli("apply", "--yes", str(score), cwd=repo)
    assert applied.returncode == 0, applied.stderr
    assert git_untracked(repo) == ["score.py"]
    assert (repo / ".harmony" / "secrets" / KEY).is_file()
    assert (repo / ".harmony" / ".gitignore").read_text() == "*\n"


def test_a_store_moved_into_a_repository_by_harmony_secrets_dir_carries_its_own_gitignore(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    SecretStore(repo / "ops" / "secrets").get_or_create(KEY)
    assert git_untracked(repo) == []
    assert (repo / "ops" / "secrets" / ".gitignore").read_text() == "*\n"
