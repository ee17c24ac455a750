"""The masked-LM kind: continued pretraining on unlabelled text, its output as the starting
point of another task, another task's texts as its data, whole-word masking, fill-mask."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from helpers import compose_config, in_process, local_data, tiny_run

from ftlab.config.targets import build_task
from ftlab.errors import FtlabError
from ftlab.records import read_json

MLM = [
    "task=mlm",
    "task.builtin_dataset=null",
    "task.max_seq_length=64",
    "trainer.num_train_epochs=3",
    "optimizer.learning_rate=2e-3",
]


@pytest.fixture(scope="module")
def text_files(tmp_path_factory: pytest.TempPathFactory, trec_rows: list) -> dict[str, Path]:
    """Real TREC questions as plain text, one a line: 1,500 / 200 / 200."""
    directory = tmp_path_factory.mktemp("mlm-text")
    texts = [row["text"] for row in trec_rows]
    paths = {}
    for name, part in (
        ("train", texts[:1500]),
        ("validation", texts[1500:1700]),
        ("test", texts[1700:1900]),
    ):
        paths[name] = directory / f"{name}.txt"
        paths[name].write_text("\n".join(part) + "\n", encoding="utf-8")
    return paths


@pytest.fixture(scope="module")
def mlm_run(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, text_files: dict
) -> Path:
    return tiny_run(tmp_path_factory.mktemp("mlm-run"), tiny_model_dir, text_files, *MLM)


def test_loss_falls_and_perplexity_is_exp_loss(mlm_run: Path) -> None:
    metrics = read_json(mlm_run / "metrics.json")
    history = read_json(mlm_run / "train_log.json")
    evaluations = [e["eval_loss"] for e in history if "eval_loss" in e]
    first_loss = next(e["loss"] for e in history if "loss" in e)
    # learnable text: the masked-token loss falls well below where the new head started
    assert metrics["validation"]["eval_loss"] < first_loss - 0.5, (first_loss, evaluations)
    assert evaluations[-1] < evaluations[0]
    for split, prefix in (("validation", "eval"), ("test", "test")):
        loss = metrics[split][f"{prefix}_loss"]
        assert metrics[split][f"{prefix}_perplexity"] == pytest.approx(math.exp(loss))
        assert 0 < metrics[split][f"{prefix}_accuracy"] < 1
    blocks = read_json(mlm_run / "mlm_blocks.json")
    assert blocks["max_seq_length"] == 64 and blocks["train"] > blocks["validation"] > 0
    config = (mlm_run / "config.yaml").read_text()
    assert "greater_is_better: false" in config  # the loss is minimised


def test_its_model_is_the_starting_point_of_a_classification_run(
    mlm_run: Path, tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """Fine-tuning from <mlm run>/model starts from the adapted encoder, not the original."""
    import torch
    from safetensors.torch import load_file

    run = tiny_run(
        tmp_path / "cls",
        mlm_run / "model",
        intent_files,
        "task=intent",
        "task.label_column=label",
        "trainer.max_steps=1",
        "optimizer.learning_rate=1e-12",  # one step that changes nothing measurable
        "trainer.eval_strategy=no",
        "trainer.save_strategy=no",
        "trainer.load_best_model_at_end=false",
    )
    assert read_json(run / "status.json")["status"] == "completed"
    key = "bert.encoder.layer.0.attention.self.query.weight"
    classifier = load_file(run / "model/model.safetensors")[key]
    adapted = load_file(mlm_run / "model/model.safetensors")[key]
    original = load_file(tiny_model_dir / "model.safetensors")[key.removeprefix("bert.")]
    assert torch.allclose(classifier, adapted, atol=1e-6)
    assert not torch.allclose(classifier, original, atol=1e-3)  # negative control


def test_text_from_another_task_takes_its_texts_never_its_labels() -> None:
    task = build_task(compose_config(["task=mlm", "task.text_from=intent"]).task)
    splits = task.prepare()
    intent = build_task(compose_config(["task=intent"]).task)
    source = intent.prepare()
    assert splits["train"]["text"] == source["train"]["text"]
    assert splits["train"].column_names == ["text"]  # no label column came along
    with pytest.raises(FtlabError, match="no task 'intnet': did you mean 'intent'"):
        build_task(compose_config(["task=mlm", "task.text_from=intnet"]).task).prepare()


def test_whole_word_masking_masks_every_piece_of_a_word(
    tiny_model_dir: Path, trec_rows: list
) -> None:
    from datasets import Dataset, DatasetDict
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = DatasetDict(
        {"train": Dataset.from_dict({"text": [r["text"] for r in trec_rows[:300]]})}
    )

    def continuation_pieces_with_their_word(whole_word_mask: bool) -> tuple[int, int]:
        task = build_task(
            compose_config(
                ["task=mlm", "task.max_seq_length=32", f"task.whole_word_mask={whole_word_mask}"]
            ).task
        )
        blocks = task.tokenize(texts, tokenizer).splits["train"]
        batch = task.data_collator(tokenizer)([blocks[i] for i in range(64)])
        masked, labels = batch["labels"] != -100, batch["labels"]
        pieces = together = 0
        for row, col in masked.nonzero().tolist():
            if col and tokenizer.convert_ids_to_tokens(int(labels[row, col])).startswith("##"):
                pieces += 1
                together += int(masked[row, col - 1])
        return together, pieces

    together, pieces = continuation_pieces_with_their_word(True)
    assert pieces > 20 and together == pieces
    together, pieces = continuation_pieces_with_their_word(False)  # negative control
    assert together < pieces / 2


def test_fill_mask_prediction(mlm_run: Path, tmp_path: Path) -> None:
    done = in_process(
        "ftlab.predict",
        f"run={mlm_run}",
        "progress=false",
        "input=-",
        cwd=tmp_path,
        stdin_text="what is the capital of [MASK] ?\nwho [MASK] the telephone ?\n",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 2 and records[0]["text"] == "what is the capital of [MASK] ?"
    (candidates,) = records[0]["masks"]
    scores = [c["score"] for c in candidates]
    assert len(candidates) == 5 and scores == sorted(scores, reverse=True) and sum(scores) <= 1
    assert all(isinstance(c["token"], str) for c in candidates)
    no_mask = in_process(
        "ftlab.predict",
        f"run={mlm_run}",
        "progress=false",
        "input=-",
        cwd=tmp_path,
        stdin_text="no mask here\n",
    )
    assert no_mask.returncode == 1 and "no [MASK] in the text" in no_mask.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["task.whole_word_mask=true", "task.line_by_line=true"], "works on grouped texts"),
        (["task.mlm_probability=1.5"], "task.mlm_probability must be between 0 and 1"),
        (["peft=lora"], "peft=lora does not support MaskedLMTask tasks"),
        (["task.main_metric=f1"], "task.main_metric=f1 is not a metric of MaskedLMTask"),
    ],
)
def test_bad_mlm_settings_are_one_line(args: list, message: str) -> None:
    from ftlab.job.lifecycle import check_config

    with pytest.raises(FtlabError, match=message):
        check_config(compose_config(["task=mlm", *args]))


def test_local_text_files_are_read_one_document_a_line(text_files: dict) -> None:
    task = build_task(compose_config([*MLM, *local_data(text_files)]).task)
    splits = task.prepare()
    assert len(splits["train"]) == 1500 and len(splits["test"]) == 200
