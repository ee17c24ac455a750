"""Task kinds. A task is a dataclass built from `task/*.yaml` (its `_target_`) that knows how
to load its data, its labels, how to tokenize, which model class and collator to use, and
how to score predictions. `legal_cls`, `sentiment`, `intent` ... are configs of a kind."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf


def build_task(cfg_task: DictConfig) -> Any:
    """Instantiate the task config's `_target_` with plain Python values."""
    return instantiate(OmegaConf.to_container(cfg_task, resolve=True), _convert_="all")
