"""Optuna >= 4 searches: pruning from the Trainer's evaluations, `pruned` everywhere, one
study shared by two processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from helpers import in_process, tiny_run_overrides, tiny_sweep

from ftlab.records import read_json

# evaluations at steps 2, 4 and 6: a pruned trial stops at 2
STEPS = ("trainer.max_steps=6", "trainer.eval_steps=2", "trainer.save_steps=2")


def _seeded_study(url: str, name: str) -> optuna.Study:
    """A study whose five earlier trials reached accuracy 1.0 at every evaluation: the median
    pruner (five startup trials by default) prunes a new trial that does worse at step 2."""
    study = optuna.create_study(study_name=name, storage=url, direction="maximize")
    space = {
        "optimizer.learning_rate": optuna.distributions.FloatDistribution(1e-5, 2e-4, log=True)
    }
    for _ in range(5):
        study.add_trial(
            optuna.trial.create_trial(
                params={"optimizer.learning_rate": 1e-4},
                distributions=space,
                value=1.0,
                intermediate_values={2: 1.0, 4: 1.0, 6: 1.0},
            )
        )
    return study


def _search(
    tmp_path: Path, model: Path, files: dict, pruner: str, *more: str
) -> tuple[optuna.Study, Path]:
    """A one-trial search with `pruner` that joins the seeded study; the study and the job."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = _seeded_study(url, "seeded")
    result, sweep = tiny_sweep(
        tmp_path,
        model,
        files,
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=1",
        f"hydra.sweeper.pruner={pruner}",
        f"hydra.sweeper.storage={url}",
        "hydra.sweeper.study_name=seeded",
        *STEPS,
        *more,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return study, sweep / "0"


def _steps_trained(job_dir: Path) -> int:
    return max(record["step"] for record in read_json(job_dir / "train_log.json"))


def test_the_median_pruner_stops_a_trial_that_falls_behind(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    study, job = _search(tmp_path, tiny_model_dir, intent_files, "median")
    sweep = job.parent
    status = read_json(job / "status.json")
    assert status["status"] == "pruned" and status["pruned_at_step"] == 2
    assert _steps_trained(job) == 2  # of 6 planned
    # its records are kept: checkpoint, metrics of the model it had, the model
    assert (job / "checkpoint-2").is_dir() and (job / "model" / "config.json").is_file()
    assert read_json(job / "metrics.json")["train"]["pruned_at_step"] == 2
    trial = study.trials[-1]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [2]
    summary = read_json(sweep / "summary.json")
    assert summary["failed"] == [] and summary["best"] is None
    assert summary["jobs"][0]["status"] == "pruned" and summary["jobs"][0]["trial"] == 5
    assert "| 0 (trial 5) |" in (sweep / "summary.md").read_text()
    results = (sweep / "optimization_results.yaml").read_text()
    assert "pruned: 1" in results and "complete: 5" in results

    from ftlab.report import build_report

    assert f"- pruned: {job}" in build_report(sweep, tmp_path / "report")


def test_without_a_pruner_the_same_trial_trains_to_the_end(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """The negative control: the same seeded study and trial, pruner=none."""
    study, job = _search(tmp_path, tiny_model_dir, intent_files, "none")
    assert read_json(job / "status.json")["status"] == "completed"
    assert _steps_trained(job) == 6
    trial = study.trials[-1]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert list(trial.intermediate_values) == [2, 4, 6]  # still reported, never pruned
    assert trial.value == read_json(job / "metrics.json")["validation"]["eval_accuracy"]
    assert read_json(job.parent / "summary.json")["best"] == 0


def test_two_processes_share_one_study(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """Two `python -m ftlab.run -m` processes at once add distinct trials to one study."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    args = [
        "-m",
        *tiny_run_overrides(tiny_model_dir, intent_files),
        "trainer.max_steps=2",
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweeper.storage={url}",
        "hydra.sweeper.study_name=shared",
        f"output_root={tmp_path / 'out'}",
    ]
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "ftlab.run", *args, f"hydra.sweep.dir={tmp_path / name}"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]
    numbers = {
        name: [job["trial"] for job in read_json(tmp_path / name / "summary.json")["jobs"]]
        for name in ("a", "b")
    }
    assert len(numbers["a"]) == len(numbers["b"]) == 2
    assert sorted(numbers["a"] + numbers["b"]) == [0, 1, 2, 3]  # distinct, and they add up
    study = optuna.load_study(study_name="shared", storage=url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    params = {t.params["optimizer.learning_rate"] for t in study.trials}
    assert len(params) == 4  # no trial repeated another's settings

    # a third run continues the study: its trial numbers follow on
    more = (f"hydra.sweep.dir={tmp_path / 'c'}", "hydra.sweeper.n_trials=1")
    again = in_process("ftlab.run", *args, *more, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert read_json(tmp_path / "c" / "summary.json")["jobs"][0]["trial"] == 4
    assert "Optuna study shared: 5 trials (5 complete)" in again.stdout


def test_the_command_line_replaces_the_presets_search_space() -> None:
    """A key searched on the command line (ftlab writes it `++key=...`) or fixed there
    replaces the preset's entry for it; Optuna names every key without a prefix."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from ftlab.job.search import search_space

    preset = {
        "optimizer.learning_rate": "tag(log, interval(1e-5, 2e-4))",
        "trainer.seed": "choice(1, 2)",
        "trainer.num_train_epochs": "range(1, 4)",
    }
    command_line = [
        "++optimizer.learning_rate=interval(1e-4, 1e-3)",
        "task=intent",
        "trainer.seed=3",
    ]
    space, prefixes, fixed = search_space(preset, command_line)
    assert space == {
        "optimizer.learning_rate": FloatDistribution(1e-4, 1e-3),
        "trainer.num_train_epochs": IntDistribution(1, 3),  # range's stop is left out
    }
    assert prefixes == {"optimizer.learning_rate": "++", "trainer.num_train_epochs": ""}
    assert fixed == ["task=intent", "trainer.seed=3"]
    choices, _, _ = search_space({"scheduler.lr_scheduler_type": "choice(linear, cosine)"}, [])
    assert choices["scheduler.lr_scheduler_type"] == CategoricalDistribution(["linear", "cosine"])


@pytest.mark.parametrize(
    "bad",
    [
        "hydra.sweeper.storage=postgresql://me:hunter22@db.example/optuna",
        "hydra.sweeper.pruner=patient",
        "optimizer.learning_rate=glob(*)",
    ],
)
def test_bad_search_settings_are_one_line(tmp_path: Path, bad: str) -> None:
    """Refused before any trial runs; a password in a storage URL is not echoed."""
    sweep = f"hydra.sweep.dir={tmp_path / 'sweep'}"
    result = in_process("ftlab.run", "-m", "hparams_search=optuna", bad, sweep, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.count("ftlab: error:") == 1 and "Traceback" not in result.stderr
    assert bad.split("=")[0].rsplit(".", 1)[-1] in result.stderr  # names the key
    assert "hunter22" not in result.stderr + result.stdout
    assert not list((tmp_path / "sweep").glob("[0-9]*"))


@pytest.mark.slow  # about 70 s on 2 loaded cores: two ranks through accelerate launch
def test_two_ranks_stop_together_when_their_trial_is_pruned(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """Rank 0 asks the pruner and every rank takes its answer (else DDP would hang)."""
    two_ranks = (
        "hardware=ddp",
        "hardware.num_processes=2",
        "trainer.per_device_train_batch_size=8",
    )
    study, job = _search(tmp_path, tiny_model_dir, intent_files, "median", *two_ranks)
    status = read_json(job / "status.json")
    assert status["status"] == "pruned" and status["pruned_at_step"] == 2
    assert read_json(job / "env.json")["world_size"] == 2
    assert study.trials[-1].state == optuna.trial.TrialState.PRUNED
