"""ftlab: NLP fine-tuning experiments, Hydra configs composed into one Hugging Face Trainer run."""

__version__ = "0.1.0"
