"""Sweeps: `python -m ftlab.run -m ...` over a tiny model, failures, Optuna, resume, pinning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from helpers import compose_config, in_process, tiny_sweep

from ftlab.errors import FtlabError
from ftlab.job.pinning import slot_share
from ftlab.records import read_json, write_json


def _metric(job_dir: Path) -> float:
    return read_json(job_dir / "metrics.json")["validation"]["eval_accuracy"]


def test_grid_sweep_runs_every_job_and_writes_a_summary(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    result, sweep = tiny_sweep(
        tmp_path,
        tiny_model_dir,
        intent_files,
        "optimizer.learning_rate=1e-3,1e-4",
        "trainer.seed=1,2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.name for p in sweep.iterdir() if p.name.isdigit())
    assert jobs == ["0", "1", "2", "3"]
    summary = read_json(sweep / "summary.json")
    assert summary["failed"] == []
    expected = [
        ["optimizer.learning_rate=0.001", "trainer.seed=1"],
        ["optimizer.learning_rate=0.001", "trainer.seed=2"],
        ["optimizer.learning_rate=0.0001", "trainer.seed=1"],
        ["optimizer.learning_rate=0.0001", "trainer.seed=2"],
    ]
    for job, wanted in zip(summary["jobs"], expected, strict=True):
        assert job["status"] == "completed"
        assert set(wanted) <= set(job["overrides"])
        assert job["value"] == _metric(Path(job["run_dir"]))
        config = yaml.safe_load((Path(job["run_dir"]) / "config.yaml").read_text())
        assert config["optimizer"]["learning_rate"] == float(wanted[0].split("=")[1])
        # what trackers name the job by: the swept values only, not the fixed overrides
        swept = read_json(Path(job["run_dir"]) / "env.json")["swept"]
        assert [value.lstrip("+") for value in swept] == wanted
    table = (sweep / "summary.md").read_text()
    assert "| 3 | optimizer.learning_rate=0.0001 trainer.seed=2 | completed |" in table
    assert table in result.stdout
    best = yaml.safe_load((sweep / "best_trial.yaml").read_text())
    assert best["value"] == max(job["value"] for job in summary["jobs"])
    assert best["config"]["trainer"]["seed"] in (1, 2)


def test_a_failing_job_does_not_stop_thetiny_sweep(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """A bad value (ftlab's check) and a library exception fail their jobs; the rest run."""
    result, sweep = tiny_sweep(
        tmp_path,
        tiny_model_dir,
        intent_files,
        "scheduler.lr_scheduler_type=not_a_schedule,linear",
        "optimizer.learning_rate=-1,1e-3",
    )
    assert result.returncode == 1
    assert "ftlab: error: 3 of 4 jobs failed: 0, 1, 2" in result.stderr
    jobs = read_json(sweep / "summary.json")["jobs"]
    assert [j["status"] for j in jobs] == ["failed", "failed", "failed", "completed"]
    assert "learning_rate must be a number above 0" in jobs[0]["error"]
    assert jobs[1]["error"].startswith("TrainingArguments rejected the config: ValueError")
    assert "not_a_schedule" in jobs[1]["error"]
    assert jobs[3]["value"] == _metric(sweep / "3")
    assert read_json(sweep / "1" / "status.json")["status"] == "failed"
    assert "| 1 | scheduler.lr_scheduler_type=not_a_schedule optimizer.learning_rate=0.001 |" in (
        (sweep / "summary.md").read_text()
    )


def test_optuna_search_writes_the_best_trial(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    result, sweep = tiny_sweep(
        tmp_path,
        tiny_model_dir,
        intent_files,
        "hparams_search=optuna",
        "hydra.sweeper.n_trials=3",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1", "2"]
    optuna = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    values = [_metric(sweep / str(job)) for job in range(3)]
    assert optuna["best_value"] == max(values)
    configs = [yaml.safe_load((sweep / str(j) / "config.yaml").read_text()) for j in range(3)]
    rates = {config["optimizer"]["learning_rate"] for config in configs}
    assert len(rates) == 3 and all(1e-5 <= r <= 2e-4 for r in rates)  # sampled, log-uniform
    swept = read_json(sweep / "0" / "env.json")["swept"]
    assert any(value.lstrip("+").startswith("optimizer.learning_rate=") for value in swept)
    assert not any("max_steps" in value for value in swept)
    best = yaml.safe_load((sweep / "best_trial.yaml").read_text())
    assert best["value"] == optuna["best_value"]
    assert best["config"]["optimizer"]["learning_rate"] == pytest.approx(
        optuna["best_params"]["optimizer.learning_rate"]
    )


def test_a_resumed_sweep_skips_completed_jobs(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    args = ("trainer.seed=1,2,3",)
    result, _ = tiny_sweep(tmp_path, tiny_model_dir, intent_files, *args, named=False)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "out" / "multirun").iterdir()

    def mtimes() -> list[int]:
        return [
            (sweep / "0" / f).stat().st_mtime_ns
            for f in ("model/model.safetensors", "metrics.json")
        ]

    # as if the sweep had been killed during job 1 (after its checkpoint), before job 2
    before = mtimes()
    (sweep / "1" / "metrics.json").unlink()
    write_json(sweep / "1" / "status.json", {"status": "running"})
    for path in sorted((sweep / "2").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (sweep / "2").rmdir()
    (sweep / "summary.json").unlink()

    result, _ = tiny_sweep(
        tmp_path, tiny_model_dir, intent_files, *args, "resume=auto", named=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming sweep {sweep}" in result.stdout
    assert result.stdout.count("completed earlier with this config; skipped") == 1
    assert mtimes() == before  # not retrained
    status = read_json(sweep / "1" / "status.json")
    assert status["status"] == "completed"
    assert status["resumed_from"].endswith("checkpoint-3")  # continued, not restarted
    jobs = read_json(sweep / "summary.json")["jobs"]
    assert [j["status"] for j in jobs] == ["completed"] * 3
    assert "trainer.seed=3" in " ".join(jobs[2]["overrides"])

    # the leaderboard sees one configuration with three seeds (`resume` is not a setting)
    from ftlab.report.leaderboard import leaderboard
    from ftlab.report.runs import find_runs, runs_table

    board = leaderboard(runs_table(find_runs(sweep)))
    assert len(board) == 1 and board.loc[0, "seeds"] == 3
    assert board.loc[0, "validation_mean"] == pytest.approx(
        sum(_metric(sweep / job) for job in ("0", "1", "2")) / 3
    )

    # resume=SWEEP_DIR alone reruns the saved overrides: everything is skipped now
    again = in_process("ftlab.run", "-m", f"resume={sweep}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("skipped") == 3
    assert mtimes() == before


def test_slot_shares_are_disjoint_and_too_many_jobs_is_an_error() -> None:
    cores = list(range(8))
    shares = [slot_share(cores, slot, 3, "CPU cores") for slot in range(3)]
    assert shares == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(FtlabError, match="3 jobs at once need at least 3 GPUs"):
        slot_share(["0", "1"], 0, 3, "GPUs")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPU cores")
def test_local_parallel_jobs_get_their_own_cores(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    result, sweep = tiny_sweep(
        tmp_path,
        tiny_model_dir,
        intent_files,
        "hydra/launcher=submitit_local",
        "hydra.sweeper.max_batch_size=2",
        "trainer.seed=1,2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    pins = [read_json(sweep / job / "env.json")["pinning"] for job in ("0", "1")]
    assert [p["slot"] for p in pins] == [0, 1]
    assert pins[0]["cpus"] and pins[1]["cpus"]
    assert not set(pins[0]["cpus"]) & set(pins[1]["cpus"])
    assert read_json(sweep / "summary.json")["failed"] == []


def test_slurm_launcher_preset_makes_a_valid_sbatch_file(tmp_path: Path) -> None:
    """Every key of the preset is one submitit knows (an unknown one is a TypeError here)."""
    from hydra.utils import instantiate
    from submitit.slurm.slurm import SlurmExecutor, _make_sbatch_string

    cfg = compose_config(
        ["hydra/launcher=submitit_slurm", "task=intent", f"hydra.sweep.dir={tmp_path}"],
        hydra_config=True,
    )
    launcher = instantiate(cfg.hydra.launcher)  # the plugin's SlurmLauncher
    generic = SlurmExecutor._equivalence_dict()
    params = {
        generic.get(key, key): value
        for key, value in launcher.params.items()
        if key not in ("submitit_folder", "max_num_timeout") and value is not None
    }
    sbatch = _make_sbatch_string(command="python -m ftlab.run", folder=tmp_path, **params)
    for line in ("--gpus-per-node=1", "--cpus-per-task=8", "--time=240", "--job-name=ftlab-intent"):
        assert f"#SBATCH {line}" in sbatch


def test_optuna_preset_searches_the_fine_tuning_knobs() -> None:
    cfg = compose_config(["hparams_search=optuna"], hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert set(sweeper.params) == {
        "optimizer.learning_rate",
        "optimizer.weight_decay",
        "scheduler.warmup_steps",
        "trainer.per_device_train_batch_size",
        "trainer.num_train_epochs",
    }
    assert {"n_trials", "storage", "sampler", "direction"} <= set(sweeper)


def test_resume_refuses_an_optuna_search() -> None:
    from ftlab.job.resume import resume_overrides

    with pytest.raises(FtlabError, match="an Optuna search continues from its study"):
        resume_overrides(["-m", "hparams_search=optuna", "resume=auto"])


@pytest.mark.slow  # about 35 s on 2 cores, most of it Ray starting
def test_ray_launcher_runs_a_two_job_sweep(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    """hydra/launcher=ray: each job a Ray task on a local Ray instance, with the same run
    directories, records and summary as the other launchers."""
    from helpers import ftlab, tiny_run_overrides

    sweep = tmp_path / "sweep"
    where = [f"output_root={tmp_path / 'out'}", f"hydra.sweep.dir={sweep}"]
    tiny = [*tiny_run_overrides(tiny_model_dir, intent_files), "trainer.max_steps=3"]
    # a subprocess: the local Ray instance and its workers end with the sweep's process
    ray = ("hydra/launcher=ray", "trainer.seed=1,2")
    result = ftlab("-m", *tiny, *where, *ray, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_json(sweep / "summary.json")
    assert [job["status"] for job in summary["jobs"]] == ["completed", "completed"]
    for job, seed in zip(summary["jobs"], (1, 2), strict=True):
        job_dir = Path(job["run_dir"])
        assert job["value"] == _metric(job_dir)
        assert yaml.safe_load((job_dir / "config.yaml").read_text())["trainer"]["seed"] == seed
        assert (job_dir / "model" / "config.json").is_file()
    # each job ran in a Ray worker process of its own (max_calls=1); the basic launcher
    # runs every job in the sweep's one process
    pids = {read_json(sweep / job / "status.json")["pid"] for job in ("0", "1")}
    assert len(pids) == 2
