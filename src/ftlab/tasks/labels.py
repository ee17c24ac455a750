"""The label list of a classification task and mapping raw label values onto it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from datasets import ClassLabel, Dataset, DatasetDict
from datasets import Sequence as SequenceFeature

from ftlab.data.columns import column_values
from ftlab.errors import FtlabError


def _class_label(split: Dataset, column: str) -> ClassLabel | None:
    feature = split.features.get(column)
    if isinstance(feature, SequenceFeature):
        feature = feature.feature
    if isinstance(feature, list) and feature:
        feature = feature[0]
    return feature if isinstance(feature, ClassLabel) else None


def name_converter(split: Dataset, column: str) -> Callable[[object], str]:
    """A function from a raw label value to its name (ClassLabel ids become their names)."""
    feature = _class_label(split, column)

    def name(value: object) -> str:
        if value is None:
            return ""
        return feature.int2str(value) if feature is not None else str(value)

    return name


def as_names(split: Dataset, column: str, multi_label: bool) -> list[list[str]] | list[str]:
    """The column's values as label names."""
    name = name_converter(split, column)
    values = column_values(split, column)
    if multi_label:
        return [[name(v) for v in (row or [])] for row in values]
    return [name(v) for v in values]


def label_kwargs(label_list: Sequence[str]) -> dict[str, object]:
    """The head's size and names, as `from_pretrained` takes them (saved in config.json, so
    `pipeline()` and ftlab.predict name the outputs)."""
    return {
        "num_labels": len(label_list),
        "id2label": dict(enumerate(label_list)),
        "label2id": {label: i for i, label in enumerate(label_list)},
    }


def check_given_labels(given: Sequence[object] | None, option: str = "task.labels") -> None:
    """A label list from the config names each label once (a duplicate would get two ids)."""
    if not given:
        return
    names = [str(label) for label in given]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise FtlabError(
            f"{option} names {', '.join(repr(r) for r in repeated)} more than once; "
            "list each label once"
        )


def label_names(
    splits: DatasetDict, column: str, multi_label: bool, given: Sequence[str] | None
) -> list[str]:
    """Given list > the ClassLabel feature's names > the sorted distinct training labels."""
    if given:
        return [str(label) for label in given]
    feature = _class_label(splits["train"], column)
    if feature is not None:
        return list(feature.names)
    values = as_names(splits["train"], column, multi_label)
    flat: Iterable[str] = (v for row in values for v in row) if multi_label else values
    return sorted(set(flat) - {""})


def check_known(splits: DatasetDict, column: str, multi_label: bool, names: list[str]) -> None:
    """Every label in every split must be in `names`: fail on the first one that is not."""
    known = set(names)
    for split_name, split in splits.items():
        for row, value in enumerate(as_names(split, column, multi_label)):
            for label in value if multi_label else [value]:
                if label == "":
                    raise FtlabError(
                        f"{split_name} split, row {row}: the label in column '{column}' is empty"
                    )
                if label not in known:
                    shown = ", ".join(names[:20]) + (" ..." if len(names) > 20 else "")
                    raise FtlabError(
                        f"{split_name} split, row {row}: label '{label}' is not in the label "
                        f"list ({shown}); add it to task.labels or fix the data"
                    )
