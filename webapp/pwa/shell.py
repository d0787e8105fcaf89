"""What the service worker precaches, and the version that names its cache.

The version is a hash over every file that shapes the offline shell, computed once when the app
starts. Changing any of them changes /sw.js byte-for-byte, which is what makes browsers install the
new worker; nobody bumps a number by hand, so nobody can forget to.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

# Relative to the project root. Templates, the capture/pwa views and the translation sources are
# included because the cached /capture/ page is rendered from them; the whole static/pwa tree because
# its files are served as immutable under /shell/<version>/ (any change must be a new URL).
SHELL_SOURCES = (
    "static/pwa",
    "templates/base.html",
    "templates/capture",
    "templates/pwa",
    "webapp/capture",
    "webapp/pwa",
    "webapp/translations",
)
# Compiled catalogues are build output (and may differ by Babel version between servers): their .po
# sources stand for them.
SKIP_SUFFIXES = (".pyc", ".mo")
# Precached: what pages load. Icons are hashed (a new icon is a new version) but not precached: the
# installed app's icon lives with the OS, and the pages reference none of them.
PRECACHE_SUFFIXES = (".js", ".css")


def shell_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for source in SHELL_SOURCES:
        path = root / source
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                         and not p.name.endswith(SKIP_SUFFIXES))
    return sorted(files)


def shell_version(root: Path) -> str:
    """Hash names and contents, so a rename or a moved file counts as a change too."""
    digest = hashlib.sha256()
    for path in shell_files(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Shell:
    version: str
    assets: tuple[str, ...]  # paths under static/pwa/, e.g. "js/app.js"


def build_shell(root: Path) -> Shell:
    pwa = root / "static" / "pwa"
    assets = tuple(
        p.relative_to(pwa).as_posix()
        for p in shell_files(root)
        if p.is_relative_to(pwa) and p.relative_to(pwa).as_posix() != "sw.js" and p.suffix in PRECACHE_SUFFIXES
    )
    return Shell(version=shell_version(root), assets=assets)
