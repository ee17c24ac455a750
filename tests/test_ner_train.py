"""A real NER run: tiny BERT on 800 real CoNLL-2003 sentences must find entities, write its
predictions and report, and leave a model that transformers.pipeline() runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftlab.data.conll import read_conll
from ftlab.records import read_json

ENTITY_TYPES = {"PER", "ORG", "LOC", "MISC"}


def test_ner_run_finds_entities(ner_run: Path) -> None:
    metrics = read_json(ner_run / "metrics.json")
    # predicting O everywhere scores 0; 5 trainer seeds gave validation F1 0.405-0.441 and
    # test F1 0.365-0.392: the floors sit about 15 % under the lowest
    assert metrics["validation"]["eval_f1"] > 0.35, metrics["validation"]
    assert metrics["test"]["test_f1"] > 0.31, metrics["test"]
    for key in ("eval_precision", "eval_recall", "eval_accuracy", "eval_f1_PER", "eval_f1_LOC"):
        assert key in metrics["validation"]


def _predicted_sentences(run_dir: Path) -> list[list[list[str]]]:
    blocks = (run_dir / "predictions.conll").read_text(encoding="utf-8").split("\n\n")
    return [[row.split("\t") for row in block.splitlines()] for block in blocks if block.strip()]


def test_word_level_predictions_and_test_report(ner_run: Path, conll_files: dict) -> None:
    gold = read_conll(conll_files["test"])
    sentences = _predicted_sentences(ner_run)
    assert len(sentences) == len(gold) == 200
    for rows, tokens, tags in zip(sentences, gold["tokens"], gold["ner_tags"], strict=True):
        assert [r[0] for r in rows] == tokens and [r[1] for r in rows] == tags
    assert read_json(ner_run / "truncation.json")["test"] == {
        "words": 0,
        "sentences": 0,
        "windowed": {"sentences": 0, "windows": 0},  # every sentence fits 256 tokens
    }
    report = read_json(ner_run / "classification_report.json")
    assert set(report) >= ENTITY_TYPES | {"micro avg", "macro avg", "overall_f1"}
    # nothing cut by truncation: the report over all words agrees with the Trainer's test_f1
    metrics = read_json(ner_run / "metrics.json")
    assert report["overall_f1"] == pytest.approx(metrics["test"]["test_f1"])
    assert "micro avg" in (ner_run / "classification_report.txt").read_text()


def test_saved_model_works_with_the_token_classification_pipeline(ner_run: Path) -> None:
    from seqeval.metrics.sequence_labeling import get_entities
    from transformers import pipeline

    model = str(ner_run / "model")
    simple = pipeline("token-classification", model=model, aggregation_strategy="simple")
    first = pipeline("token-classification", model=model, aggregation_strategy="first")
    # sentences of plain words, each one word for the pipeline's own pre-tokenizer too
    plain = [
        rows
        for rows in _predicted_sentences(ner_run)
        if all(r[0].isascii() and r[0].isalpha() for r in rows)
    ][:15]
    assert len(plain) >= 5
    found = 0
    for rows in plain:
        words = [r[0] for r in rows]
        text = " ".join(words)
        for entity in simple(text):
            assert entity["entity_group"] in ENTITY_TYPES
            # an entity that starts inside a word is shown as its piece: "##adim"
            assert text[entity["start"] : entity["end"]].lower() == entity["word"].lstrip("#")
        # "first" labels each word by its first piece, as ftlab's predictions do
        ours = [
            (kind, " ".join(words[start : end + 1]))
            for kind, start, end in get_entities([r[2] for r in rows])
        ]
        theirs = [(e["entity_group"], text[e["start"] : e["end"]]) for e in first(text)]
        assert theirs == ours, text
        found += len(ours)
    assert found > 0


def test_an_ner_run_exports_to_onnx_with_the_same_token_logits(
    ner_run: Path, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    from helpers import assert_export_agrees, exported

    report = exported(ner_run, tmp_path)
    assert_export_agrees(report)
    # per token: the check compares every real token of the 8 sentences, not 8 rows
    assert report["check_examples"] == 8
    import onnx

    outputs = onnx.load(str(tmp_path / "model.onnx")).graph.output
    assert [d.dim_param or d.dim_value for d in outputs[0].type.tensor_type.shape.dim][2] == 9


def test_lora_on_ner_trains_the_adapter_and_predicts_as_trained(
    tmp_path: Path, tiny_ner_model_dir: Path, conll_files: dict
) -> None:
    """peft's TOKEN_CLS task type end to end: an adapter and the tagging head train, the
    base stays put, and ftlab.predict (AutoPeftModelForTokenClassification) reproduces the
    run's own test predictions."""
    pytest.importorskip("peft")
    from helpers import tiny_run

    from ftlab.inference.predictor import Batching, run_outputs
    from ftlab.inference.runs import load_run

    run_dir = tiny_run(
        tmp_path / "lora-ner",
        tiny_ner_model_dir,
        conll_files,
        "task=ner",
        "task.max_seq_length=256",
        "peft=lora",
        "peft.r=4",
        "trainer.max_steps=12",
        "trainer.logging_steps=4",
        "optimizer.learning_rate=3e-3",
        "trainer.eval_strategy=no",
        "trainer.save_strategy=no",
        "trainer.load_best_model_at_end=false",
    )
    assert (run_dir / "model" / "adapter_config.json").is_file()
    params = read_json(run_dir / "params.json")
    assert 0 < params["trainable_parameters"] < params["total_parameters"] / 5
    losses = [e["loss"] for e in read_json(run_dir / "train_log.json") if "loss" in e]
    assert losses[-1] < losses[0]
    run = load_run(run_dir)
    assert type(run.model).__name__ == "PeftModelForTokenClassification"
    inputs = run.task.prediction_inputs(run.task.prepare()["test"], run.tokenizer)
    outputs = run_outputs(run, inputs, Batching(batch_size=16, device="cpu", progress=False))
    tags = [[run.task.label_list[i] for i in p.argmax(-1)] for p in outputs]
    assert tags == [[row[2] for row in rows] for rows in _predicted_sentences(run_dir)]
