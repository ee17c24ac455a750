"""Crash, kill and bad input: runs stop cleanly, lose nothing, and resume to identical results."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import FAST, compose_config, in_process, launch, local_data

from ftlab.errors import FtlabError
from ftlab.job.lifecycle import run_job
from ftlab.job.resume import resume_overrides
from ftlab.records import read_json
from ftlab.run_lock import run_status
from ftlab.training.train import train


def _overrides(tiny_model_dir: Path, files: dict, *extra: str) -> list[str]:
    return [
        *FAST,
        "task=intent",
        f"model.name_or_path={tiny_model_dir}",
        *local_data(files),
        "task.label_column=label",
        *extra,
    ]


# -- bad input: one line, before training -------------------------------------------------
ROWS = "".join(f"question {i},{'AB'[i % 2]}\n" for i in range(10))  # enough to cut splits from


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "content", "extra", "message"),
    [
        ("empty.csv", "", [], "is empty"),
        (
            "quote.csv",
            'text,label\nhello,A\n"never closed,B\nx,C\n',
            [],
            "quote.csv: cannot be read as csv: line 3",
        ),
        (
            "fields.csv",
            "text,label\nhello,A\nfoo,B,extra\n",
            [],
            "fields.csv: cannot be read as csv: line 3: 3 fields, the header has 2",
        ),
        (
            "broken.jsonl",
            '{"text": "a", "label": "A"}\n{"text": "b", "label": \n',
            [],
            "broken.jsonl: cannot be read as json: line 2",
        ),
        (
            "cols.csv",
            "sentence,label\nhello,A\n",
            [],
            "has no column 'text' (task.text_column); its columns are: sentence, label",
        ),
        (
            "good.csv",
            "text,label\n" + ROWS,
            ["task.labels=[A]"],
            "label 'B' is not in the label list (A)",
        ),
        (
            "tiny.csv",
            "text,label\nhello,A\nbye,B\n",
            [],
            "train has 2 examples, too few to cut validation and test from it",
        ),
        (
            "nolabel.csv",
            "text,label\n" + ROWS + "bye,\n",
            [],
            "the label in column 'label' is empty",
        ),
        (
            "good.csv",
            "text,label\n" + ROWS,
            ["task.max_seq_length=4096"],
            "task.max_seq_length=4096 is above the limit",
        ),
    ],
)
def test_bad_input_is_one_clear_error(
    tmp_path: Path,
    tiny_model_dir: Path,
    capsys: pytest.CaptureFixture,
    name: str,
    content: str,
    extra: list,
    message: str,
) -> None:
    """Through the job's own error path: one `ftlab: error:` line, exit 1, status failed."""
    data = _write(tmp_path / name, content)
    cfg = compose_config(
        [
            *FAST,
            "task=intent",
            f"model.name_or_path={tiny_model_dir}",
            f"task.train_file={data}",
            "task.label_column=label",
            *extra,
        ]
    )
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run_job(cfg, run_dir)
    assert exit_info.value.code == 1
    stderr = capsys.readouterr().err
    # datasets may print its own progress and log lines; ftlab adds exactly one, no traceback
    errors = [line for line in stderr.splitlines() if line.startswith("ftlab: error: ")]
    assert len(errors) == 1 and message in errors[0], stderr
    assert "Traceback" not in stderr
    status = read_json(run_dir / "status.json")
    assert status["status"] == "failed" and message in status["error"]
    assert not (run_dir / "metrics.json").exists()


def test_validation_label_missing_from_the_training_labels(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    train_file = _write(tmp_path / "train.csv", "text,label\na,X\nb,Y\n")
    dev_file = _write(tmp_path / "dev.csv", "text,label\nc,Z\n")
    cfg = compose_config(
        [
            *FAST,
            "task=intent",
            f"model.name_or_path={tiny_model_dir}",
            "task.label_column=label",
            f"task.train_file={train_file}",
            f"task.validation_file={dev_file}",
        ]
    )
    with pytest.raises(
        FtlabError, match="validation split, row 0: label 'Z' is not in the label list"
    ):
        train(cfg, tmp_path / "run")


def test_model_head_with_another_label_count(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """A trained 6-label head cannot silently take a 2-label task."""
    first = tmp_path / "six"
    run_job(compose_config(_overrides(tiny_model_dir, intent_files, "trainer.max_steps=1")), first)
    two = _write(tmp_path / "two.csv", "text,label\nhello,A\nbye,B\nyes,A\nno,B\n")
    overrides = [
        *FAST,
        "task=intent",
        f"model.name_or_path={first / 'model'}",
        f"task.train_file={two}",
        "task.label_column=label",
        "trainer.max_steps=1",
        "task.validation_split_percentage=25",
    ]
    with pytest.raises(
        FtlabError,
        match=re.escape(
            "head for 6 outputs but the task needs 2; set model.ignore_mismatched_sizes=true"
        ),
    ):
        train(compose_config(overrides), tmp_path / "bad")
    run_job(compose_config([*overrides, "model.ignore_mismatched_sizes=true"]), tmp_path / "ok")
    assert read_json(tmp_path / "ok/status.json")["status"] == "completed"


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    from safetensors.torch import load_file

    cfg = compose_config(
        _overrides(
            tiny_model_dir,
            intent_files,
            "optimizer.learning_rate=1e30",
            "trainer.max_steps=30",
            "trainer.save_strategy=steps",
            "trainer.save_steps=1",
            "trainer.save_total_limit=null",
            "trainer.eval_strategy=no",
            "trainer.load_best_model_at_end=false",
            "trainer.logging_steps=1",
        )
    )
    with pytest.raises(SystemExit) as exit_info:
        run_job(cfg, tmp_path)
    assert exit_info.value.code == 1
    status = read_json(tmp_path / "status.json")
    assert status["status"] == "failed" and "loss became NaN/inf by step" in status["error"]
    bad_step = int(status["error"].split("by step ")[1].split(";")[0])
    checkpoints = sorted(tmp_path.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert checkpoints, "a good checkpoint from before the NaN is kept"
    assert all(int(p.name.split("-")[1]) < bad_step for p in checkpoints)
    import torch

    weights = load_file(checkpoints[-1] / "model.safetensors")
    assert all(bool(torch.isfinite(t).all()) for t in weights.values())
    assert not (tmp_path / "metrics.json").exists()


# -- kill, interrupt, resume (real subprocesses) ------------------------------------------
def _wait_for_checkpoint(process: subprocess.Popen, runs: Path, timeout: float = 120) -> Path:
    """The run directory, once a complete checkpoint (trainer_state.json written) exists."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = list(runs.glob("*/*/*/checkpoint-*/trainer_state.json"))
        if done:
            return done[0].parents[1]
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared")


def _weights(run_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(run_dir / "model" / "model.safetensors")


SLOW_ENOUGH_TO_KILL = [
    "trainer.max_steps=60",
    "trainer.save_strategy=steps",
    "trainer.save_steps=10",
    "trainer.eval_strategy=steps",
    "trainer.eval_steps=10",
    "trainer.save_total_limit=null",
    "task.max_seq_length=64",
    "trainer.per_device_train_batch_size=32",
]


def test_sigkill_then_resume_auto_matches_an_uninterrupted_run(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = _overrides(tiny_model_dir, intent_files, *SLOW_ENOUGH_TO_KILL)
    reference_dir = tmp_path / "reference"  # uninterrupted: no process boundary to test
    done = in_process("ftlab.run", *args, f"hydra.run.dir={reference_dir}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]

    killed = launch(args, tmp_path)
    run_dir = _wait_for_checkpoint(killed, tmp_path / "experiments/runs")
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    assert read_json(run_dir / "status.json")["status"] == "running"  # what a kill leaves
    # ... and what it reads as: the process that held the directory is gone
    assert run_status(run_dir)["status"] == "interrupted"
    written = {p: p.read_bytes() for p in [run_dir / "config.yaml", run_dir / "env.json"]}
    # resume=auto finds it as the newest unfinished run of these overrides ...
    monkeypatch.chdir(tmp_path)
    found = resume_overrides([*args, "resume=auto"])[-1].removeprefix("resume=")
    assert Path(found).resolve() == run_dir.resolve()

    # ... and continues it where the killed command's directory is named too (the kill is
    # what needs a process of its own; resuming is the parent's bookkeeping)
    named = f"hydra.run.dir={run_dir}"
    resumed = in_process("ftlab.run", *args, named, "resume=auto", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming {run_dir}" in resumed.stdout
    status = read_json(run_dir / "status.json")
    assert status["status"] == "completed" and "checkpoint-" in status["resumed_from"]
    assert all(p.read_bytes() == content for p, content in written.items())  # nothing overwritten

    expected, actual = (
        read_json(reference_dir / "metrics.json"),
        read_json(run_dir / "metrics.json"),
    )
    for split, prefix in (("validation", "eval"), ("test", "test")):
        for name in ("loss", "accuracy", "f1_macro"):
            assert actual[split][f"{prefix}_{name}"] == pytest.approx(
                expected[split][f"{prefix}_{name}"], abs=1e-6
            )
    reference_weights, resumed_weights = _weights(reference_dir), _weights(run_dir)
    assert reference_weights.keys() == resumed_weights.keys()
    import torch

    for key, tensor in reference_weights.items():
        torch.testing.assert_close(resumed_weights[key], tensor, rtol=0, atol=1e-6)


def test_sigterm_saves_a_checkpoint_marks_interrupted_and_resumes(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    args = _overrides(tiny_model_dir, intent_files, *SLOW_ENOUGH_TO_KILL)
    process = launch(args, tmp_path)
    run_dir = _wait_for_checkpoint(process, tmp_path / "experiments/runs")
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, output[-3000:]
    status = read_json(run_dir / "status.json")
    assert status["status"] == "interrupted"
    step = int(Path(status["checkpoint"]).name.split("-")[1])
    assert step < 60  # stopped early, with a checkpoint of the step the signal arrived at
    assert f"resume={run_dir}" in output

    resumed = in_process("ftlab.run", f"resume={run_dir}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert read_json(run_dir / "status.json")["status"] == "completed"
    state = json.loads((run_dir / "checkpoint-60" / "trainer_state.json").read_text())
    assert state["global_step"] == 60


def test_ctrl_c_saves_the_step_it_arrived_at_and_exits_130(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """SIGINT (a terminal's Ctrl-C) takes the SIGTERM path: the checkpoint of the current
    step, status interrupted, the resume hint and exit 130; not a KeyboardInterrupt traceback
    that leaves the run marked failed (the resume itself is the SIGTERM test's)."""
    args = _overrides(tiny_model_dir, intent_files, *SLOW_ENOUGH_TO_KILL)
    process = launch(args, tmp_path)
    run_dir = _wait_for_checkpoint(process, tmp_path / "experiments/runs")
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output[-3000:]
    assert "Traceback" not in output and "SIGINT received" in output
    status = read_json(run_dir / "status.json")
    assert status["status"] == "interrupted" and status["signal"] == signal.SIGINT
    checkpoint = Path(status["checkpoint"])
    step = int(checkpoint.name.split("-")[1])
    assert step < 60  # stopped early
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == step
    assert f"resume={run_dir}" in output


def test_resume_of_a_non_run_directory_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ftlab.run", f"resume={tmp_path}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"resume={tmp_path}: not a run directory" in result.stderr


def test_planted_secrets_never_reach_the_run_directory(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """The tokens in the environment, where huggingface_hub and wandb read them when asked
    (not at import), never reach the output or a file of the run."""
    secret = "hf_FAKEplantedSECRET1234567890"
    env = {"HF_TOKEN": secret, "WANDB_API_KEY": secret, "HUGGING_FACE_HUB_TOKEN": secret}
    args = _overrides(tiny_model_dir, intent_files, "trainer.max_steps=2")
    result = in_process(
        "ftlab.run", *args, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert secret not in result.stdout + result.stderr
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_token_in_the_config_is_refused_and_scrubbed(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    secret = "hf_FAKEtypedONtheCOMMANDline42"
    args = _overrides(tiny_model_dir, intent_files, f"trainer.hub_token={secret}")
    result = subprocess.run(
        [sys.executable, "-m", "ftlab.run", *args, f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "trainer.hub_token is a secret" in result.stderr
    assert "HF_TOKEN" in result.stderr
    assert secret not in result.stdout + result.stderr
    files = [p for p in (tmp_path / "run").rglob("*") if p.is_file()]
    assert any(p.name == "overrides.yaml" for p in files)  # Hydra's record, scrubbed
    for path in files:
        assert secret.encode() not in path.read_bytes(), path


def test_pickled_weights_are_refused_unless_asked_for(tmp_path: Path, tiny_model_dir: Path) -> None:
    """Weights load from safetensors; a `.bin`-only model needs model.use_safetensors=false."""
    import shutil

    import torch
    from safetensors.torch import load_file

    pickled = tmp_path / "pickled-model"
    shutil.copytree(tiny_model_dir, pickled)
    weights = load_file(pickled / "model.safetensors")
    (pickled / "model.safetensors").unlink()
    torch.save(weights, pickled / "pytorch_model.bin")

    from transformers import AutoModelForSequenceClassification

    from ftlab.training.models import load_model

    head = AutoModelForSequenceClassification
    model_cfg = compose_config([f"model.name_or_path={pickled}"]).model
    with pytest.raises(FtlabError, match=r"has no \.safetensors weights"):
        load_model(str(pickled), model_cfg, head, num_labels=2)
    trusted = compose_config([f"model.name_or_path={pickled}", "model.use_safetensors=false"])
    model, _ = load_model(str(pickled), trusted.model, head, num_labels=2)
    assert torch.equal(
        model.bert.embeddings.word_embeddings.weight,
        weights["embeddings.word_embeddings.weight"],
    )
