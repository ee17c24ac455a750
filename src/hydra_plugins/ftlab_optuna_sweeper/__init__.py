"""ftlab's Optuna sweeper for Hydra (`hparams_search=optuna`); the work is in ftlab.job.search."""
