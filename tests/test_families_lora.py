"""Every model family as a regressor with a LoRA adapter (tests/families.py: tiny random
models shipped as the Hub checkpoints ship): the adapter and every module the family adds
from scratch (DeBERTa's pooler, T5's classification head ...) train and are saved, so the
run reloads to exactly its own test scores; QLoRA (4-bit base) and gradient checkpointing
on a decoder too."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from families import FAMILIES
from helpers import FAMILY_RUN, assert_same_test_metrics, predicted_again, tiny_run
from safetensors.torch import load_file

# a score per TREC intent, as in test_regression.py: the text decides the target
SCORES = {"NUM": 3.0, "LOC": 2.0, "HUM": 1.0, "ENTY": 0.0, "DESC": -1.0, "ABBR": -2.0}
REGRESSION_LORA = [
    "task=sentiment_intensity",
    "task.label_column=score",
    "peft=lora",
    "optimizer.learning_rate=1e-2",  # the adapter and head must move in 4 steps
]


# modules a family's head adds from scratch beside the classifier peft knows by name
NEW_BESIDE_THE_HEAD = {"deberta-v3": "pooler", "t5": "classification_head"}


@pytest.fixture(scope="module")
def score_files(tmp_path_factory: pytest.TempPathFactory, trec_rows: list) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("scores")
    rows = [{"text": r["text"], "score": SCORES[r["label"]]} for r in trec_rows[:400]]
    paths = {}
    for name, part in (("train", rows[:200]), ("validation", rows[200:300]), ("test", rows[300:])):
        paths[name] = directory / f"{name}.csv"
        pd.DataFrame(part).to_csv(paths[name], index=False)
    return paths


def _assert_reloads_exactly(run: Path, tmp_path: Path) -> None:
    reloaded, records = predicted_again(run, tmp_path / "predicted.jsonl")
    assert_same_test_metrics(run, reloaded, tolerance=1e-4)
    own = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert [r["prediction"] for r in own] == pytest.approx([r["score"] for r in records], abs=1e-4)


@pytest.mark.parametrize("name", FAMILIES)
def test_a_family_trains_a_lora_regressor_that_reloads_exactly(
    name: str, tiny_family: Callable[[str], Path], score_files: dict, tmp_path: Path
) -> None:
    run = tiny_run(tmp_path / "run", tiny_family(name), score_files, *REGRESSION_LORA, *FAMILY_RUN)
    saved = json.loads((run / "model" / "adapter_config.json").read_text())
    assert saved["target_modules"] and saved["modules_to_save"]
    if name in NEW_BESIDE_THE_HEAD:  # peft alone would leave it random and unsaved
        module = NEW_BESIDE_THE_HEAD[name]
        assert module in saved["modules_to_save"]
        weights = load_file(run / "model" / "adapter_model.safetensors")
        assert any(f".{module}." in key for key in weights), sorted(weights)
    _assert_reloads_exactly(run, tmp_path)


@pytest.mark.parametrize(
    "extra",
    [["peft=qlora"], ["trainer.gradient_checkpointing=true"]],
    ids=["qlora", "gradient_checkpointing"],
)
def test_a_decoder_trains_with_qlora_and_with_gradient_checkpointing(
    extra: list[str], tiny_family: Callable[[str], Path], score_files: dict, tmp_path: Path
) -> None:
    run = tiny_run(
        tmp_path / "run", tiny_family("llama"), score_files, *REGRESSION_LORA, *FAMILY_RUN, *extra
    )
    adapter = load_file(run / "model" / "adapter_model.safetensors")
    lora_b = [t for key, t in adapter.items() if "lora_B" in key]
    assert lora_b and any(t.abs().max() > 0 for t in lora_b)  # B starts at zero: it trained
    base = json.loads((run / "model" / "base_config" / "config.json").read_text())
    assert ("quantization_config" in base) is ("peft=qlora" in extra)
    _assert_reloads_exactly(run, tmp_path)
