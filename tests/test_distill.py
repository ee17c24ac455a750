"""Knowledge distillation in real Trainer runs of the tiny BERT: a one-layer student learns
from a finished teacher run's soft targets (single-label, multi-label, NER), the teacher
term is the only thing that changes training, the teacher's outputs are computed once and
then read from the cache, and a teacher that does not fit is one line (issue 22)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import compose_config, in_process, local_data, tiny_run

from ftlab.errors import FtlabError
from ftlab.job.lifecycle import check_config
from ftlab.records import read_json, write_json

RUN = [
    "task=intent",
    "task.label_column=label",
    "task.max_eval_samples=80",
    "trainer.max_steps=20",
    "trainer.logging_steps=1",
    "optimizer.learning_rate=3e-3",
    "trainer.eval_strategy=no",
    "trainer.save_strategy=no",
    "trainer.load_best_model_at_end=false",
]
STUDENT = ["model.config.num_hidden_layers=1"]


def _log(run_dir: Path, key: str) -> list[float]:
    return [row[key] for row in read_json(run_dir / "train_log.json") if key in row]


def _scores(run_dir: Path) -> np.ndarray:
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    labels = sorted(rows[0]["scores"])
    return np.array([[row["scores"][label] for label in labels] for row in rows])


def _kl(teacher: np.ndarray, student: np.ndarray) -> float:
    eps = 1e-9
    return float(np.mean(np.sum(teacher * np.log((teacher + eps) / (student + eps)), axis=1)))


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, tiny_model_dir: Path, intent_files) -> Path:
    return tiny_run(
        tmp_path_factory.mktemp("teacher"),
        tiny_model_dir,
        intent_files,
        *RUN,
        "trainer.max_steps=40",
    )


@pytest.fixture(scope="module")
def student_alone(tmp_path_factory, tiny_model_dir: Path, intent_files) -> Path:
    return tiny_run(tmp_path_factory.mktemp("alone"), tiny_model_dir, intent_files, *RUN, *STUDENT)


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, teacher: Path, tiny_model_dir: Path, intent_files) -> Path:
    return tiny_run(
        tmp_path_factory.mktemp("distilled"),
        tiny_model_dir,
        intent_files,
        *RUN,
        *STUDENT,
        f"distill.teacher={teacher}",
        "distill.alpha=0.0",  # the teacher term alone
    )


def test_the_student_learns_the_teachers_outputs(
    teacher: Path, student_alone: Path, distilled: Path
) -> None:
    record = read_json(distilled / "distill.json")
    assert record["teacher"] == str(teacher.resolve())
    assert record["teacher_outputs"] == "computed"
    assert record["soft_targets"] == "softmax" and record["temperature"] == 2.0
    assert record["teacher_test_metrics"] == read_json(teacher / "metrics.json")["test"]
    # with alpha=0 the loss is the teacher term: T^2 KL, logged step by step
    losses, terms = _log(distilled, "loss"), _log(distilled, "distill_loss")
    assert len(terms) == len(losses) == 20
    assert losses == pytest.approx(terms, rel=1e-3, abs=1e-3)
    assert terms[-1] < terms[0]
    assert not _log(student_alone, "distill_loss")
    # on the test texts, the distilled student is closer to the teacher than the one that
    # learned from the labels alone (the same model, data, steps and seed)
    teacher_scores = _scores(teacher)
    assert _kl(teacher_scores, _scores(distilled)) < 0.5 * _kl(
        teacher_scores, _scores(student_alone)
    )


def test_with_alpha_one_the_teacher_changes_nothing_and_its_outputs_come_from_the_cache(
    distilled: Path,
    teacher: Path,
    student_alone: Path,
    tmp_path: Path,
    tiny_model_dir,
    intent_files,
) -> None:
    run = tiny_run(
        tmp_path / "run",
        tiny_model_dir,
        intent_files,
        *RUN,
        *STUDENT,
        f"distill.teacher={teacher}",
        "distill.alpha=1.0",
    )
    assert read_json(run / "distill.json")["teacher_outputs"] == "cached"  # `distilled` made it
    assert _log(run, "distill_loss")  # the term is computed (and logged) ...
    assert _log(run, "loss") == _log(student_alone, "loss")  # ... but weighs nothing


def test_a_multi_label_student_distils_with_sigmoid_targets(
    tmp_path: Path, tiny_model_dir: Path, multilabel_files
) -> None:
    multi = [
        "task=legal_multilabel",
        "task.text_column=text",
        "task.label_column=labels",
        "task.builtin_dataset=null",
        "task.max_seq_length=128",
        "task.max_eval_samples=60",
        "trainer.max_steps=10",
        "trainer.logging_steps=1",
        "optimizer.learning_rate=3e-3",
        "trainer.eval_strategy=no",
        "trainer.save_strategy=no",
        "trainer.load_best_model_at_end=false",
    ]
    teacher = tiny_run(tmp_path / "teacher", tiny_model_dir, multilabel_files, *multi)
    student = tiny_run(
        tmp_path / "student",
        tiny_model_dir,
        multilabel_files,
        *multi,
        *STUDENT,
        f"distill.teacher={teacher}",
        "distill.alpha=0.0",
        # evaluation and best-checkpoint selection on, as the presets have them
        "trainer.eval_strategy=steps",
        "trainer.eval_steps=5",
        "trainer.save_strategy=steps",
        "trainer.save_steps=5",
        "trainer.load_best_model_at_end=true",
    )
    assert read_json(student / "distill.json")["soft_targets"] == "sigmoid"
    terms = _log(student, "distill_loss")
    assert len(terms) == 10 and all(t >= 0 for t in terms) and terms[-1] < terms[0]


def test_an_ner_student_distils_on_the_scored_word_pieces(
    tmp_path: Path, ner_run: Path, tiny_ner_model_dir: Path, conll_files
) -> None:
    student = tiny_run(
        tmp_path / "student",
        tiny_ner_model_dir,
        conll_files,
        "task=ner",
        "task.max_seq_length=256",
        "trainer.max_steps=12",
        "trainer.logging_steps=1",
        "optimizer.learning_rate=3e-3",
        "trainer.eval_strategy=no",
        "trainer.save_strategy=no",
        "trainer.load_best_model_at_end=false",
        *STUDENT,
        f"distill.teacher={ner_run}",
    )
    terms = _log(student, "distill_loss")
    assert len(terms) == 12 and terms[-1] < terms[0]
    assert read_json(student / "metrics.json")["test"]["test_f1"] >= 0


def _config(*overrides: str):
    return compose_config([*RUN, *overrides])


def test_bad_distill_settings_are_one_line_before_anything_loads(
    tmp_path: Path, teacher: Path, ner_run: Path
) -> None:
    cases = {
        "distill.alpah=0.5": "did you mean 'alpha'",
        f"distill.teacher={tmp_path}": "not a run directory",
        f"distill.teacher={ner_run}": "different kind of task",
    }
    for override, message in cases.items():
        with pytest.raises(FtlabError, match=message):
            check_config(_config(override))
    with pytest.raises(FtlabError, match="between 0 and 1"):
        check_config(_config(f"distill.teacher={teacher}", "distill.alpha=1.5"))
    with pytest.raises(FtlabError, match="cannot be distilled"):
        check_config(compose_config(["task=sentiment_intensity", f"distill.teacher={teacher}"]))
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_text((teacher / "config.yaml").read_text())
    write_json(unfinished / "status.json", {"status": "running"})
    with pytest.raises(FtlabError, match="not completed"):
        check_config(_config(f"distill.teacher={unfinished}"))


def test_a_teacher_with_other_labels_or_another_tokenizer_is_one_line(
    tmp_path: Path, teacher: Path, tiny_model_dir, tiny_ner_model_dir, intent_files, capsys
) -> None:
    import pandas as pd

    from ftlab.job.lifecycle import run_job

    rows = pd.read_csv(intent_files["train"])
    two = {split: tmp_path / f"{split}.csv" for split in ("train", "validation", "test")}
    for path in two.values():
        rows[rows.label.isin(["DESC", "ENTY"])].head(100).to_csv(path, index=False)
    cases = [
        (two, f"model.name_or_path={tiny_model_dir}", "labels .* differ"),
        (intent_files, f"model.name_or_path={tiny_ner_model_dir}", "tokenizer differs"),
    ]
    for number, (files, model, message) in enumerate(cases):
        cfg = compose_config([*RUN, *local_data(files), model, f"distill.teacher={teacher}"])
        with pytest.raises(SystemExit):
            run_job(cfg, tmp_path / f"run-{number}")
        error = capsys.readouterr().err
        assert "Traceback" not in error
        assert error.count("ftlab: error:") == 1
        assert re.search(message, error), error


@pytest.mark.timeout(300)  # a hung launch fails here, not at the suite-wide 900 s
def test_two_processes_compute_the_teacher_outputs_together(
    tmp_path: Path, teacher: Path, tiny_model_dir: Path, intent_files
) -> None:
    """hardware=ddp: both ranks take part in the teacher's prediction pass (a collective),
    rank 0 writes the cache, and the distilled run completes with the term logged."""
    # the parent in this process: the ranks are processes of their own either way
    done = in_process(
        "ftlab.run",
        "hardware=ddp",
        "hardware.num_processes=2",
        f"model.name_or_path={tiny_model_dir}",
        *local_data(intent_files),
        *RUN,
        *STUDENT,
        "trainer.max_steps=6",
        "trainer.per_device_train_batch_size=8",
        "trainer.disable_tqdm=true",
        "task.max_train_samples=300",  # other data than the single-process runs: no cache hit
        f"distill.teacher={teacher}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp_path / "experiments/runs/intent").glob("*/*")
    assert read_json(run / "distill.json")["teacher_outputs"] == "computed"
    assert len(_log(run, "distill_loss")) == 6
    assert read_json(run / "env.json")["world_size"] == 2
