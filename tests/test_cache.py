"""The tokenization cache hits only for the same data, tokenizer and settings: a changed
max_seq_length, label list, tokenizer, chunking or edited data file must re-tokenize (a
wrong hit would train on stale data without a word)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import build_tiny_bert
from helpers import compose_config, local_data

from ftlab.config.targets import build_task

LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]


def _tokenize(files: dict, model_dir: Path, caplog: pytest.LogCaptureFixture, *overrides: str):
    """Prepare and tokenize the intent task; which splits were `cached` vs `done`."""
    from transformers import AutoTokenizer

    task = build_task(
        compose_config(
            ["task=intent", "task.label_column=label", *local_data(files), *overrides]
        ).task
    )
    caplog.clear()
    with caplog.at_level("INFO", logger="ftlab.data.cache"):
        task.tokenize(task.prepare(), AutoTokenizer.from_pretrained(model_dir))
    return [r.message.rsplit(" ", 1)[-1] for r in caplog.records if "tokenization" in r.message]


@pytest.fixture()
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path / "cache"))


@pytest.fixture()
def files(tmp_path: Path, intent_files: dict) -> dict[str, Path]:
    """Copies of the intent files that a test may edit."""
    copies = {}
    for split, path in intent_files.items():
        copies[split] = tmp_path / path.name
        shutil.copy(path, copies[split])
    return copies


@pytest.mark.parametrize(
    "changed",
    [
        ["task.max_seq_length=24"],
        [f"task.labels=[{','.join(reversed(LABELS))}]"],
        ["task.long_document=chunks", "task.chunk_stride=4"],
    ],
    ids=["max_seq_length", "label order", "chunks"],
)
def test_a_changed_setting_misses_the_cache(
    fresh_cache: None, files: dict, tiny_model_dir: Path, caplog, changed: list
) -> None:
    base = ["task.max_seq_length=32"]
    assert _tokenize(files, tiny_model_dir, caplog, *base) == ["done"] * 3
    assert _tokenize(files, tiny_model_dir, caplog, *base) == ["cached"] * 3  # positive control
    assert _tokenize(files, tiny_model_dir, caplog, *base, *changed) == ["done"] * 3


def test_an_edited_data_file_misses_the_cache(
    fresh_cache: None, files: dict, tiny_model_dir: Path, caplog
) -> None:
    assert _tokenize(files, tiny_model_dir, caplog) == ["done"] * 3
    frame = pd.read_csv(files["train"])
    frame.loc[0, "text"] = "What is a completely different first question ?"
    frame.to_csv(files["train"], index=False)  # same path, same row count
    result = _tokenize(files, tiny_model_dir, caplog)
    assert result[0] == "done"  # train re-tokenized
    assert result[1:] == ["cached", "cached"]  # the untouched splits still hit


def test_another_tokenizer_misses_the_cache(
    fresh_cache: None, files: dict, tiny_model_dir: Path, tmp_path: Path, trec_rows, caplog
) -> None:
    other = build_tiny_bert(tmp_path / "other", (r["text"] for r in trec_rows[:500]), 400)
    assert _tokenize(files, tiny_model_dir, caplog) == ["done"] * 3
    assert _tokenize(files, other, caplog) == ["done"] * 3
    assert _tokenize(files, tiny_model_dir, caplog) == ["cached"] * 3
