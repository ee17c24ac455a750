"""An ftlab config composed in Python, as `python -m ftlab.run OVERRIDES` composes it (for
notebooks, scripts and benchmarks that build a task or read a preset without a run)."""

from __future__ import annotations

from hydra import compose, initialize_config_module
from omegaconf import DictConfig

from ftlab.config.overrides import normalize_overrides
from ftlab.config.resolvers import register_resolvers
from ftlab.errors import FtlabError


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


def check_composition(args: list[str], config_name: str = "config") -> None:
    """A single command's overrides compose and resolve (its `hydra.run.dir` included);
    else one line. Hydra reports what fails there (an interpolation, a removed group a path
    names, an empty value) over several lines with a trace, after it has started."""
    overrides = [a for a in args if not a.startswith("-")]
    # only what Hydra may refuse once started: interpolations, deletions, empty values (the
    # rest is checked without composing, so an ordinary run composes once)
    if not any("$" in a or a.startswith("~") or a.endswith("=") for a in overrides):
        return
    from hydra.core.utils import setup_globals
    from hydra.errors import HydraException
    from omegaconf import OmegaConf, open_dict
    from omegaconf.errors import OmegaConfBaseException

    setup_globals()  # Hydra's own resolvers (now:), as a run has them
    try:
        cfg = compose_config(overrides, hydra_config=True, config_name=config_name)
        str(cfg.hydra.run.dir)
        job = cfg.copy()
        with open_dict(job):
            del job["hydra"]  # its other keys resolve only inside a run (${hydra:...})
        OmegaConf.to_container(job, resolve=True)
    except (HydraException, OmegaConfBaseException) as exc:
        raise config_error(exc) from None


def config_error(exc: Exception) -> FtlabError:
    """Hydra's or OmegaConf's report (several lines, a trace) as one line: the key where
    OmegaConf names one, and the first line of what it found wrong."""
    key = getattr(exc, "full_key", None)
    message = getattr(exc, "msg", None) or str(exc)
    reason = " ".join(message.split("\n")[0].split()) or type(exc).__name__
    return FtlabError(
        (f"{key}: " if key else "") + f"{reason}; fix the override (or the yaml) that sets it"
    )
