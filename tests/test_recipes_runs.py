"""Recipes in real Trainer runs of the tiny BERT on real TREC questions: a LoRA adapter and
its merged model give the trained model's predictions, frozen weights stay put, unit class
weights train exactly like none, and FGM + augmentation runs repeat exactly under a seed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import reloaded_records, tiny_run
from safetensors.numpy import load_file

from ftlab.records import read_json

RUN = [
    "task=intent",
    "task.label_column=label",
    "task.max_eval_samples=60",
    "trainer.max_steps=15",
    "optimizer.learning_rate=3e-3",
    # scored once at the end: no per-step evaluation or checkpoints to keep it quick
    "trainer.eval_strategy=no",
    "trainer.save_strategy=no",
    "trainer.load_best_model_at_end=false",
]


def predictions(run_dir: Path) -> list[dict]:
    lines = (run_dir / "predictions.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def scores(rows: list[dict], labels: list[str]) -> np.ndarray:
    return np.array([[row["scores"][label] for label in labels] for row in rows])


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, intent_files):
    return tiny_run(tmp_path_factory.mktemp("plain"), tiny_model_dir, intent_files, *RUN)


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, intent_files):
    return tiny_run(
        tmp_path_factory.mktemp("lora"),
        tiny_model_dir,
        intent_files,
        *RUN,
        "peft=lora",
        "peft.r=4",
        "peft.merge=true",
    )


def test_lora_run_records_its_trainable_parameters(lora_run: Path) -> None:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(lora_run / "model" / "base_config")
    h, layers, labels = config.hidden_size, config.num_hidden_layers, len(config.id2label)
    expected = layers * 2 * 4 * (h + h) + h * labels + labels  # r=4 on query, value; head
    params = read_json(lora_run / "params.json")
    assert params["trainable_parameters"] == expected
    train = read_json(lora_run / "metrics.json")["train"]
    # the run trained in this process: its peak is at most this process's peak so far, and
    # above what Python with torch and transformers imported holds (a unit slip fails)
    import resource

    so_far = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert 250 < train["peak_rss_mib"] <= so_far + 0.1


def test_lora_adapter_and_merged_model_reproduce_the_trained_predictions(lora_run: Path) -> None:
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        AutoTokenizer,
        pipeline,
    )

    adapter_dir, merged_dir = lora_run / "model", lora_run / "model-merged"
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {
        p.name for p in adapter_dir.iterdir()
    }
    assert not (adapter_dir / "model.safetensors").exists()
    # training moved the LoRA B matrices off their zero start: merging changes the weights
    weights = load_file(adapter_dir / "adapter_model.safetensors")
    assert any(np.abs(v).max() > 0 for k, v in weights.items() if "lora_B" in k)

    rows = predictions(lora_run)[:30]
    texts = [row["text"] for row in rows]
    config = AutoConfig.from_pretrained(adapter_dir / "base_config")
    labels = [config.id2label[i] for i in range(len(config.id2label))]
    trained = scores(rows, labels)  # the trained model's test probabilities (5 decimals)

    adapter = AutoModelForSequenceClassification.from_pretrained(adapter_dir, config=config)
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
    with torch.no_grad():
        logits = adapter(**tokenizer(texts, padding=True, return_tensors="pt")).logits
    assert np.allclose(torch.softmax(logits, -1).numpy(), trained, atol=1e-4)

    assert not (merged_dir / "adapter_config.json").exists()  # a plain transformers model
    classify = pipeline("text-classification", model=str(merged_dir), device="cpu", top_k=None)
    merged = np.array(
        [
            [{o["label"]: o["score"] for o in out}[label] for label in labels]
            for out in classify(texts)
        ]
    )
    assert np.allclose(merged, trained, atol=1e-4)


def test_frozen_embeddings_stay_put_with_checkpointing_and_layerwise_rates(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    run = tiny_run(
        tmp_path,
        tiny_model_dir,
        intent_files,
        *RUN,
        "model.freeze=embeddings",
        "model.freeze_layers=1",
        "optimizer.layerwise_lr_decay=0.8",
        "optimizer.head_learning_rate=5e-3",
        "trainer.gradient_checkpointing=true",
    )
    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(run / "model" / "model.safetensors")

    def weight(tensors: dict, name: str) -> np.ndarray:
        # the base checkpoint names BertModel's weights without the `bert.` prefix
        return tensors.get(name, tensors.get(f"bert.{name}"))

    for frozen in ("embeddings.word_embeddings.weight", "encoder.layer.0.output.dense.weight"):
        assert np.array_equal(weight(before, frozen), weight(after, frozen)), frozen
    trained = "encoder.layer.1.output.dense.weight"
    assert not np.array_equal(weight(before, trained), weight(after, trained))
    params = read_json(run / "params.json")
    assert params["trainable_parameters"] < params["total_parameters"]


def test_unit_class_weights_train_exactly_like_none(
    plain_run: Path, tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    weighted = tiny_run(
        tmp_path, tiny_model_dir, intent_files, *RUN, "task.class_weights=[1,1,1,1,1,1]"
    )
    plain, ones = read_json(plain_run / "metrics.json"), read_json(weighted / "metrics.json")
    assert ones["train"]["train_loss"] == pytest.approx(plain["train"]["train_loss"], rel=1e-4)
    assert ones["test"]["test_loss"] == pytest.approx(plain["test"]["test_loss"], rel=1e-4)
    assert [r["prediction"] for r in predictions(weighted)] == [
        r["prediction"] for r in predictions(plain_run)
    ]


def test_fgm_and_augmentation_runs_repeat_exactly_under_a_seed(
    plain_run: Path, tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    recipe = ["trainer.adversarial=fgm", "trainer.adversarial_epsilon=0.5", "task.augment=swap"]
    first = tiny_run(tmp_path / "a", tiny_model_dir, intent_files, *RUN, *recipe)
    second = tiny_run(tmp_path / "b", tiny_model_dir, intent_files, *RUN, *recipe)
    a, b = read_json(first / "metrics.json"), read_json(second / "metrics.json")
    assert a["train"]["train_loss"] == b["train"]["train_loss"]
    assert a["test"]["test_loss"] == b["test"]["test_loss"]
    weights_a = load_file(first / "model" / "model.safetensors")
    weights_b = load_file(second / "model" / "model.safetensors")
    assert all(np.array_equal(weights_a[k], weights_b[k]) for k in weights_a)
    # and the recipe changed training
    plain = read_json(plain_run / "metrics.json")
    assert a["train"]["train_loss"] != pytest.approx(plain["train"]["train_loss"], rel=1e-3)


def test_prefix_tuning_on_bert_fails_in_one_line(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        tiny_run(tmp_path, tiny_model_dir, intent_files, *RUN, "peft=prefix_tuning")
    assert exit_info.value.code == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("ftlab: error: peft=prefix_tuning needs a model whose forward")
    assert read_json(tmp_path / "status.json")["status"] == "failed"


def test_predict_runs_a_lora_run_as_trained(lora_run: Path, intent_files, tmp_path: Path) -> None:
    """`python -m ftlab.predict` on a run that holds only a LoRA adapter gives the labels and
    probabilities the Trainer wrote for the test set."""
    from helpers import in_process

    out = tmp_path / "predictions.jsonl"
    done = in_process(
        "ftlab.predict",
        "progress=false",
        f"run={lora_run}",
        f"input={intent_files['test']}",
        f"output={out}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    trained = predictions(lora_run)
    # the run scored a 60-row subset of the test file (task.max_eval_samples); predict
    # reads the whole file, in order: match rows by text
    by_text = {row["text"]: row for row in map(json.loads, out.read_text().splitlines())}
    predicted = [by_text[row["text"]] for row in trained]
    assert [row["label"] for row in predicted] == [row["prediction"] for row in trained]
    labels = list(trained[0]["scores"])
    assert np.allclose(scores(predicted, labels), scores(trained, labels), atol=1e-4)


def test_a_lora_run_exports_its_merged_model_to_onnx(lora_run: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from helpers import assert_export_agrees, exported

    report = exported(lora_run, tmp_path)
    assert_export_agrees(report)
    # the graph is base and adapter merged: as many weights as the merged model's
    merged = load_file(lora_run / "model-merged" / "model.safetensors")
    weights = sum(array.size for array in merged.values())
    assert report["models"]["pytorch"]["size_mb"] == pytest.approx(weights * 4 / 2**20, rel=1e-3)


def _rates(run_dir: Path) -> list[float]:
    return [
        e["learning_rate"] for e in read_json(run_dir / "train_log.json") if "learning_rate" in e
    ]


def test_adafactor_and_a_constant_schedule_are_what_trains(
    plain_run: Path, tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """optimizer=adafactor scheduler=constant: the checkpoint's optimizer state is Adafactor's
    (factored second moments, no first moment: AdamW keeps `exp_avg`), and the rate holds at
    its peak after the warm-up where the plain run's linear schedule has decayed it."""
    import torch

    run = tiny_run(
        tmp_path,
        tiny_model_dir,
        intent_files,
        *RUN,
        "optimizer=adafactor",
        "scheduler=constant",
        "trainer.logging_steps=1",
        "trainer.save_strategy=steps",
        "trainer.save_steps=15",
    )
    (optimizer_file,) = run.glob("checkpoint-*/optimizer.pt")
    state = torch.load(optimizer_file, weights_only=True)["state"]
    kept = set().union(*(entry.keys() for entry in state.values()))
    assert "exp_avg_sq_row" in kept and "exp_avg" not in kept, kept

    peak = 3e-3  # RUN's optimizer.learning_rate, over the yaml's 1e-4
    rates = _rates(run)
    assert len(rates) == 15 and rates[0] < peak  # warm-up: 10 % of the steps
    assert rates[-12:] == pytest.approx([peak] * 12, rel=1e-6)
    linear = _rates(plain_run)  # logged at step 10 of 15
    assert linear and all(rate < 0.5 * peak for rate in linear)


def _reloaded_predictions(run_dir: Path, test_file: Path) -> list[dict]:
    """The reloaded run's records for the rows the Trainer scored, in its order."""
    from datasets import Dataset

    scored = {row["text"] for row in predictions(run_dir)}
    inputs = Dataset.from_csv(str(test_file)).filter(lambda row: row["text"] in scored)
    by_text = {r["text"]: r for r in reloaded_records(run_dir, inputs)}
    return [by_text[row["text"]] for row in predictions(run_dir)]


PEFT_RUNS = {
    # AdaLoRA's singular values E start at zero; IA3's scaling vectors at one
    "adalora": (["peft=adalora", "peft.init_r=4", "peft.target_r=2"], "ADALORA", "lora_E", 0.0),
    "ia3": (["peft=ia3"], "IA3", "ia3_l", 1.0),
    "prompt_tuning": (
        ["peft=prompt_tuning", "peft.num_virtual_tokens=8"],
        "PROMPT_TUNING",
        "prompt_embeddings",
        None,  # random start: its shape is checked instead
    ),
}


@pytest.mark.parametrize("method", list(PEFT_RUNS))
def test_a_peft_method_trains_its_adapter_and_reloads_as_trained(
    method: str, tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    overrides, peft_type, weight_name, start = PEFT_RUNS[method]
    run = tiny_run(tmp_path, tiny_model_dir, intent_files, *RUN, *overrides)
    adapter_dir = run / "model"
    assert json.loads((adapter_dir / "adapter_config.json").read_text())["peft_type"] == peft_type
    assert not (adapter_dir / "model.safetensors").exists()  # the adapter, not a full copy
    weights = {
        k: v
        for k, v in load_file(adapter_dir / "adapter_model.safetensors").items()
        if weight_name in k
    }
    assert weights, f"no {weight_name} in the saved adapter"
    if start is None:
        hidden = json.loads((adapter_dir / "base_config" / "config.json").read_text())
        assert [v.shape for v in weights.values()] == [(8, hidden["hidden_size"])]
    else:
        assert any(np.abs(v - start).max() > 1e-6 for v in weights.values())  # it trained

    trained = predictions(run)
    reloaded = _reloaded_predictions(run, intent_files["test"])
    assert [r["label"] for r in reloaded] == [r["prediction"] for r in trained]
    labels = list(trained[0]["scores"])
    assert np.allclose(scores(reloaded, labels), scores(trained, labels), atol=1e-4)
