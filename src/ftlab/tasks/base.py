"""What every task kind shares: where its data comes from and how it is cut to size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datasets import DatasetDict

from ftlab.data.sources import load_raw_splits, read_table_file
from ftlab.data.splits import add_missing_splits
from ftlab.errors import FtlabError


@dataclass
class Task:
    """Common task settings; each field is a `task.<name>` config key."""

    name: str = "task"
    train_file: str | None = None
    validation_file: str | None = None
    test_file: str | None = None
    builtin_dataset: str | None = None
    dataset_name: str | None = None
    dataset_config_name: str | None = None
    max_seq_length: int = 128
    validation_split_percentage: float = 10
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    shuffle_seed: int = 42
    main_metric: str = "accuracy"
    # "balanced" or one weight per label: weights the loss (ftlab/recipes/loss.py)
    class_weights: str | list[float] | None = None

    def read_file(self, path: Any) -> Any:
        """How this task reads one local data file (a task kind may add formats)."""
        return read_table_file(path)

    def load_splits(self, required_columns: dict[str, list[str]]) -> DatasetDict:
        """train / validation / test, missing ones cut from train.

        `required_columns` maps a task option to the columns it names; every split must
        have them (checked before cutting splits, so the error names the real files).
        """
        splits = load_raw_splits(self, self.read_file)
        if "train" not in splits:
            raise FtlabError("the data has no train split; set task.train_file=PATH")
        for option, columns in required_columns.items():
            self.require_columns(splits, columns, option)
        return add_missing_splits(splits, self.validation_split_percentage, self.shuffle_seed)

    @staticmethod
    def require_columns(splits: DatasetDict, columns: list[str], option: str) -> None:
        for split_name, split in splits.items():
            for column in columns:
                if column not in split.column_names:
                    raise FtlabError(
                        f"{split_name} data has no column '{column}' (task.{option}); "
                        f"its columns are: {', '.join(split.column_names)}"
                    )
