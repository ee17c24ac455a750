"""What a task reads, checked on real data without training: sentence pairs, per-class
training subsets, parquet files, package:// paths, and a GPU preset on a CPU machine."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from helpers import compose_config

from ftlab.config.targets import build_task
from ftlab.errors import FtlabError


def _intent_task(files: dict[str, Path], *overrides: str):
    cfg = compose_config(
        ["task=intent", "task.label_column=label", *overrides]
        + [f"task.{split}_file={path}" for split, path in files.items()]
    )
    return build_task(cfg.task)


def test_a_sentence_pair_is_encoded_as_two_segments(
    pair_intent_files: dict, tiny_model_dir: Path
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    paired = pair_intent_files
    task = _intent_task(paired, "task.text_column=[text,context]")
    rows = task.prepare()["test"].select(range(5))

    def second_segment(ids: list[int]) -> list[int]:
        # [CLS] first [SEP] second [SEP]: what follows the first [SEP]
        return ids[ids.index(tokenizer.sep_token_id) + 1 : -1]

    for ids, row in zip(task.encode(tokenizer, rows)["input_ids"], rows, strict=True):
        context = tokenizer(row["context"], add_special_tokens=False)["input_ids"]
        assert second_segment(ids) == context
    # negative control: one text column has one segment, the question alone
    for ids in _intent_task(paired).encode(tokenizer, rows)["input_ids"]:
        assert ids.count(tokenizer.sep_token_id) == 1 and second_segment(ids) == []


def test_train_samples_per_class_keeps_that_many_of_each_class(intent_files: dict) -> None:
    full = _intent_task(intent_files).prepare()
    task = _intent_task(intent_files, "task.train_samples_per_class=5")
    splits = task.prepare()
    available = Counter(full["train"]["label"])
    kept = Counter(splits["train"]["label"])
    assert kept == {label: min(5, count) for label, count in available.items()}
    assert len(splits["validation"]) == len(full["validation"])  # evaluation splits whole
    # the same subset on every run (task.shuffle_seed), another with another seed
    assert task.prepare()["train"]["text"] == splits["train"]["text"]
    other = _intent_task(intent_files, "task.train_samples_per_class=5", "task.shuffle_seed=7")
    assert other.prepare()["train"]["text"] != splits["train"]["text"]


def test_parquet_files_read_as_their_csv_twins(intent_files: dict, tmp_path: Path) -> None:
    parquet = {}
    for split, path in intent_files.items():
        parquet[split] = tmp_path / f"{split}.parquet"
        pd.read_csv(path).to_parquet(parquet[split])
    from_csv = _intent_task(intent_files).prepare()
    from_parquet = _intent_task(parquet).prepare()
    for split in ("train", "validation", "test"):
        assert from_parquet[split]["text"] == from_csv[split]["text"]
        assert from_parquet[split]["label"] == from_csv[split]["label"]


def test_a_package_path_reads_the_file_the_package_ships() -> None:
    from ftlab.config.paths import resolve_path
    from ftlab.data.builtin import CONLL2003
    from ftlab.data.conll import read_conll

    cfg = compose_config(
        [
            "task=ner",
            "task.builtin_dataset=null",
            f"task.train_file={CONLL2003}/train.txt",
            f"task.validation_file={CONLL2003}/valid.txt",
            f"task.test_file={CONLL2003}/test.txt",
        ]
    )
    splits = build_task(cfg.task).prepare()
    on_disk = read_conll(Path(resolve_path(CONLL2003)) / "valid.txt")
    assert splits["validation"]["tokens"] == on_disk["tokens"]
    assert len(splits["train"]) == 14041
    missing = compose_config(["task=ner", "task.train_file=package://neuroner/no/such.txt"])
    with pytest.raises(FtlabError, match=r"no/such\.txt"):
        build_task(missing.task).prepare()


def test_a_gpu_preset_on_a_machine_without_one_is_one_line(tmp_path: Path, capsys) -> None:
    import torch

    from ftlab.job.lifecycle import run_job

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run_job(compose_config(["hardware=gpu"]), run_dir)
    assert exit_info.value.code != 0
    err = capsys.readouterr().err
    assert "needs a CUDA device" in err and "hardware=cpu" in err and "Traceback" not in err
    assert not (run_dir / "model").exists()


def test_rows_made_in_memory_are_the_rows_from_dict_makes() -> None:
    """What ftlab.predict and ftlab.serve build their input rows with: the same values and
    types as `Dataset.from_dict`, each with a fingerprint of its own (none is hashed)."""
    from datasets import Dataset

    from ftlab.data.columns import rows_in_memory

    cases = [
        {"text": ["Who wrote Hamlet ?", "é 中文 🙂"]},
        {"text": ["a"], "context": ["b"]},
        {"messages": [[{"role": "user", "content": "hi"}]]},
    ]
    for columns in cases:
        made, expected = rows_in_memory(columns), Dataset.from_dict(columns)
        assert made.features == expected.features and made.to_list() == expected.to_list()
    ids = {"input_ids": [[101, 7, 102], [101, 102]]}
    assert rows_in_memory(ids).to_list() == Dataset.from_dict(ids).to_list()
    assert rows_in_memory(cases[0])._fingerprint != rows_in_memory(cases[0])._fingerprint
