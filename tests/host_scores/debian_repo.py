"""A Debian repository the tests build: packages made with dpkg-deb, indexed with dpkg-scanpackages, signed with a test key.

Layout (served over HTTP by the tests' web server):

    <root>/pool/main/<name>_<version>_all.deb
    <root>/dists/<suite>/main/binary-<arch>/Packages(.gz)
    <root>/dists/<suite>/Release, InRelease, Release.gpg

The packages install one file each, under /srv/hzt-pkg/ (private to the
throw-away host), so installing them changes nothing on this machine.
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip
import hashlib
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

SUITE = "hzt"
PACKAGE_ROOT = "/srv/hzt-pkg"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    depends: str | None = None


@dataclass(frozen=True)
class SigningKey:
    home: Path
    """A GnuPG home of its own (never the user's)."""
    armored: str
    """The public key, ASCII-armored: what AptRepositoryScore.signed_by takes."""


def _gpg(key_home: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["gpg", "--homedir", str(key_home), "--batch", "--yes", "--quiet", *args],
        check=True, capture_output=True, text=True, input=stdin,
    )  # fmt: skip
    return done.stdout


@contextlib.contextmanager
def signing_key(home: Path, who: str = "harmony_py tests <tests@invalid>") -> Iterator[SigningKey]:
    """A fresh ed25519 signing key without a passphrase; its gpg-agent is stopped on exit."""
    home.mkdir(mode=0o700, parents=True)
    try:
        _gpg(home, "--passphrase", "", "--quick-generate-key", who, "ed25519", "sign", "never")
        yield SigningKey(home, _gpg(home, "--armor", "--export"))
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, capture_output=True)


def build_deb(work: Path, package: Package) -> Path:
    tree = work / f"{package.name}-{package.version}"
    (tree / "DEBIAN").mkdir(parents=True)
    installed = tree / PACKAGE_ROOT.lstrip("/") / package.name
    installed.parent.mkdir(parents=True)
    installed.write_text(f"{package.name} {package.version}\n")
    control = [
        f"Package: {package.name}",
        f"Version: {package.version}",
        "Architecture: all",
        "Maintainer: harmony_py tests <tests@invalid>",
        *([f"Depends: {package.depends}"] if package.depends else []),
        f"Description: {package.name}, a package harmony_py's tests install",
    ]
    (tree / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
    deb = work / f"{package.name}_{package.version}_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree), str(deb)], check=True, capture_output=True)
    return deb


def publish(root: Path, key: SigningKey, packages: Sequence[Package], work: Path) -> None:
    """Build ``packages`` into a signed repository at ``root`` (suite ``hzt``, component ``main``)."""
    arch = subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True, text=True).stdout.strip()
    pool = root / "pool" / "main"
    pool.mkdir(parents=True)
    for package in packages:
        build_deb(work, package).rename(pool / f"{package.name}_{package.version}_all.deb")
    index = root / "dists" / SUITE / "main" / f"binary-{arch}"
    index.mkdir(parents=True)
    scanned = subprocess.run(["dpkg-scanpackages", "--multiversion", "pool"], cwd=root, check=True, capture_output=True)
    (index / "Packages").write_bytes(scanned.stdout)
    (index / "Packages.gz").write_bytes(gzip.compress(scanned.stdout))
    suite = root / "dists" / SUITE
    lines = [
        "Origin: harmony_py tests", "Label: harmony_py tests", f"Suite: {SUITE}", f"Codename: {SUITE}",
        f"Date: {email.utils.formatdate(usegmt=True)}", f"Architectures: {arch}", "Components: main", "SHA256:",
    ]  # fmt: skip
    for path in sorted(index.iterdir()):
        data = path.read_bytes()
        lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {path.relative_to(suite)}")
    release = suite / "Release"
    release.write_text("\n".join(lines) + "\n")
    _gpg(key.home, "--clearsign", "--output", str(suite / "InRelease"), str(release))
    _gpg(key.home, "--armor", "--detach-sign", "--output", str(suite / "Release.gpg"), str(release))
