"""Plan specifications of the scores that change a host's system state: commands, packages, users, cron, services ...

Given what the host answers (a :class:`~harmony_py.testing.FakeHost`: users
and groups, files, and the output of the commands the score asks), the plan
says this, and apply issues exactly these commands. The same scores run
against a real SSH host in tests/host_scores/.
"""

from __future__ import annotations

import pytest

from harmony_py import ChangeAction, HarmonyError, Secret
from harmony_py.scores import (
    AptRepositoryScore,
    CommandScore,
    CronScore,
    GitCheckoutScore,
    GroupScore,
    PackageScore,
    ServiceScore,
    SysctlScore,
    UserScore,
)
from harmony_py.testing import Answer, FakeDirectory, FakeFile, FakeGroup, FakeHost, FakeLink, FakeUser

from .helpers import applied, plan, planned

SPECIFIED = (
    CommandScore, PackageScore, UserScore, GroupScore, CronScore, SysctlScore, ServiceScore, AptRepositoryScore, GitCheckoutScore,
)  # fmt: skip

# -- CommandScore --------------------------------------------------------------------


def test_command_runs_while_what_it_creates_is_missing_and_checks_it_after() -> None:
    host = FakeHost(answers={("sh", "-c", "tar -xf /opt/tool.tgz -C /opt"): Answer()})
    score = CommandScore("tar -xf /opt/tool.tgz -C /opt", creates="/opt/tool")
    assert planned(host, score) == ["run tar -xf /opt/tool.tgz -C /opt"]
    with pytest.raises(HarmonyError, match="succeeded but its guard still says it is needed"):
        applied(host, score)
    assert planned(FakeHost(files={"/opt/tool": FakeDirectory()}), score) == []


def test_command_guarded_by_unless_passes_its_secret_in_the_environment_only() -> None:
    check = ("sh", "-c", "test -s /srv/data")
    host = FakeHost(answers={check: [1, 1, 0]}, default=Answer())
    score = CommandScore('curl -u "$CREDS" -o /srv/data https://example.org/data', unless="test -s /srv/data", env={"CREDS": Secret("user:pw")})
    assert planned(host, score) == ['run curl -u "$CREDS" -o /srv/data https://example.org/data']
    assert applied(host, score) == ["sh -c 'curl -u \"$CREDS\" -o /srv/data https://example.org/data'"]
    (run,) = [call for call in host.calls if not call.observation]
    assert run.env == {"CREDS": "user:pw"} and "user:pw" not in run.text


# -- PackageScore --------------------------------------------------------------------

_QUERY = ("dpkg-query", "-W", "-f", "${Package}\t${db:Status-Abbrev}\t${Version}\n", "--")
_APT_GET = ("apt-get", "-o", "DPkg::Lock::Timeout=300", "-q", "-y")


def test_package_missing_is_installed_with_apt_get_then_checked_with_dpkg() -> None:
    query = (*_QUERY, "nginx", "curl")

    def host() -> FakeHost:
        # dpkg knows curl only, until apt-get has run.
        return FakeHost(answers={query: [Answer("curl\tii \t7.88\n", exit_status=1), "curl\tii \t7.88\nnginx\tii \t1.22\n"]}, default=Answer())

    score = PackageScore(["nginx", "curl"])
    assert planned(host(), score) == ["install package nginx"]
    assert applied(host(), score) == ["apt-get -o DPkg::Lock::Timeout=300 -q -y --no-install-recommends install --allow-downgrades nginx"]


def test_package_pinned_to_another_version_is_planned_as_a_change_of_version() -> None:
    host = FakeHost(answers={(*_QUERY, "nginx"): "nginx\tii \t1.22.1-9\n"})
    assert planned(host, PackageScore(["nginx=1.22.1-9+deb12u1"])) == ["change package nginx 1.22.1-9 -> 1.22.1-9+deb12u1"]
    assert planned(host, PackageScore(["nginx=1.22.1-9"])) == []


def test_package_latest_compares_with_apt_candidate() -> None:
    policy = ("apt-cache", "policy", "--", "nginx")
    host = FakeHost(answers={(*_QUERY, "nginx"): "nginx\tii \t1.22\n", policy: "nginx:\n  Installed: 1.22\n  Candidate: 1.24\n"})
    assert planned(host, PackageScore(["nginx"], state="latest")) == ["upgrade package nginx 1.22 -> 1.24"]


def test_package_absent_is_removed_and_a_failed_removal_is_an_error() -> None:
    query = (*_QUERY, "telnet")
    host = FakeHost(answers={query: "telnet\tii \t0.17\n", (*_APT_GET, "remove", "telnet"): Answer(exit_status=100, stderr="E: boom")})
    score = PackageScore(["telnet"], state="absent")
    (change,) = plan(host, score)
    assert change.action is ChangeAction.DELETE and change.summary == "remove package telnet"
    with pytest.raises(HarmonyError, match="exited 100: E: boom"):
        applied(host, score)


# -- GroupScore and UserScore --------------------------------------------------------


def test_group_missing_is_created_with_its_gid_and_a_wrong_gid_is_changed() -> None:
    host = FakeHost(default=Answer())
    assert planned(host, GroupScore("shop", gid=1500, system=True)) == ["create system group shop (gid 1500)"]
    assert applied(host, GroupScore("shop", gid=1500, system=True)) == ["groupadd --system --gid 1500 -- shop"]
    host = FakeHost(groups=[FakeGroup("shop", 1000)], default=Answer())
    assert planned(host, GroupScore("shop", gid=1500)) == ["gid of group shop 1000 -> 1500"]
    assert applied(host, GroupScore("shop", gid=1500)) == ["groupmod --gid 1500 -- shop"]
    assert applied(host, GroupScore("shop", present=False)) == ["groupdel -- shop"]


def test_user_missing_is_created_with_useradd_and_its_options() -> None:
    host = FakeHost(default=Answer())
    score = UserScore("shop", group="shop", groups=["adm"], home="/srv/shop", shell="/usr/sbin/nologin", system=True)
    assert planned(host, score) == ["create system user shop (group shop, groups adm, home /srv/shop, shell /usr/sbin/nologin)"]
    assert applied(host, score) == [
        "useradd --system --create-home --gid shop --groups adm --home-dir /srv/shop --shell /usr/sbin/nologin -- shop"
    ]


def test_user_with_other_attributes_is_changed_with_one_usermod() -> None:
    host = FakeHost(
        users=[FakeUser("shop", 1000, 1000, home="/home/shop", shell="/bin/sh")],
        groups=[FakeGroup("shop", 1000), FakeGroup("adm", 4), FakeGroup("www-data", 33, members=("shop",))],
        default=Answer(),
    )
    score = UserScore("shop", groups=["adm"], home="/srv/shop", shell="/bin/bash")
    assert planned(host, score) == [
        "groups of user shop: www-data -> adm",
        "home of user shop: /home/shop -> /srv/shop",
        "shell of user shop: /bin/sh -> /bin/bash",
    ]
    assert applied(host, score) == ["usermod --groups adm --home /srv/shop --move-home --shell /bin/bash -- shop"]


def test_user_removed_keeps_its_home_unless_asked() -> None:
    host = FakeHost(users=[FakeUser("old", 1001, 1001, home="/home/old")], default=Answer())
    assert planned(host, UserScore("old", present=False)) == ["remove user old (its home /home/old is kept)"]
    assert applied(host, UserScore("old", present=False)) == ["userdel -- old"]
    assert applied(host, UserScore("old", present=False, remove_home=True)) == ["userdel --remove -- old"]


def test_user_authorized_keys_are_written_0600_in_a_0700_directory_both_the_users() -> None:
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE deploy@ci"
    host = FakeHost(files={"/home/shop": FakeDirectory()}, users=[FakeUser("shop", 1000, 1000, home="/home/shop")], groups=[FakeGroup("shop", 1000)])
    score = UserScore("shop", ssh_authorized_keys=[key])
    assert planned(host, score) == ["authorized SSH keys of shop: exactly 1 key(s) in /home/shop/.ssh/authorized_keys"]
    assert applied(host, score) == [
        "mkdir /home/shop/.ssh (mode 0700)",
        "chown -h 1000:1000 -- /home/shop/.ssh",
        f"write /home/shop/.ssh/authorized_keys ({len(key) + 1} bytes, mode 0600)",
        "chown -h 1000:1000 -- /home/shop/.ssh/authorized_keys",
    ]
    assert planned(host, score) == []


# -- CronScore -----------------------------------------------------------------------


def test_cron_entry_is_added_under_its_marker_keeping_other_lines() -> None:
    listing = ("crontab", "-u", "shop", "-l")
    host = FakeHost(users=[FakeUser("shop", 1000, 1000)], answers={listing: "MAILTO=ops@example.org\n"}, default=Answer())
    score = CronScore("shop-backup", "15 3 * * *", "/usr/local/bin/shop-backup --quiet", user="shop")
    (change,) = plan(host, score)
    assert change.summary == "add cron job shop-backup (15 3 * * *) to the crontab of shop"
    assert change.diff is not None and "MAILTO" not in change.diff  # other lines are not ours to show
    assert applied(host, score) == ["crontab -u shop - <<< (100 bytes)"]
    (written,) = [call for call in host.calls if call.argv == ("crontab", "-u", "shop", "-")]
    assert written.stdin == b"MAILTO=ops@example.org\n# harmony_py cron: shop-backup\n15 3 * * * /usr/local/bin/shop-backup --quiet\n"


def test_cron_user_without_a_crontab_or_an_account_yet() -> None:
    score = CronScore("sweep", "@daily", "/usr/bin/true", user="shop")
    host = FakeHost(users=[FakeUser("shop", 1000, 1000)], answers={("crontab", "-u", "shop", "-l"): Answer(exit_status=1, stderr="no crontab for shop\n")})
    assert planned(host, score) == ["add cron job sweep (@daily) to the crontab of shop"]
    with pytest.raises(HarmonyError, match=r"^user 'shop' does not exist on the host; create it first \(UserScore\)$"):
        applied(FakeHost(), score)


# -- SysctlScore ---------------------------------------------------------------------


def test_sysctl_sets_the_live_value_and_the_boot_file_then_reads_it_back() -> None:
    read = ("sysctl", "-n", "--", "net.ipv4.ip_forward")
    host = FakeHost(files={"/etc/sysctl.d": FakeDirectory()}, answers={read: ["0\n", "0\n", "1\n"]}, default=Answer())
    score = SysctlScore("net.ipv4.ip_forward", 1)
    assert planned(host, score) == [
        "create file /etc/sysctl.d/60-harmony-net.ipv4.ip_forward.conf (24 bytes, mode 0644)",
        "sysctl net.ipv4.ip_forward: 0 -> 1",
    ]
    assert applied(host, score) == ["write /etc/sysctl.d/60-harmony-net.ipv4.ip_forward.conf (24 bytes, mode 0644)", "sysctl -q -w net.ipv4.ip_forward=1"]


def test_sysctl_value_the_kernel_does_not_keep_fails_naming_what_it_kept() -> None:
    read = ("sysctl", "-n", "--", "net.core.somaxconn")
    host = FakeHost(answers={read: ["128\n", "4096\n"]}, default=Answer())
    with pytest.raises(HarmonyError, match="the kernel kept net.core.somaxconn = 4096 after setting 99999"):
        applied(host, SysctlScore("net.core.somaxconn", 99999, persist=False))


# -- ServiceScore --------------------------------------------------------------------


def test_service_under_runit_is_defined_enabled_and_started() -> None:
    status = ("sv", "status", "/etc/sv/shop")
    running = "run: /etc/sv/shop: (pid 42) 5s; run: log: (pid 41) 5s\n"
    host = FakeHost(
        files={"/etc/sv/shop/supervise/ok": FakeFile()},
        answers={status: ["down: /etc/sv/shop: 1s\n", "down: /etc/sv/shop: 1s\n", "down: /etc/sv/shop: 1s\n", running]},
        default=Answer(),
    )
    score = ServiceScore("shop", command=["/srv/shop/bin/serve", "--port", "8080"], user="shop")
    assert planned(host, score) == [
        "create file /etc/sv/shop/run (135 bytes, mode 0755)",
        "enable shop (runit)",
        "start shop (runit)",
    ]
    changes = applied(host, score)
    assert changes[1:] == [
        "write /etc/sv/shop/run (135 bytes, mode 0755)",
        "mkdir /etc/service (mode 0755)",
        "ln -sfn -- /etc/sv/shop /etc/service/shop",
        "sv -w 15 start /etc/sv/shop",
    ]
    assert changes[0].startswith("sh -n -c ")  # the run script is checked by the shell before it is installed
    assert host.content("/etc/sv/shop/run") == (
        b"#!/bin/sh\n# harmony_py service shop: written by ServiceScore, do not edit\nexec 2>&1\n"
        b"exec chpst -u shop /srv/shop/bin/serve --port 8080\n"
    )


def test_service_under_systemd_is_verified_reloaded_and_restarted_when_its_unit_changes() -> None:
    unit = ("--", "shop.service")
    host = FakeHost(
        files={
            "/run/systemd/system": FakeDirectory(),
            "/etc/systemd/system/shop.service": FakeFile("old unit\n"),
            "/tmp/harmony-unit.x1": FakeDirectory(mode=0o700),  # what mktemp -d makes
        },
        answers={
            ("systemctl", "is-enabled", *unit): "enabled\n",
            ("systemctl", "is-active", *unit): "active\n",
            ("mktemp", "-d", "--tmpdir", "harmony-unit.XXXXXX"): "/tmp/harmony-unit.x1\n",
        },
        default=Answer(),
    )
    score = ServiceScore("shop", command="/srv/shop/bin/serve")
    changes = plan(host, score)
    assert [change.summary for change in changes][1:] == ["restart shop: its definition changes"]
    assert applied(host, score) == [
        "write /tmp/harmony-unit.x1/shop.service (237 bytes, mode 0644)",
        "systemd-analyze verify -- /tmp/harmony-unit.x1/shop.service",
        "rm -rf -- /tmp/harmony-unit.x1",
        "write /etc/systemd/system/shop.service (237 bytes, mode 0644)",
        "systemctl daemon-reload",
        "systemctl restart -- shop.service",
    ]
    unit_text = (host.content("/etc/systemd/system/shop.service") or b"").decode()
    assert 'ExecStart="/bin/sh" "-c" "/srv/shop/bin/serve"\nRestart=on-failure\n' in unit_text
    assert host.describe("/tmp/harmony-unit.x1") is None  # the unit was verified in a directory removed after


def test_service_without_a_definition_and_no_command_is_refused() -> None:
    host = FakeHost(answers={("sv", "status", "/etc/sv/cron"): Answer(exit_status=1)})
    with pytest.raises(HarmonyError, match="the host's runit has no service cron; give ServiceScore a command= to define it"):
        plan(host, ServiceScore("cron"))


def test_service_stopped_and_disabled_under_runit() -> None:
    status = ("sv", "status", "/etc/sv/shop")
    host = FakeHost(
        files={"/etc/sv/shop/run": FakeFile(mode=0o755), "/etc/service/shop": FakeLink("/etc/sv/shop")},
        answers={
            ("readlink", "--", "/etc/service/shop"): "/etc/sv/shop\n",
            status: ["run: /etc/sv/shop: (pid 42) 9s\n"] * 3 + ["down: /etc/sv/shop: 0s\n"],
        },
        default=Answer(),
    )
    score = ServiceScore("shop", running=False, enabled=False)
    assert planned(host, score) == ["disable shop (runit)", "stop shop (runit)"]
    assert applied(host, score) == ["rm -f -- /etc/service/shop", "sv -w 15 stop /etc/sv/shop", "sv exit /etc/sv/shop"]


# -- AptRepositoryScore --------------------------------------------------------------

_KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nmQINBGTest\n-----END PGP PUBLIC KEY BLOCK-----\n"


def test_apt_repository_writes_its_key_and_sources_then_updates_its_lists_only() -> None:
    host = FakeHost(files={"/etc/apt/sources.list.d": FakeDirectory()}, default=Answer())
    score = AptRepositoryScore("shop", "https://apt.example.org/debian", "bookworm", ["main"], signed_by=_KEY)
    changes = plan(host, score)
    assert [change.summary for change in changes] == [
        f"create file /etc/apt/keyrings/shop.asc ({len(_KEY)} bytes, mode 0644); /etc/apt/keyrings does not exist yet",
        "create file /etc/apt/sources.list.d/shop.sources (120 bytes, mode 0644)",
        "update the package lists of shop",
    ]
    assert changes[0].diff is None  # a key's diff is base64 noise
    assert applied(host, score) == [
        "mkdir /etc/apt/keyrings (mode 0755)",
        f"write /etc/apt/keyrings/shop.asc ({len(_KEY)} bytes, mode 0644)",
        "write /etc/apt/sources.list.d/shop.sources (120 bytes, mode 0644)",
        "apt-get -q --error-on=any -o Dir::Etc::SourceList=/etc/apt/sources.list.d/shop.sources"
        " -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0 update",
    ]
    assert host.content("/etc/apt/sources.list.d/shop.sources") == (
        b"Types: deb\nURIs: https://apt.example.org/debian\nSuites: bookworm\nComponents: main\n"
        b"Signed-By: /etc/apt/keyrings/shop.asc\n"
    )


def test_apt_repository_apt_cannot_use_is_removed_again() -> None:
    update = (
        "apt-get", "-q", "--error-on=any", "-o", "Dir::Etc::SourceList=/etc/apt/sources.list.d/shop.sources",
        "-o", "Dir::Etc::SourceParts=-", "-o", "APT::Get::List-Cleanup=0", "update",
    )  # fmt: skip
    host = FakeHost(files={"/etc/apt/sources.list.d": FakeDirectory()}, answers={update: Answer("Err: 1 https://apt.example.org\n", 100)}, default=Answer())
    score = AptRepositoryScore("shop", "https://apt.example.org/debian", "bookworm", ["main"], signed_by=_KEY)
    with pytest.raises(HarmonyError, match=r"apt cannot use repository shop \(https://apt.example.org/debian\): Err: 1"):
        applied(host, score)
    assert host.changes()[-1] == "rm -f -- /etc/apt/sources.list.d/shop.sources"


# -- GitCheckoutScore ----------------------------------------------------------------

_REPO, _PATH = "https://git.example.org/shop.git", "/srv/shop/src"
_V1, _MAIN = "1" * 40, "2" * 40


def _git(*args: str, at: str | None = _PATH) -> tuple[str, ...]:
    return ("git", "-c", f"safe.directory={_PATH}", *(("-C", at) if at else ()), *args)


_LS_REMOTE = _git("ls-remote", "--", _REPO, "refs/heads/v1", "refs/tags/v1", "refs/tags/v1^{}", at=None)


def test_git_checkout_missing_is_cloned_and_checked_out_at_the_tag() -> None:
    host = FakeHost(
        files={"/srv/shop": FakeDirectory()},
        answers={_LS_REMOTE: f"{_V1}\trefs/tags/v1\n", _git("rev-parse", "HEAD"): f"{_V1}\n"},
        default=Answer(),
    )
    score = GitCheckoutScore(_REPO, _PATH, "v1")
    assert planned(host, score) == [f"clone {_REPO} at v1 ({_V1[:12]}) into {_PATH}"]
    assert applied(host, score) == [
        f"git -c safe.directory={_PATH} clone --no-checkout -- {_REPO} {_PATH}",
        f"git -c safe.directory={_PATH} -C {_PATH} checkout --force --detach {_V1}",
    ]


def test_git_checkout_with_local_changes_is_refused_unless_forced() -> None:
    host = FakeHost(
        files={f"{_PATH}/.git": FakeDirectory()},
        answers={
            _LS_REMOTE: f"{_V1}\trefs/tags/v1\n",
            _git("remote", "get-url", "origin"): f"{_REPO}\n",
            _git("rev-parse", "--verify", "-q", "HEAD"): f"{_MAIN}\n",
            _git("symbolic-ref", "-q", "--short", "HEAD"): "main\n",
            _git("status", "--porcelain", "--untracked-files=no"): " M app.py\n",
        },
    )
    with pytest.raises(HarmonyError, match=r"has local changes \(app.py\); GitCheckoutScore discards them only with force=True"):
        plan(host, GitCheckoutScore(_REPO, _PATH, "v1"))
    assert planned(host, GitCheckoutScore(_REPO, _PATH, "v1", force=True)) == [
        f"discard local changes in {_PATH} (1 file(s))",
        f"check out v1 ({_V1[:12]}) in {_PATH}, now main ({_MAIN[:12]})",
    ]


def test_git_checkout_of_a_directory_that_is_no_checkout_is_refused() -> None:
    host = FakeHost(files={f"{_PATH}/README": FakeFile("x")}, answers={_LS_REMOTE: f"{_V1}\trefs/tags/v1\n"})
    with pytest.raises(HarmonyError, match="exists and is not a git checkout"):
        plan(host, GitCheckoutScore(_REPO, _PATH, "v1"))
