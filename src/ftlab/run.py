"""`python -m ftlab.run [overrides]`: compose the config with Hydra and train (or sweep with -m).

Kept thin and light: composing or printing a config (`--cfg job`, `--help`) imports
neither torch nor transformers; the training code is imported only when a job runs.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import hydra
from omegaconf import DictConfig

from ftlab.config import register_resolvers
from ftlab.entry import one_line_errors
from ftlab.overrides import normalize_overrides
from ftlab.resume import resume_overrides

register_resolvers()
# conf/hydra/launcher/submitit_*.yaml are complete presets named like the plugin's configs,
# so Hydra checks them against the plugin's schema (wanted) and says so on every run (not)
warnings.filterwarnings("ignore", message="(?s).*validated against ConfigStore schema")


@hydra.main(version_base="1.3", config_path="pkg://ftlab.conf", config_name="config")
def hydra_entry(cfg: DictConfig) -> float | None:
    """One job: returns the task's main validation metric, which Hydra sweepers optimise."""
    from hydra.core.hydra_config import HydraConfig

    from ftlab.job import run_job

    return run_job(cfg, Path(HydraConfig.get().runtime.output_dir))


def main() -> None:
    with one_line_errors(exit_code=2):
        sys.argv[1:] = resume_overrides(normalize_overrides(sys.argv[1:]))
    hydra_entry()


if __name__ == "__main__":
    main()
