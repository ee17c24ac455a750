"""`python -m ftlab.predict run=RUN_DIR input=FILE output=FILE`: predict with a trained run.

`run=[A,B,...]` averages several runs' outputs; `evaluate=true` scores the run's own test
split. Keys: conf/predict.yaml.
"""

from __future__ import annotations

import contextlib
import sys

from omegaconf import DictConfig

from ftlab.entry import hydra_command


def predict(cfg: DictConfig) -> None:
    # stdout is ftlab's: the predictions (output=-) or the metrics table. What a library
    # prints on import or load (transformers: "[INFO] Running in WANDB offline mode" under
    # WANDB_MODE=offline) goes to stderr, so a pipe reading jsonl gets only jsonl
    stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        from ftlab.inference.job import predict as run_predictions  # torch: only when it runs

        run_predictions(cfg, stdout)


main = hydra_command("predict", predict)

if __name__ == "__main__":
    main()
