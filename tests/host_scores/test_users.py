"""UserScore and GroupScore on the throw-away host, as root and through sudo (its own /etc and /home)."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

from harmony_py import ScoreValueError
from harmony_py.scores import GroupScore, TemplateScore, UserScore

from .conftest import TopologyFactory
from .helpers import rounds, summaries
from .private_host import PrivateHost

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE deploy@ci"


def _passwd(private: PrivateHost, name: str) -> list[str]:
    return private.run("getent", "passwd", name).stdout.strip().split(":")


def test_a_group_and_a_user_in_it_are_created_then_noop_then_removed_keeping_the_home(
    private: PrivateHost, ssh_login: TopologyFactory
) -> None:
    group, user = GroupScore("hztshop", gid=23456), UserScore(
        "hztshop", group="hztshop", home="/home/hztshop", shell="/bin/sh", ssh_authorized_keys=[KEY]
    )
    result = anyio.run(rounds, ssh_login(), group, user)
    result.assert_converged()
    assert summaries(result.planned)[:2] == [
        "create group hztshop (gid 23456)",
        "create user hztshop (group hztshop, home /home/hztshop, shell /bin/sh)",
    ]
    fields = _passwd(private, "hztshop")
    assert fields[3] == "23456" and fields[5:] == ["/home/hztshop", "/bin/sh"]
    keys = private.path("/home/hztshop/.ssh/authorized_keys")
    assert keys.read_text() == KEY + "\n" and keys.stat().st_mode & 0o777 == 0o600 and keys.stat().st_uid == int(fields[2])

    gone = anyio.run(rounds, ssh_login(), UserScore("hztshop", present=False), GroupScore("hztshop", present=False))
    gone.assert_converged()
    assert summaries(gone.planned)[0] == "remove user hztshop (its home /home/hztshop is kept)"
    assert private.run("getent", "passwd", "hztshop", check=False).returncode == 2
    assert private.path("/home/hztshop").is_dir()
    private.run("rm", "-rf", "/home/hztshop")


def test_shell_and_supplementary_groups_change_in_place(private: PrivateHost, ssh_login: TopologyFactory) -> None:
    setup = (GroupScore("hztadm"), GroupScore("hztweb"), UserScore("hztops", shell="/bin/sh", groups=["hztadm"]))
    anyio.run(rounds, ssh_login(), *setup).assert_converged()
    uid = _passwd(private, "hztops")[2]
    changed = anyio.run(rounds, ssh_login(), UserScore("hztops", shell="/bin/bash", groups=["hztweb"]))
    changed.assert_converged()
    assert sorted(summaries(changed.planned)) == [
        "groups of user hztops: hztadm -> hztweb",
        "shell of user hztops: /bin/sh -> /bin/bash",
    ]
    assert _passwd(private, "hztops")[2] == uid and _passwd(private, "hztops")[6] == "/bin/bash"
    assert "hztops" in private.run("getent", "group", "hztweb").stdout
    assert "hztops" not in private.run("getent", "group", "hztadm").stdout
    teardown = (UserScore("hztops", present=False, remove_home=True), GroupScore("hztadm", present=False), GroupScore("hztweb", present=False))
    anyio.run(rounds, ssh_login(), *teardown).assert_converged()
    assert not private.path("/home/hztops").exists()


def test_a_file_owned_by_a_user_made_in_the_same_apply(private: PrivateHost, ssh_login: TopologyFactory) -> None:
    scores = (
        UserScore("hztapp", system=True, home="/srv/hztapp", shell="/usr/sbin/nologin"),
        TemplateScore("/srv/hztapp/app.conf", "user = {{ user }}\n", {"user": "hztapp"}, owner="hztapp", group="hztapp", mode=0o640),
    )
    result = anyio.run(rounds, ssh_login(), *scores)
    result.assert_converged()
    assert "owner of /srv/hztapp/app.conf -> hztapp:hztapp (hztapp, hztapp not on the host yet)" in summaries(result.planned)
    info = private.path("/srv/hztapp/app.conf").stat()
    assert str(info.st_uid) == _passwd(private, "hztapp")[2] and info.st_mode & 0o777 == 0o640
    anyio.run(rounds, ssh_login(), UserScore("hztapp", present=False, remove_home=True)).assert_converged()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: UserScore("Root"), "must be a user or group name"),
        (lambda: UserScore("hzt; rm -rf /"), "must be a user or group name"),
        (lambda: UserScore("hztx", uid=-1), "must be a number from 0"),
        (lambda: UserScore("hztx", shell="bash"), "absolute path"),
        (lambda: UserScore("hztx", groups="adm"), "must be a list of group names"),
        (lambda: UserScore("hztx", ssh_authorized_keys=["not-a-key"]), "is not one public key line"),
        (lambda: GroupScore("hzt-x", gid=True), "must be a number from 0"),
    ],
)
def test_bad_input_is_refused_when_the_score_is_made(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ScoreValueError, match=message):
        make()
