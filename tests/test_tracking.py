"""W&B and TensorBoard through the Trainer's integrations: real offline runs, read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import compose_config, in_process, tiny_run_overrides

from ftlab.job.lifecycle import run_job
from ftlab.records import read_json

FAKE_KEY = "fake-secret-123"


def wandb_records(offline_run: Path) -> dict:
    """The run record, merged config and summary, and exit record of an offline .wandb log.

    Read with `wandb leet inspect --json`, the wandb package's own reader of the
    transaction log (wandb 0.31 has no Python-level reader and `wandb.Api` needs a server).
    """
    result = subprocess.run(
        [sys.executable, "-m", "wandb", "leet", "inspect", str(offline_run), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    merged: dict = {"config": {}, "summary": {}}
    for line in result.stdout.splitlines():
        record = json.loads(line)
        kind = record["type"]
        if kind == "run":
            merged["run"] = record["run"]
            merged["config"].update(record["run"]["config"]["update"])
        elif kind == "config":
            merged["config"].update(record["config"].get("update", {}))
        elif kind == "summary":
            merged["summary"].update(record["summary"].get("update", {}))
        elif kind == "exit":
            merged["exit"] = record["exit"]
    return merged


@pytest.fixture(scope="module")
def tracked_run(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, intent_files: dict
) -> Path:
    """One run reporting to W&B (offline) and TensorBoard, with a fake API key planted."""
    home = tmp_path_factory.mktemp("home")
    run_dir = tmp_path_factory.mktemp("tracked") / "2026-01-01_00-00-00.000000-abc123"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WANDB_MODE", "offline")
        patch.setenv("WANDB_API_KEY", FAKE_KEY)
        for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
            patch.setenv(name, str(home / name.lower()))
        cfg = compose_config(
            [
                *tiny_run_overrides(tiny_model_dir, intent_files),
                "logger=[wandb,tensorboard]",
                "logger.wandb.project=ftlab-tests",
                "logger.wandb.tags=[smoke]",
            ]
        )
        run_job(cfg, run_dir)
    return run_dir


def test_offline_wandb_run_holds_the_config_and_final_metrics(tracked_run: Path) -> None:
    offline = list((tracked_run / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    logged = wandb_records(offline[0])
    run = logged["run"]
    assert run["display_name"] == tracked_run.name
    assert run["project"] == "ftlab-tests" and run["job_type"] == "intent"
    assert {"task:intent", "optimizer:adamw_torch_fused", "smoke"} <= set(run["tags"])
    config = logged["config"]  # ftlab's nested config (plus the Trainer's own arguments)
    assert config["task"]["name"] == "intent" and config["trainer"]["max_steps"] == 6
    assert config["optimizer"]["learning_rate"] == pytest.approx(5e-5)
    assert config["logger"]["report_to"] == ["wandb", "tensorboard"]
    metrics = read_json(tracked_run / "metrics.json")
    summary = logged["summary"]
    assert summary["eval/accuracy"] == pytest.approx(metrics["validation"]["eval_accuracy"])
    assert summary["test/accuracy"] == pytest.approx(metrics["test"]["test_accuracy"])
    assert summary["test/f1_macro"] == pytest.approx(metrics["test"]["test_f1_macro"])
    assert logged["exit"]["exit_code"] == 0  # the record holds it: a missing one fails


def test_tensorboard_event_files_in_the_run_directory(tracked_run: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    event_files = list((tracked_run / "runs").glob("*/events.out.tfevents.*"))
    assert event_files
    events = EventAccumulator(str(event_files[0].parent))
    events.Reload()
    assert {"train/loss", "eval/accuracy"} <= set(events.Tags()["scalars"])


def test_planted_api_key_is_written_nowhere(tracked_run: Path) -> None:
    files = [p for p in tracked_run.rglob("*") if p.is_file()]
    assert len(files) > 10
    leaked = [p for p in files if FAKE_KEY.encode() in p.read_bytes()]
    assert not leaked


def test_run_records_how_to_reproduce_it(tracked_run: Path) -> None:
    env = read_json(tracked_run / "env.json")
    assert env["seed"] == 42 and env["world_size"] == 1
    assert env["packages"]["wandb"] and "git_commit" in env and "command" in env
    assert read_json(tracked_run / "status.json")["seconds"] > 0
    history = read_json(tracked_run / "train_log.json")
    assert any("loss" in entry for entry in history)
    assert any("eval_accuracy" in entry for entry in history)


def test_sweep_without_key_or_network_goes_offline_one_run_per_job(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No WANDB_MODE, no key, no netrc, stdin closed: each job logs offline, nothing waits."""
    for name in [k for k in os.environ if k.startswith("WANDB_")] + ["NETRC"]:
        monkeypatch.delenv(name, raising=False)
    sweep = tmp_path / "sweep-a"
    result = in_process(
        "ftlab.run",
        "-m",
        *tiny_run_overrides(tiny_model_dir, intent_files),
        "trainer.max_steps=2",
        "logger=wandb",
        "trainer.seed=1,2",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        env={"HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert output.count("W&B is offline (no W&B API key)") == 2, output[-3000:]
    for job, seed in (("0", 1), ("1", 2)):
        (offline,) = (sweep / job / "wandb").glob("offline-run-*")
        logged = wandb_records(offline)
        assert logged["run"]["run_group"] == "sweep-a"
        assert logged["run"]["display_name"] == f"{job} trainer.seed={seed}"  # what varies
        assert logged["config"]["trainer"]["seed"] == seed
        assert "exit" in logged  # finished before the next job started
        env_record = read_json(sweep / job / "env.json")
        assert f"++trainer.seed={seed}" in env_record["overrides"]
        assert f"trainer.seed={seed}" in " ".join(env_record["overrides"])


@pytest.mark.parametrize(
    ("logger", "expected"),
    [("none", "none"), ("wandb", ["wandb"]), ("[wandb,tensorboard]", ["wandb", "tensorboard"])],
)
def test_report_to_follows_the_selected_logger_configs(logger: str, expected) -> None:
    from ftlab.config.fields import training_arguments_kwargs

    kwargs = training_arguments_kwargs(compose_config([f"logger={logger}"]), Path("out"))
    assert kwargs["report_to"] == expected
    assert "wandb" not in kwargs and "tensorboard" not in kwargs  # ftlab keys stay out


def test_wandb_mode_goes_offline_without_key_or_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ftlab.errors import FtlabError
    from ftlab.training.tracking import wandb_mode

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    assert wandb_mode("auto") == ("offline", "no W&B API key")
    with pytest.raises(FtlabError, match="needs a W&B API key"):
        wandb_mode("online")
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    assert wandb_mode("auto") == ("offline", "127.0.0.1 is unreachable")
    assert wandb_mode("disabled") == ("disabled", None)


def test_secret_values_on_the_command_line_are_redacted() -> None:
    from ftlab.config.secrets import redact_overrides

    args = ["trainer.seed=1", "++trainer.hub_token=abc", "logger.wandb.api_key=xyz"]
    assert redact_overrides(args) == [
        "trainer.seed=1",
        "++trainer.hub_token=<redacted>",
        "logger.wandb.api_key=<redacted>",
    ]


def test_a_sweep_job_is_named_by_its_folder_and_what_the_sweep_varies() -> None:
    from ftlab.records import run_name

    swept = ["++optimizer.learning_rate=5e-05", "++trainer.seed=1"]
    assert run_name(Path("sweep/3"), swept) == "3 optimizer.learning_rate=5e-05 trainer.seed=1"
    assert run_name(Path("runs/2026-01-01_00-00-00.000000-abc123"), []) == (
        "2026-01-01_00-00-00.000000-abc123"
    )
    assert run_name(Path("sweep/3/adapt"), swept).startswith("3-adapt optimizer.")
