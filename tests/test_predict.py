"""`python -m ftlab.predict`: a trained run over new text, ensembles, adapters, NER entities."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import in_process, tiny_run

from ftlab.records import read_json


def predict(
    *args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`python -m ftlab.predict ARGS` in a subprocess, as a user runs it (`env`: added)."""
    return subprocess.run(
        [sys.executable, "-m", "ftlab.predict", "progress=false", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def predicted(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`ftlab.predict ARGS` in this process (`helpers.in_process`): where the process boundary is
    not what a test checks."""
    return in_process("ftlab.predict", "progress=false", *args, cwd=cwd)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


INTENT = [
    "task=intent",
    "task.label_column=label",
    "trainer.max_steps=40",
    "optimizer.learning_rate=3e-3",
    "trainer.eval_strategy=no",
    "trainer.save_strategy=no",
    "trainer.load_best_model_at_end=false",
]


@pytest.fixture(scope="module")
def intent_run(tmp_path_factory, tiny_model_dir: Path, intent_files: dict) -> Path:
    return tiny_run(tmp_path_factory.mktemp("intent-run"), tiny_model_dir, intent_files, *INTENT)


@pytest.fixture(scope="module")
def intent_run_b(tmp_path_factory, tiny_model_dir: Path, intent_files: dict) -> Path:
    """A second member for ensembles: another seed."""
    return tiny_run(
        tmp_path_factory.mktemp("intent-run-b"),
        tiny_model_dir,
        intent_files,
        *INTENT,
        "trainer.seed=7",
    )


def test_predict_matches_the_trainers_test_predictions(
    intent_run: Path, intent_files: dict, tmp_path: Path
) -> None:
    out = tmp_path / "predictions.jsonl"
    done = predicted(
        f"run={intent_run}", f"input={intent_files['test']}", f"output={out}", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    trainer_rows = read_jsonl(intent_run / "predictions.jsonl")
    rows = read_jsonl(out)
    assert [r["label"] for r in rows] == [r["prediction"] for r in trainer_rows]
    for mine, theirs in zip(rows, trainer_rows, strict=True):
        assert mine["scores"] == pytest.approx(theirs["scores"], abs=1e-4)
    # the input has gold labels: the printed accuracy is the Trainer's test accuracy
    test_accuracy = read_json(intent_run / "metrics.json")["test"]["test_accuracy"]
    assert f"{test_accuracy:.4f}" in done.stdout


def test_evaluate_scores_the_runs_test_split_and_csv_output(
    intent_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "predictions.csv"
    done = predicted(f"run={intent_run}", "evaluate=true", f"output={out}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    trainer_rows = read_jsonl(intent_run / "predictions.jsonl")
    assert list(table["label"]) == [r["prediction"] for r in trainer_rows]
    labels = sorted(trainer_rows[0]["scores"])
    assert sorted(c for c in table.columns if c.startswith("score_")) == [
        f"score_{x}" for x in labels
    ]
    assert table[[f"score_{x}" for x in labels]].sum(axis=1).round(3).eq(1.0).all()
    f1 = read_json(intent_run / "metrics.json")["test"]["test_f1_macro"]
    assert f"{f1:.4f}" in done.stdout


def test_stdin_lines_to_stdout(intent_run: Path, tmp_path: Path) -> None:
    """Only the records reach stdout, also under WANDB_MODE=offline, where transformers
    prints "[INFO] Running in WANDB offline mode" to stdout when it is imported."""
    done = predict(
        f"run={intent_run}",
        "input=-",
        stdin="What is the capital of France ?\nWho wrote Hamlet ?\n",
        cwd=tmp_path,
        env={"WANDB_MODE": "offline"},
    )
    assert done.returncode == 0, done.stderr
    assert "WANDB offline mode" in done.stderr  # the print happened, on stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["What is the capital of France ?", "Who wrote Hamlet ?"]
    for row in rows:
        assert row["label"] == max(row["scores"], key=row["scores"].get)
        assert sum(row["scores"].values()) == pytest.approx(1.0, abs=1e-3)


def test_ensemble_reports_each_member_and_the_mean(
    intent_run: Path, intent_run_b: Path, intent_files: dict, tmp_path: Path
) -> None:
    out = tmp_path / "ensemble.jsonl"
    done = predicted(
        f"run=[{intent_run},{intent_run_b}]",
        f"input={intent_files['test']}",
        f"output={out}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    table = done.stdout.splitlines()
    assert [line.split()[0] for line in table[1:]] == [
        intent_run.name,
        intent_run_b.name,
        "ensemble",
    ]
    a, b = (
        read_jsonl(intent_run / "predictions.jsonl"),
        read_jsonl(intent_run_b / "predictions.jsonl"),
    )
    for row, ra, rb in zip(read_jsonl(out), a, b, strict=True):
        for label, score in row["scores"].items():
            assert score == pytest.approx((ra["scores"][label] + rb["scores"][label]) / 2, abs=1e-4)
    # each member's accuracy is its own run's test accuracy
    for run, line in zip((intent_run, intent_run_b), table[1:3], strict=True):
        assert f"{read_json(run / 'metrics.json')['test']['test_accuracy']:.4f}" in line


def test_ensemble_of_different_labels_is_refused(
    intent_run: Path, tmp_path_factory, tiny_model_dir: Path, intent_files: dict, tmp_path: Path
) -> None:
    other = tiny_run(
        tmp_path_factory.mktemp("three-labels"),
        tiny_model_dir,
        intent_files,
        *INTENT,
        "trainer.max_steps=2",
        "task.labels=[DESC,ENTY,HUM,LOC,NUM,ABBR]",
    )
    done = predicted(f"run=[{intent_run},{other}]", "evaluate=true", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("ftlab: error: runs ")
    assert "different label lists" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inptu=x.jsonl"], "unknown key 'inptu': did you mean 'input'?"),
        (["input=missing.jsonl"], "no such file"),
        (["input=x.jsonl", "output=out.parquet"], "use a .jsonl or .csv file"),
        ([], "no input"),
        (
            ["input=x.jsonl", "generation.max_new_tokens=8"],
            "generation.max_new_tokens: SequenceClassificationTask runs generate no text",
        ),
    ],
)
def test_bad_input_is_one_line(intent_run: Path, tmp_path: Path, args: list, message: str) -> None:
    (tmp_path / "x.jsonl").write_text('{"text": "hi"}\n')
    done = predicted(f"run={intent_run}", *args, cwd=tmp_path)
    assert done.returncode in (1, 2)
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_lora_adapter_run(intent_run: Path, tmp_path: Path) -> None:
    """A run whose model/ holds a peft LoRA adapter (built here with peft on the tiny BERT)
    predicts through AutoPeftModelForSequenceClassification, like the merged model does."""
    import shutil

    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    labels = json.loads((intent_run / "model/config.json").read_text())["id2label"]
    base_dir = tmp_path / "base"
    shutil.copytree(intent_run / "model", base_dir)  # the trained model as the adapter's base
    adapter_run = tmp_path / "adapter-run"
    shutil.copytree(intent_run, adapter_run, ignore=shutil.ignore_patterns("model"))
    base = AutoModelForSequenceClassification.from_pretrained(base_dir)
    lora = get_peft_model(
        base,
        LoraConfig(task_type=TaskType.SEQ_CLS, r=4, target_modules=["query", "value"]),
    )
    # LoRA's B matrices start at zero: shift them so the adapter really changes the model
    for name, parameter in lora.named_parameters():
        if "lora_B" in name:
            parameter.data.fill_(0.05)
    lora.save_pretrained(adapter_run / "model")
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(adapter_run / "model")
    assert not (adapter_run / "model/config.json").exists()  # labels come from the data
    merged_dir = tmp_path / "merged"
    lora.merge_and_unload().save_pretrained(merged_dir)

    out = tmp_path / "adapter.jsonl"
    done = predicted(f"run={adapter_run}", "evaluate=true", f"output={out}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = read_jsonl(out)
    assert sorted(rows[0]["scores"]) == sorted(labels.values())

    import torch

    merged = AutoModelForSequenceClassification.from_pretrained(merged_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    texts = [r["text"] for r in rows[:8]]
    with torch.no_grad():
        probabilities = merged(
            **tokenizer(texts, padding=True, return_tensors="pt")
        ).logits.softmax(-1)
    for row, p in zip(rows, probabilities, strict=False):
        expected = {merged.config.id2label[i]: float(v) for i, v in enumerate(p)}
        assert row["scores"] == pytest.approx(expected, abs=1e-4)


def test_ner_tags_match_the_run_and_entities_have_offsets(
    ner_run: Path, conll_files: dict, tmp_path: Path
) -> None:
    out = tmp_path / "ner.jsonl"
    done = predicted(
        f"run={ner_run}",
        f"input={conll_files['test']}",
        "input_format=conll",
        f"output={out}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    sentences = [
        [line.split("\t")[2] for line in block.splitlines()]
        for block in (ner_run / "predictions.conll").read_text().strip().split("\n\n")
    ]
    rows = read_jsonl(out)
    assert [r["tags"] for r in rows] == sentences
    assert sum(len(r["entities"]) for r in rows) > 0
    for row in rows:
        for entity in row["entities"]:
            assert row["text"][entity["start"] : entity["end"]] == entity["text"]
    # gold tags in the input: the printed F1 is seqeval's over every word (the test report's)
    report = read_json(ner_run / "classification_report.json")
    assert f"{report['overall_f1']:.4f}" in done.stdout

    # raw text: the same sentence written out finds the same entities at character offsets
    row = next(r for r in rows if r["entities"])
    text_in = tmp_path / "sentences.txt"
    text_in.write_text("  " + row["text"] + "\n", encoding="utf-8")
    done = predicted(f"run={ner_run}", f"input={text_in}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (raw,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["entity"] for e in raw["entities"]] == [e["entity"] for e in row["entities"]]
    assert [raw["text"][e["start"] : e["end"]] for e in raw["entities"]] == [
        e["text"] for e in row["entities"]
    ]
    assert all(
        e["start"] == x["start"] + 2 for e, x in zip(raw["entities"], row["entities"], strict=True)
    )
