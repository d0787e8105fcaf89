"""The version that names the service worker's cache, and which shell files each page loads.

The version is a hash over every file that shapes the offline shell, computed once when the app
starts. Changing any of them changes /sw.js byte-for-byte, which is what makes browsers install the
new worker; nobody bumps a number by hand, so nobody can forget to.
"""
from __future__ import annotations

import hashlib
import re
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
# A module's static and dynamic imports of its siblings: `from "./x.js"`, `import "./x.js"`,
# `import("./x.js")`. The app's modules are plain ES modules written by hand, so this is the whole syntax.
IMPORT = re.compile(r'(?:\bfrom|\bimport)\s*\(?\s*"(\.\.?/[^"]+\.js)"')


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


def module_imports(pwa: Path) -> dict[str, tuple[str, ...]]:
    """Each .js file under static/pwa/ (as "js/app.js") → the files it imports, as the same kind of path."""
    graph: dict[str, tuple[str, ...]] = {}
    for path in sorted(pwa.rglob("*.js")):
        name = path.relative_to(pwa).as_posix()
        imports = []
        for target in IMPORT.findall(path.read_text(encoding="utf-8")):
            resolved = (path.parent / target).resolve()
            if resolved.is_file() and resolved.is_relative_to(pwa.resolve()):
                imports.append(resolved.relative_to(pwa.resolve()).as_posix())
        graph[name] = tuple(sorted(set(imports)))
    return graph


@dataclass(frozen=True)
class Shell:
    version: str
    imports: dict[str, tuple[str, ...]]  # static/pwa/ paths, e.g. "js/app.js" → ("js/api.js", …)

    def closure(self, entries: tuple[str, ...]) -> tuple[str, ...]:
        """What a page that loads ``entries`` (CSS and module scripts) fetches: the entries and every
        module they import, transitively, in a stable order."""
        seen: list[str] = []
        todo = list(entries)
        while todo:
            name = todo.pop(0)
            if name not in seen:
                seen.append(name)
                todo += self.imports.get(name, ())
        return tuple(seen)


def build_shell(root: Path) -> Shell:
    return Shell(version=shell_version(root), imports=module_imports(root / "static" / "pwa"))
