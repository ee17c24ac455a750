"""`python -m ftlab.predict run=RUN_DIR input=FILE output=FILE`: predict with a trained run.

`run=[A,B,...]` averages several runs' outputs; `evaluate=true` scores the run's own test
split. Keys: conf/predict.yaml.
"""

from __future__ import annotations

from omegaconf import DictConfig

from ftlab.entry import hydra_command


def predict(cfg: DictConfig) -> None:
    from ftlab.inference.job import predict as run_predictions  # torch: only when it runs

    run_predictions(cfg)


main = hydra_command("predict", predict)

if __name__ == "__main__":
    main()
