"""Plan specifications of the scores that manage files: given this host, the plan says this, apply does that.

No host is involved: a :class:`~harmony_py.testing.FakeHost` holds the state
and records the calls. The same scores are tested against real hosts in
tests/test_localhost_scores.py and tests/host_scores/.
"""

from __future__ import annotations

import hashlib

import pytest

from harmony_py import ChangeAction, HarmonyError, Secret
from harmony_py.scores import (
    BlockInFileScore,
    DirectoryScore,
    DownloadScore,
    FileScore,
    LineInFileScore,
    LinkScore,
    TemplateScore,
)
from harmony_py.testing import Answer, FakeDirectory, FakeFile, FakeGroup, FakeHost, FakeLink, FakeUser

from .helpers import applied, plan, planned

SPECIFIED = (FileScore, DirectoryScore, LinkScore, TemplateScore, LineInFileScore, BlockInFileScore, DownloadScore)

SHOP_USER, SHOP_GROUP = FakeUser("shop", 1000, 1000), FakeGroup("shop", 1000)


def _shop_host(**files: FakeFile | FakeDirectory | FakeLink) -> FakeHost:
    return FakeHost(files={path.replace("__", "/"): entry for path, entry in files.items()}, users=[SHOP_USER], groups=[SHOP_GROUP])


# -- FileScore -----------------------------------------------------------------------


def test_file_missing_is_planned_as_a_creation_and_written_once() -> None:
    host = FakeHost(files={"/etc/app": FakeDirectory()})
    score = FileScore("/etc/app/app.conf", "port = 8080\n", mode=0o640)
    (change,) = plan(host, score)
    assert change.action is ChangeAction.CREATE
    assert change.summary == "create file /etc/app/app.conf (12 bytes, mode 0640)"
    assert applied(host, score) == ["write /etc/app/app.conf (12 bytes, mode 0640)"]
    assert planned(host, score) == []


def test_file_with_other_content_is_planned_with_a_diff_and_rewritten() -> None:
    host = FakeHost(files={"/etc/app.conf": FakeFile("port = 80\n")})
    score = FileScore("/etc/app.conf", "port = 8080\n")
    (change,) = plan(host, score)
    assert change.summary == "update content of /etc/app.conf (10 -> 12 bytes)"
    assert change.diff is not None and "-port = 80\n+port = 8080\n" in change.diff
    assert applied(host, score) == ["write /etc/app.conf (12 bytes, mode 0644)"]


def test_file_with_only_another_mode_is_chmodded_not_rewritten() -> None:
    host = FakeHost(files={"/etc/app.conf": FakeFile("x", mode=0o600)})
    score = FileScore("/etc/app.conf", "x", mode=0o644)
    assert planned(host, score) == ["mode of /etc/app.conf 0600 -> 0644"]
    assert applied(host, score) == ["chmod 0644 /etc/app.conf"]


def test_file_of_the_wrong_owner_is_planned_with_both_owners_and_chowned_by_id() -> None:
    host = _shop_host(**{"__etc__app.conf": FakeFile("x", owner="root", group="root")})
    score = FileScore("/etc/app.conf", "x", owner="shop", group="shop")
    assert planned(host, score) == ["owner of /etc/app.conf root:root -> shop:shop"]
    assert applied(host, score) == ["chown -h 1000:1000 -- /etc/app.conf"]
    assert planned(host, score) == []


def test_file_created_with_an_owner_is_written_then_chowned() -> None:
    host = _shop_host(**{"__srv": FakeDirectory()})
    score = FileScore("/srv/app.conf", "x", owner="shop")
    assert planned(host, score) == ["create file /srv/app.conf (1 bytes, mode 0644)", "owner of /srv/app.conf -> shop"]
    assert applied(host, score) == ["write /srv/app.conf (1 bytes, mode 0644)", "chown -h 1000 -- /srv/app.conf"]


def test_file_rewritten_for_its_content_gets_its_owner_back() -> None:
    host = _shop_host(**{"__srv__app.conf": FakeFile("old", owner="shop", group="shop")})
    score = FileScore("/srv/app.conf", "new", owner="shop", group="shop")
    assert [c.attribute for c in plan(host, score)] == ["content"]
    assert applied(host, score) == ["write /srv/app.conf (3 bytes, mode 0644)", "chown -h 1000:1000 -- /srv/app.conf"]


def test_file_with_a_setuid_mode_gets_it_again_after_the_chown() -> None:
    host = _shop_host(**{"__srv": FakeDirectory()})
    score = FileScore("/srv/tool", "#!/bin/sh\n", mode=0o4750, group="shop")
    assert applied(host, score) == ["write /srv/tool (10 bytes, mode 4750)", "chown -h :1000 -- /srv/tool", "chmod 4750 /srv/tool"]


def test_file_owner_unknown_on_the_host_is_a_note_in_the_plan_and_an_error_before_any_write() -> None:
    host = FakeHost(files={"/srv": FakeDirectory()})
    score = FileScore("/srv/app.conf", "x", owner="shop")
    assert planned(host, score)[1] == "owner of /srv/app.conf -> shop (shop not on the host yet)"
    with pytest.raises(HarmonyError, match=r"^user 'shop' does not exist on the host; create it first \(UserScore\)$"):
        applied(host, score)
    assert host.changes() == [] and host.content("/srv/app.conf") is None


def test_file_holding_a_secret_shows_no_content_and_is_0600() -> None:
    host = FakeHost(files={"/etc/token": FakeFile("old-secret", mode=0o600)})
    score = FileScore("/etc/token", Secret("new-secret"))
    (change,) = plan(host, score)
    assert change.summary == "update content of /etc/token (10 -> 10 bytes); secret, diff hidden" and change.diff is None
    assert applied(host, score) == ["write /etc/token (10 bytes, mode 0600)"]


def test_file_under_a_linked_directory_is_refused_unless_links_are_followed() -> None:
    host = FakeHost(files={"/data/real": FakeDirectory(), "/etc/app": FakeLink("/data/real")})
    with pytest.raises(HarmonyError, match="/etc/app resolves to /data/real through a symlink"):
        plan(host, FileScore("/etc/app/app.conf", "x"))
    score = FileScore("/etc/app/app.conf", "x", follow_parent_symlinks=True)
    assert planned(host, score) == ["create file /etc/app/app.conf (resolved: /data/real/app.conf) (1 bytes, mode 0644)"]
    assert applied(host, score) == ["write /data/real/app.conf (1 bytes, mode 0644)"]


def test_file_where_a_directory_is_is_refused() -> None:
    host = FakeHost(files={"/etc/app.conf": FakeDirectory()})
    with pytest.raises(HarmonyError, match="/etc/app.conf is a directory, not a file"):
        plan(host, FileScore("/etc/app.conf", "x"))


# -- DirectoryScore ------------------------------------------------------------------


def test_directory_missing_is_made_with_its_parents_and_owner() -> None:
    host = _shop_host()
    score = DirectoryScore("/srv/shop/data", mode=0o750, owner="shop", group="shop")
    assert planned(host, score) == ["create directory /srv/shop/data (mode 0750)", "owner of /srv/shop/data -> shop:shop"]
    assert applied(host, score) == ["mkdir /srv/shop/data (mode 0750)", "chown -h 1000:1000 -- /srv/shop/data"]
    assert planned(host, score) == []


def test_directory_of_another_mode_and_owner_is_chmodded_and_chowned() -> None:
    host = _shop_host(**{"__srv__shop": FakeDirectory(mode=0o755, owner="root")})
    score = DirectoryScore("/srv/shop", mode=0o750, owner="shop")
    assert planned(host, score) == ["mode of /srv/shop 0755 -> 0750", "owner of /srv/shop root -> shop"]
    assert applied(host, score) == ["mkdir /srv/shop (mode 0750)", "chown -h 1000 -- /srv/shop"]


def test_directory_of_another_owner_only_is_chowned_only() -> None:
    host = _shop_host(**{"__srv__shop": FakeDirectory(owner="shop", group="root")})
    score = DirectoryScore("/srv/shop", group="shop")
    assert planned(host, score) == ["owner of /srv/shop :root -> :shop"]
    assert applied(host, score) == ["chown -h :1000 -- /srv/shop"]


# -- LinkScore -----------------------------------------------------------------------


def test_link_missing_is_made_by_the_replace_script() -> None:
    host = FakeHost(files={"/etc/nginx/sites-enabled": FakeDirectory()}, answers={("readlink", "--", "/etc/nginx/sites-enabled/shop"): "../sites-available/shop\n"})
    score = LinkScore("/etc/nginx/sites-enabled/shop", "../sites-available/shop")
    assert planned(host, score) == ["link /etc/nginx/sites-enabled/shop -> ../sites-available/shop"]
    host = FakeHost(files={"/etc/nginx/sites-enabled": FakeDirectory()}, default=Answer(), answers={("readlink", "--", "/etc/nginx/sites-enabled/shop"): "../sites-available/shop\n"})
    (script,) = applied(host, score)
    assert script.startswith("sh -c ") and script.endswith(" sh /etc/nginx/sites-enabled/shop ../sites-available/shop other")


def test_link_pointing_elsewhere_is_planned_with_both_targets() -> None:
    host = FakeHost(files={"/etc/alternatives/editor": FakeLink("/usr/bin/nano")})
    assert planned(host, LinkScore("/etc/alternatives/editor", "/usr/bin/vim")) == ["link /etc/alternatives/editor: /usr/bin/nano -> /usr/bin/vim"]
    assert planned(host, LinkScore("/etc/alternatives/editor", "/usr/bin/nano")) == []


def test_link_over_a_file_needs_force() -> None:
    host = FakeHost(files={"/usr/local/bin/tool": FakeFile("#!/bin/sh\n")})
    with pytest.raises(HarmonyError, match="LinkScore replaces it only with force=True"):
        plan(host, LinkScore("/usr/local/bin/tool", "/opt/tool/bin/tool"))
    assert planned(host, LinkScore("/usr/local/bin/tool", "/opt/tool/bin/tool", force=True)) == [
        "replace file /usr/local/bin/tool by a link -> /opt/tool/bin/tool"
    ]


def test_link_over_a_directory_with_files_is_always_refused() -> None:
    host = FakeHost(files={"/srv/current/index.html": FakeFile("hi")})
    with pytest.raises(HarmonyError, match="is a directory with files in it"):
        plan(host, LinkScore("/srv/current", "/srv/releases/2", force=True))


# -- TemplateScore -------------------------------------------------------------------


def test_template_is_rendered_here_and_converged_like_a_file_with_its_owner() -> None:
    host = _shop_host(**{"__etc__shop": FakeDirectory()})
    score = TemplateScore("/etc/shop/app.ini", "port = {{ port }}\n", {"port": 8080}, owner="root", group="shop")
    assert planned(host, score) == ["create file /etc/shop/app.ini (12 bytes, mode 0644)", "owner of /etc/shop/app.ini -> root:shop"]
    assert applied(host, score) == ["write /etc/shop/app.ini (12 bytes, mode 0644)", "chown -h 0:1000 -- /etc/shop/app.ini"]
    assert host.content("/etc/shop/app.ini") == b"port = 8080\n"
    assert planned(host, score) == []


def test_template_with_an_unknown_group_fails_before_it_is_written() -> None:
    host = FakeHost(files={"/etc/shop": FakeDirectory()})
    with pytest.raises(HarmonyError, match=r"^group 'shop' does not exist on the host"):
        applied(host, TemplateScore("/etc/shop/app.ini", "port = 1\n", group="shop"))
    assert host.changes() == []


def test_template_secret_is_masked_on_both_sides_of_the_diff() -> None:
    host = FakeHost(files={"/etc/db.ini": FakeFile("port = 1\npassword = old-pw\n", mode=0o644)})
    score = TemplateScore("/etc/db.ini", "port = {{ port }}\npassword = {{ pw }}\n", {"port": 2, "pw": Secret("new-pw")}, mode=0o644)
    (change,) = plan(host, score)
    assert change.diff is not None and "+port = 2\n" in change.diff and " password = ********\n" in change.diff
    assert "old-pw" not in repr(change) and "new-pw" not in repr(change)


# -- LineInFileScore and BlockInFileScore --------------------------------------------


def test_line_replacing_the_matched_line_keeps_the_file_owner() -> None:
    host = _shop_host(**{"__etc__ssh__sshd_config": FakeFile("Port 22\nPasswordAuthentication yes\n", owner="shop", group="shop")})
    score = LineInFileScore("/etc/ssh/sshd_config", "PasswordAuthentication no", match=r"^#?PasswordAuthentication\b")
    (change,) = plan(host, score)
    assert change.summary == "edit /etc/ssh/sshd_config (set line 'PasswordAuthentication no')"
    assert change.diff is not None and "-PasswordAuthentication yes\n+PasswordAuthentication no\n" in change.diff
    # The rewrite makes a new file (root's here): it is given back to its owner.
    assert applied(host, score) == ["write /etc/ssh/sshd_config (34 bytes, mode 0644)", "chown -h 1000:1000 -- /etc/ssh/sshd_config"]
    assert host.content("/etc/ssh/sshd_config") == b"Port 22\nPasswordAuthentication no\n"


def test_line_absent_from_a_missing_file_is_nothing_to_do_and_a_present_one_creates_it() -> None:
    host = FakeHost(files={"/etc": FakeDirectory()})
    assert planned(host, LineInFileScore("/etc/motd", "hello", present=False)) == []
    assert planned(host, LineInFileScore("/etc/motd", "hello")) == ["create file /etc/motd (1 line(s), mode 0644)"]
    assert applied(host, LineInFileScore("/etc/motd", "hello")) == ["write /etc/motd (6 bytes, mode 0644)"]


def test_line_edit_of_a_private_file_hides_its_diff() -> None:
    host = FakeHost(files={"/etc/secret.conf": FakeFile("token = abc\n", mode=0o600)})
    (change,) = plan(host, LineInFileScore("/etc/secret.conf", "debug = 1"))
    assert change.summary.endswith("; diff hidden, file not world-readable") and change.diff is None


def test_block_is_appended_between_its_markers_then_noop() -> None:
    host = FakeHost(files={"/etc/hosts": FakeFile("127.0.0.1 localhost\n")})
    score = BlockInFileScore("/etc/hosts", "10.0.0.5 db\n", marker="# {mark} shop hosts")
    assert planned(host, score) == ["edit /etc/hosts (set block '# BEGIN shop hosts')"]
    assert applied(host, score) == ["write /etc/hosts (68 bytes, mode 0644)"]
    assert host.content("/etc/hosts") == b"127.0.0.1 localhost\n# BEGIN shop hosts\n10.0.0.5 db\n# END shop hosts\n"
    assert planned(host, score) == []
    assert planned(host, BlockInFileScore("/etc/hosts", "", marker="# {mark} shop hosts", present=False)) == [
        "edit /etc/hosts (remove block '# BEGIN shop hosts')"
    ]


# -- DownloadScore -------------------------------------------------------------------

_CONTENT = b"tool 1.2\n"
_DIGEST = hashlib.sha256(_CONTENT).hexdigest()
_URL = "https://example.org/tool-1.2.tar.gz"


def test_download_present_with_the_digest_is_nothing_to_do_and_another_file_is_replaced() -> None:
    assert planned(FakeHost(files={"/opt/tool.tgz": FakeFile(_CONTENT)}), DownloadScore(_URL, "/opt/tool.tgz", _DIGEST)) == []
    host = FakeHost(files={"/opt/tool.tgz": FakeFile(b"old")})
    old = hashlib.sha256(b"old").hexdigest()
    assert planned(host, DownloadScore(_URL, "/opt/tool.tgz", _DIGEST)) == [
        f"replace /opt/tool.tgz (sha256 {old[:12]}… -> {_DIGEST[:12]}…): download {_URL} (sha256 {_DIGEST[:12]}…)"
    ]


def test_download_on_the_host_fetches_beside_verifies_then_moves_into_place() -> None:
    temporary = "/opt/.tool.tgz.AbC123.harmony-download"
    host = FakeHost(
        # mktemp made the (empty) temporary file; curl fills it, which the fake does not see: sha256sum is answered.
        files={temporary: FakeFile(b"", mode=0o600)},
        answers={
            ("sh", "-c", "command -v curl || command -v wget"): "/usr/bin/curl\n",
            ("mktemp", "--", "/opt/.tool.tgz.XXXXXX.harmony-download"): f"{temporary}\n",
            ("sha256sum", "--", temporary): f"{_DIGEST}  {temporary}\n",
        },
        default=Answer(),
    )
    score = DownloadScore(_URL, "/opt/tool.tgz", _DIGEST, mode=0o640)
    assert planned(host, score) == [f"download {_URL} (sha256 {_DIGEST[:12]}…) to /opt/tool.tgz, mode 0640"]
    assert applied(host, score) == [
        f"/usr/bin/curl -fsSL --proto =http,https -o {temporary} -K - <<< (44 bytes)",
        f"chmod 0640 {temporary}",
        f"mv -f -- {temporary} /opt/tool.tgz",
        f"rm -f -- {temporary}",
    ]
    # The URL goes to curl on standard input, never on a command line.
    (fetch,) = [call for call in host.calls if call.argv[:1] == ("/usr/bin/curl",)]
    assert fetch.stdin == f'url = "{_URL}"\n'.encode()


def test_download_with_a_wrong_digest_leaves_the_old_file() -> None:
    temporary = "/opt/.tool.tgz.AbC123.harmony-download"
    host = FakeHost(
        files={"/opt/tool.tgz": FakeFile(b"old")},
        answers={
            ("sh", "-c", "command -v curl || command -v wget"): "/usr/bin/wget\n",
            ("mktemp", "--", "/opt/.tool.tgz.XXXXXX.harmony-download"): f"{temporary}\n",
            ("sha256sum", "--", temporary): f"{'0' * 64}  {temporary}\n",
        },
        default=Answer(),
    )
    with pytest.raises(HarmonyError, match=r"sha256 mismatch, expected .*; /opt/tool.tgz was left as it was"):
        applied(host, DownloadScore(_URL, "/opt/tool.tgz", _DIGEST))
    assert host.changes() == [f"/usr/bin/wget -q -O {temporary} -i - <<< (36 bytes)", f"rm -f -- {temporary}"]
    assert host.content("/opt/tool.tgz") == b"old"
