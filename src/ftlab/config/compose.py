"""An ftlab config composed in Python, as `python -m ftlab.run OVERRIDES` composes it (for
notebooks, scripts and benchmarks that build a task or read a preset without a run)."""

from __future__ import annotations

from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from ftlab.config.overrides import normalize_overrides
from ftlab.config.resolvers import register_resolvers


def compose_config(
    overrides: list[str], hydra_config: bool = False, config_name: str = "config"
) -> DictConfig:
    """The config the command line's `overrides` give: checked and normalized as ftlab.run
    does. `config_name`: config (ftlab.run), predict or export; `hydra_config`: with the
    `hydra` node (run directory, sweeper, launcher)."""
    register_resolvers()
    with initialize_config_module("ftlab.conf", version_base="1.3"):
        return compose(
            config_name,
            overrides=normalize_overrides(overrides),
            return_hydra_config=hydra_config,
        )
