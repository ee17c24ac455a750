"""`python -m ftlab.predict run=RUN_DIR input=FILE output=FILE`: predict with a trained run.

`run=[A,B,...]` averages several runs' probabilities; `evaluate=true` scores the run's own
test split. Keys: conf/predict.yaml.
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from ftlab.entry import check_entry_keys, one_line_errors


@hydra.main(version_base="1.3", config_path="pkg://ftlab.conf", config_name="predict")
def hydra_entry(cfg: DictConfig) -> None:
    from ftlab.inference.job import predict

    with one_line_errors():
        predict(cfg)


def main() -> None:
    with one_line_errors(exit_code=2):
        check_entry_keys(sys.argv[1:], "predict")
    hydra_entry()


if __name__ == "__main__":
    main()
