"""`python -m ftlab.run [overrides]`: compose the config with Hydra and train (or sweep with -m).

Kept thin and light: composing or printing a config (`--cfg job`, `--help`) imports
neither torch nor transformers; the training code is imported only when a job runs.
"""

from __future__ import annotations

import sys
import warnings

import hydra
from hydra.core.plugins import Plugins
from omegaconf import DictConfig

from ftlab.config.compose import check_composition
from ftlab.config.overrides import normalize_overrides
from ftlab.config.resolvers import register_resolvers
from ftlab.entry import quiet_broken_pipe
from ftlab.errors import one_line_errors
from ftlab.job.resume import resume_overrides
from ftlab.job.run_dirs import check_output_dirs, claim_named_run_dir, single_run
from ftlab.run_lock import release
from hydra_plugins.ftlab_optuna_sweeper.optuna_sweeper import OptunaSweeper

register_resolvers()
# Hydra finds plugins by listing the `hydra_plugins` package's folders, which misses the one
# an editable install (make install) maps from src/: ftlab's sweeper is named to it here
Plugins.instance().register(OptunaSweeper)
# conf/hydra/launcher/submitit_*.yaml are complete presets named like the plugin's configs,
# so Hydra checks them against the plugin's schema (wanted) and says so on every run (not)
warnings.filterwarnings("ignore", message="(?s).*validated against ConfigStore schema")


@hydra.main(version_base="1.3", config_path="pkg://ftlab.conf", config_name="config")
def hydra_entry(cfg: DictConfig) -> float | None:
    """One job: returns the task's main validation metric, which Hydra sweepers optimise."""
    from ftlab.job import hydra_runtime
    from ftlab.job.lifecycle import run_job

    return run_job(cfg, hydra_runtime.output_dir())


def main() -> None:
    quiet_broken_pipe()
    with one_line_errors(exit_code=2):
        args = normalize_overrides(sys.argv[1:])
        check_output_dirs(args)  # before Hydra writes its record into a run directory
        sys.argv[1:] = resume_overrides(args)
        if single_run(sys.argv[1:]):
            check_composition(sys.argv[1:])  # Hydra's own errors, as one line
        claimed = claim_named_run_dir(sys.argv[1:])
    try:
        hydra_entry()
    finally:
        if claimed is not None:  # a process that goes on (a notebook, a test) frees it
            release(claimed)


if __name__ == "__main__":
    main()
