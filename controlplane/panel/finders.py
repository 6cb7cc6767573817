"""Serves the panel's front-end libraries from node_modules (package.json, installed by `npm ci`).

Only the files named in VENDOR_FILES are found (and collected by collectstatic), under
``vendor/<path in node_modules>``: nothing else in node_modules is reachable over HTTP.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.finders import BaseFinder
from django.core import checks
from django.core.files.storage import FileSystemStorage

PREFIX = "vendor"
# The files the panel's templates load, by their path in node_modules.
VENDOR_FILES = ("htmx.org/dist/htmx.min.js",)


def node_modules() -> Path:
    return Path(settings.NODE_MODULES)


class NodeModulesFinder(BaseFinder):
    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        return missing_vendor_files()

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> Any:
        wanted = path.removeprefix(f"{PREFIX}/") if path.startswith(f"{PREFIX}/") else None
        found = str(node_modules() / wanted) if wanted in VENDOR_FILES else None
        if found is None or not Path(found).is_file():
            return [] if find_all or kwargs.get("all") else None
        return [found] if find_all or kwargs.get("all") else found

    def list(self, ignore_patterns: Any) -> Any:
        storage = FileSystemStorage(location=str(node_modules()))
        storage.prefix = PREFIX  # type: ignore[attr-defined]  # collectstatic copies to vendor/<path>
        for name in VENDOR_FILES:
            if storage.exists(name):
                yield name, storage


def missing_vendor_files() -> list[checks.CheckMessage]:
    missing = [name for name in VENDOR_FILES if not (node_modules() / name).is_file()]
    if not missing:
        return []
    return [checks.Warning(
        f"the panel's front-end libraries are not installed: {', '.join(missing)} missing under {node_modules()}",
        hint="run `npm ci --omit=dev` in the repository (package.json), as the README's commands do",
        id="panel.W001",
    )]
