"""What the small command-line entries (ftlab.predict, ftlab.export) share: their keys are
checked against their yaml before Hydra runs, and an FtlabError ends them with one line."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

import hydra
from omegaconf import DictConfig

from ftlab.config.compose import check_composition
from ftlab.config.overrides import check_entry_keys
from ftlab.errors import one_line_errors


def quiet_broken_pipe() -> None:
    """`ftlab ... | head` ends quietly when the reader closes the pipe, as Unix tools do."""
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def hydra_command(config_name: str, command: Callable[[DictConfig], Any]) -> Callable[[], None]:
    """A `main()` that composes `conf/<config_name>.yaml` and runs `command` on it."""

    @hydra.main(version_base="1.3", config_path="pkg://ftlab.conf", config_name=config_name)
    def hydra_entry(cfg: DictConfig) -> None:
        with one_line_errors():
            command(cfg)

    def main() -> None:
        quiet_broken_pipe()
        with one_line_errors(exit_code=2):  # a misspelt key: a usage error, like Hydra's
            check_entry_keys(sys.argv[1:], config_name)
            check_composition(sys.argv[1:], config_name)  # Hydra's own errors, as one line
        hydra_entry()

    return main
