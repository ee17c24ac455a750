"""Bad input and faults at the boundaries where ftlab calls outside code: each gives one
`ftlab: error:` line naming the problem and the fix, a non-zero exit, no traceback on the
screen, and loses nothing already written (issue 15)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import FAST, compose_config, ftlab, hold_lock, in_process, tiny_run_overrides

from ftlab.config.overrides import normalize_overrides
from ftlab.config.targets import build_task
from ftlab.errors import FtlabError
from ftlab.job.lifecycle import run_job
from ftlab.job.run_dirs import check_output_dirs
from ftlab.records import read_json

ROWS = [{"text": f"question number {i}", "label": "AB"[i % 2]} for i in range(20)]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("ftlab: error: ")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr, stderr
    return errors[0]


def _failed_job(cfg, run_dir: Path, capsys: pytest.CaptureFixture) -> str:
    """run_job's own error path: exit 1, one line, status failed with that line."""
    with pytest.raises(SystemExit) as exit_info:
        run_job(cfg, run_dir)
    assert exit_info.value.code == 1
    line = _one_error_line(capsys.readouterr().err)
    status = read_json(run_dir / "status.json")
    assert status["status"] == "failed" and status["error"] in line
    return line


def _intent(tiny_model_dir: Path, *extra: str) -> list[str]:
    return [*FAST, "task=intent", f"model.name_or_path={tiny_model_dir}", *extra]


# -- data: what the rows hold ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("rows", "extra", "message"),
    [
        (
            [*ROWS[:5], {"text": None, "label": "A"}, *ROWS[5:]],
            [],
            "train split, row 5: 'text' holds None, not a text",
        ),
        (
            [*ROWS[:3], {"text": 42, "label": "A"}, *ROWS[3:]],
            [],
            "train split, row 3: 'text' holds 42, not a text",
        ),
        (
            [{"text": r["text"], "label": [r["label"]]} for r in ROWS],
            [],
            "not one label; set task.multi_label=true",
        ),
        (
            [{"text": r["text"], "label": "tax"} for r in ROWS],
            ["task.multi_label=true"],
            "holds 'tax', not a list; a multi-label column holds a list of labels per row",
        ),
    ],
    ids=["null-text", "number-text", "list-in-single-label", "string-in-multi-label"],
)
def test_what_the_data_holds_is_checked(
    tmp_path: Path,
    tiny_model_dir: Path,
    capsys: pytest.CaptureFixture,
    rows: list,
    extra: list,
    message: str,
) -> None:
    data = _jsonl(tmp_path / "train.jsonl", rows)
    cfg = compose_config(
        _intent(tiny_model_dir, f"task.train_file={data}", "task.label_column=label", *extra)
    )
    line = _failed_job(cfg, tmp_path / "run", capsys)
    assert message in line, line


def test_a_latin1_csv_names_the_file_and_the_fix_and_task_encoding_reads_it(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "latin.csv"
    data.write_bytes(
        ("text,label\n" + "".join(f"café crème {i},{'AB'[i % 2]}\n" for i in range(20))).encode(
            "latin-1"
        )
    )
    overrides = _intent(tiny_model_dir, f"task.train_file={data}", "task.label_column=label")
    line = _failed_job(compose_config(overrides), tmp_path / "run", capsys)
    assert f"{data} is not utf-8 text (byte 0xe9" in line
    assert "task.encoding=latin-1" in line and "iconv" in line
    # the fix the line names works
    task = build_task(compose_config([*overrides, "task.encoding=latin-1"]).task)
    texts = [text for split in task.prepare().values() for text in split["text"]]
    assert "café crème 0" in texts
    with pytest.raises(FtlabError, match=r"task\.encoding=klingon is not an encoding"):
        build_task(compose_config([*overrides, "task.encoding=klingon"]).task)


def test_a_latin1_conll_file_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "train.conll"
    data.write_bytes("Café B-LOC\nest O\n\n".encode("latin-1"))
    task = build_task(compose_config(["task=ner", f"task.train_file={data}"]).task)
    with pytest.raises(FtlabError, match=r"train.conll is not utf-8 text .*task.encoding=latin-1"):
        task.prepare()


def test_duplicate_labels_are_refused(tmp_path: Path, tiny_model_dir: Path) -> None:
    cfg = compose_config(_intent(tiny_model_dir, "task.labels=[A,B,A]"))
    with pytest.raises(FtlabError, match=r"task\.labels names 'A' more than once"):
        build_task(cfg.task)


# -- outside code: TrainingArguments, the model files, the disk ----------------------------
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["trainer.eval_strategy=no", "trainer.load_best_model_at_end=true"],
            "TrainingArguments rejected the config: ValueError: --load_best_model_at_end requires",
        ),
        (
            ["scheduler.lr_scheduler_type=cosinee"],
            "TrainingArguments rejected the config: ValueError: cosinee is not a valid Schedul",
        ),
    ],
    ids=["best-model-without-eval", "misspelt-scheduler"],
)
def test_training_arguments_own_checks_are_one_line(
    tmp_path: Path,
    tiny_model_dir: Path,
    intent_files: dict,
    capsys: pytest.CaptureFixture,
    extra: list,
    message: str,
) -> None:
    cfg = compose_config([*tiny_run_overrides(tiny_model_dir, intent_files), *extra])
    run_dir = tmp_path / "run"
    line = _failed_job(cfg, run_dir, capsys)
    assert message in line and "fix the trainer / optimizer / scheduler / hardware keys" in line
    # the full cause is kept for whoever debugs it: in the run's log, not on the screen
    assert "Traceback" in (run_dir / "run.log").read_text()


def test_a_truncated_model_file_is_one_line(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict, capsys: pytest.CaptureFixture
) -> None:
    broken = shutil.copytree(tiny_model_dir, tmp_path / "broken-model")
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    cfg = compose_config(tiny_run_overrides(broken, intent_files))
    line = _failed_job(cfg, tmp_path / "run", capsys)
    assert f"loading model '{broken}'" in line and "truncated or corrupt" in line


def test_a_full_disk_while_saving_fails_cleanly_and_keeps_the_records(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """A real write failure (the file-size limit, EFBIG) when the model is saved: one line,
    exit 1, status.json says why, and the records written before are whole."""
    run_dir = tmp_path / "run"
    limit = 300_000  # bytes: every record (and 100 rows' cache) fits, the ~500 KB weights do not

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ftlab.run",
            *tiny_run_overrides(tiny_model_dir, intent_files),
            "task.max_train_samples=100",
            "trainer.save_strategy=no",
            "trainer.load_best_model_at_end=false",
            f"hydra.run.dir={run_dir}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        preexec_fn=limited,
        env=os.environ.copy(),
    )
    assert done.returncode == 1, done.stderr[-3000:]
    line = _one_error_line(done.stderr)
    assert f"saving the model and records into {run_dir}" in line, line
    assert "free disk space" in line
    status = read_json(run_dir / "status.json")
    assert status["status"] == "failed" and "saving the model" in status["error"]
    for record in ("env.json", "params.json", "rank-0.json"):
        read_json(run_dir / record)  # whole and readable
    assert "name: intent" in (run_dir / "config.yaml").read_text()
    assert not (run_dir / "metrics.json").exists()


# -- the run directory: a finished run is never written over -------------------------------
def _finished_run(run_dir: Path, state: str = "completed") -> dict[str, bytes]:
    """A run directory as a finished run leaves it; returns its files' contents."""
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra/config.yaml").write_text("task: {name: intent}\n")
    (run_dir / "status.json").write_text(json.dumps({"status": state}))
    (run_dir / "metrics.json").write_text(json.dumps({"validation": {"eval_accuracy": 0.9}}))
    return {str(p): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


@pytest.mark.parametrize("state", ["completed", "running"])
def test_a_finished_run_directory_is_refused_and_left_as_it_was(tmp_path: Path, state: str) -> None:
    run_dir = tmp_path / "done"
    _finished_run(run_dir, state)
    # a running run is one whose process holds the directory's lock (ftlab/run_lock.py)
    holder = hold_lock(run_dir) if state == "running" else contextlib.nullcontext()
    with holder:
        before = {str(p): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
        result = ftlab(f"hydra.run.dir={run_dir}", "trainer.max_steps=1", cwd=tmp_path)
    assert result.returncode != 0
    line = _one_error_line(result.stderr)
    assert f"{run_dir} already holds a {state} run" in line and f"resume={run_dir}" in line
    after = {str(p): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    assert after == before  # Hydra's record included: refused before Hydra wrote anything


def test_run_job_itself_refuses_a_completed_run_without_touching_its_status(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture
) -> None:
    run_dir = tmp_path / "done"
    before = _finished_run(run_dir)
    with pytest.raises(SystemExit):
        run_job(compose_config(_intent(tiny_model_dir)), run_dir)
    assert "already holds a completed run" in _one_error_line(capsys.readouterr().err)
    assert {str(p): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_a_sweep_directory_with_finished_jobs_is_refused(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    _finished_run(sweep / "0")
    with pytest.raises(FtlabError, match=r"sweep/0 already holds a completed run"):
        check_output_dirs(["-m", f"hydra.sweep.dir={sweep}", "trainer.seed=1,2"])
    check_output_dirs(["-m", f"hydra.sweep.dir={sweep}", f"resume={sweep}"])  # resume: allowed
    # negative control: a directory with a failed run may be reused
    _finished_run(tmp_path / "failed", "failed")
    check_output_dirs([f"hydra.run.dir={tmp_path / 'failed'}"])


def test_an_output_folder_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(
        FtlabError, match=r"cannot create .*a-file/runs: .*choose another output_root"
    ):
        check_output_dirs([f"output_root={blocker}/runs"])
    with pytest.raises(FtlabError, match=r"choose another hydra.run.dir"):
        check_output_dirs([f"hydra.run.dir={blocker}/run"])
    result = ftlab(f"output_root={blocker}/runs", cwd=tmp_path)
    assert result.returncode != 0 and "cannot create" in _one_error_line(result.stderr)


# -- the command line -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("task=intnet", "task=intnet: no such option; did you mean 'intent'?"),
        ("logger=[wandb,tensorbord]", "logger=tensorbord: no such option"),
        ("experiment=null", "cannot be set to null; leave it out, or drop it with ~experiment"),
        ("task=", "task=: a config group needs an option; the task options: chinese_sentiment"),
        # Hydra's grammar: its parser's reason, on one line
        ("model.name_or_path=${model.name", "cannot be parsed (mismatched input '{'"),
        ("task.labels=[a,b", "'task.labels=[a,b' cannot be parsed (no viable alternative"),
    ],
)
def test_group_choices_are_checked_before_hydra(arg: str, message: str) -> None:
    with pytest.raises(FtlabError, match=re.escape(message)):
        normalize_overrides([arg])


def test_an_option_with_no_close_match_lists_the_options_once() -> None:
    with pytest.raises(FtlabError) as caught:
        normalize_overrides(["task=zzzz"])
    message = str(caught.value)
    assert message.startswith("task=zzzz: no such option; the task options: ")
    assert message.count("legal_cls") == 1 and "did you mean" not in message


def test_valid_group_choices_and_sweeps_pass() -> None:
    args = ["task=intent,sentiment", "logger=[wandb,tensorboard]", "peft=none", "~experiment"]
    assert normalize_overrides(args) == args


# -- ftlab.predict's input ------------------------------------------------------------------
def test_predict_input_that_is_not_utf8_or_not_text_is_one_line(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    from helpers import tiny_run

    run = tiny_run(
        tmp_path / "run",
        tiny_model_dir,
        intent_files,
        "task=intent",
        "task.label_column=label",
        "trainer.max_steps=2",
        "trainer.eval_strategy=no",
        "trainer.save_strategy=no",
        "trainer.load_best_model_at_end=false",
    )
    latin = tmp_path / "questions.txt"
    latin.write_bytes("Où est la gare ?\n".encode("latin-1"))
    nulls = _jsonl(tmp_path / "rows.jsonl", [{"text": "fine"}, {"text": None}])
    for value, message in (
        (latin, "questions.txt is not utf-8 text"),
        (nulls, "the input, row 1: 'text' holds None, not a text"),
    ):
        done = in_process(
            "ftlab.predict",
            f"run={run}",
            f"input={value}",
            "progress=false",
            cwd=tmp_path,
        )
        assert done.returncode == 1
        assert message in _one_error_line(done.stderr)


# -- values of the wrong type or range: one line before anything loads ----------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["task.threshold=abc"], "task.threshold must be a probability or 'tune', got 'abc'"),
        (["task.max_seq_length=abc"], "task.max_seq_length must be a whole number, got 'abc'"),
        (["task.multi_label=yes"], "task.multi_label must be true or false, got 'yes'"),
        (["model.trust_remote_code=maybe"], "model.trust_remote_code must be true or false"),
        (["trainer.seed=abc"], "trainer.seed must be a whole number, got 'abc'"),
        (["task.max_train_samples=-5"], "task.max_train_samples must be above 0, got -5"),
        (["task.validation_split_percentage=60"], "must be between 0 and 50"),
        (["task.text_column=[a,b,c]"], "task.text_column must be one column or a pair"),
        (["task=ner", "task.seqeval_mode=lenient"], "task.seqeval_mode must be one of"),
        # a run that would train nothing and be recorded as trained
        (["trainer.num_train_epochs=0"], "trainer.num_train_epochs=0 trains no step"),
        (["trainer.max_steps=0"], "trainer.max_steps=0 trains no step; set"),
        # interpolations that do not resolve: the key, and what OmegaConf found wrong
        (["task.max_seq_length=${nope}"], "task.max_seq_length: Interpolation key 'nope'"),
        (
            ["optimizer.learning_rate=${oc.env:FTLAB_NO_SUCH_VARIABLE}"],
            "optimizer.learning_rate: KeyError raised while resolving interpolation",
        ),
    ],
)
def test_values_of_the_wrong_type_are_one_line(args: list, message: str) -> None:
    from ftlab.job.lifecycle import check_config

    with pytest.raises(FtlabError) as error:
        check_config(compose_config(args))
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("command", "arg", "message"),
    [
        ("ftlab.run", "hydra.run.dir=out/${nope}", "hydra.run.dir: Interpolation key 'nope'"),
        ("ftlab.run", "~model", "hydra.run.dir: Interpolation key 'model.name' not found"),
        ("ftlab.run", "+foo=1", "unknown config key 'foo': valid keys: adapt, distill, hardware"),
        ("ftlab.predict", "run=${nope}", "run: Interpolation key 'nope' not found; fix"),
        ("ftlab.export", "run=[a,b", "override 'run=[a,b' cannot be parsed"),
    ],
    ids=[
        "run-dir-interpolation",
        "removed-group",
        "unknown-top-level-key",
        "predict-interpolation",
        "export-grammar",
    ],
)
def test_what_hydra_would_refuse_once_started_is_one_line(
    command: str, arg: str, message: str, tmp_path: Path
) -> None:
    done = in_process(command, arg, cwd=tmp_path)
    assert done.returncode != 0
    assert message in _one_error_line(done.stderr)
    assert "Traceback" not in done.stderr and "HYDRA_FULL_ERROR" not in done.stderr


def test_no_training_is_asked_for_by_do_train_or_a_step_count() -> None:
    from ftlab.job.lifecycle import check_config

    # negative controls of the zero-epoch refusal: evaluating as loaded, or steps instead
    check_config(compose_config(["trainer.num_train_epochs=0", "trainer.do_train=false"]))
    check_config(compose_config(["trainer.num_train_epochs=0", "trainer.max_steps=5"]))


def test_a_model_without_its_tokenizer_files_is_refused_before_training(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """Config and weights alone load an empty tokenizer: every word would be [UNK]."""
    bare = tmp_path / "bare-model"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_model_dir / name, bare / name)
    run_dir = tmp_path / "run"
    done = in_process(
        "ftlab.run",
        *tiny_run_overrides(bare, intent_files),
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    line = _one_error_line(done.stderr)
    assert "reads 100% of the training text as its unknown token [UNK]" in line, line
    assert f"{bare} holds none of the tokenizer files" in line
    assert not list(run_dir.glob("checkpoint-*")) and not (run_dir / "model").exists()


def test_do_train_false_scores_and_saves_the_model_as_loaded(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    run_dir = tmp_path / "run"
    done = in_process(
        "ftlab.run",
        *tiny_run_overrides(tiny_model_dir, intent_files),
        "trainer.do_train=false",
        "trainer.max_steps=-1",
        "trainer.num_train_epochs=0",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["train"]["trained"] is False and "train_loss" not in metrics["train"]
    assert 0 <= metrics["test"]["test_accuracy"] <= 1 and "eval_loss" in metrics["validation"]
    assert (run_dir / "model" / "config.json").is_file()
    assert not list(run_dir.glob("checkpoint-*"))  # no step, no checkpoint
    assert "trainer.do_train=false" in (run_dir / ".hydra" / "overrides.yaml").read_text()


def test_numbers_are_label_names_too() -> None:
    from ftlab.job.lifecycle import check_config

    check_config(compose_config(["task.labels=[0,1]"]))  # negative control: still accepted
