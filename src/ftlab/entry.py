"""What the small command-line entries (ftlab.predict, ftlab.export) share: their keys are
checked against their yaml before Hydra runs, and an FtlabError ends them with one line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

from omegaconf import OmegaConf

from ftlab.config import did_you_mean
from ftlab.errors import FtlabError


def entry_keys(config_name: str) -> set[str]:
    """The top-level keys of `conf/<config_name>.yaml` (its Hydra sections left out)."""
    text = resources.files("ftlab.conf").joinpath(f"{config_name}.yaml").read_text("utf-8")
    return {str(k) for k in OmegaConf.create(text) if k not in ("defaults", "hydra")}


def check_entry_keys(args: list[str], config_name: str) -> None:
    """A misspelt `key=value` fails with the closest valid key (Hydra would only say that
    the key is not in the struct)."""
    valid = entry_keys(config_name)
    for arg in args:
        key, sep, _ = arg.partition("=")
        if not sep or arg.startswith("-") or key.startswith(("hydra.", "+", "~")):
            continue
        if key not in valid:
            raise FtlabError(f"unknown key '{key}': {did_you_mean(key, valid)}")


@contextmanager
def one_line_errors(exit_code: int = 1) -> Iterator[None]:
    """An FtlabError becomes `ftlab: error: ...` on stderr and the exit code."""
    try:
        yield
    except FtlabError as exc:
        print(f"ftlab: error: {exc}", file=sys.stderr)
        sys.exit(exit_code)
