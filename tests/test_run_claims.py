"""A run directory is claimed, not looked at: of two processes racing for one directory one
proceeds and the other stops with one line, writing nothing there; a `running` status whose
process is gone reads as interrupted; SIGTERM outside training ends a run as inside it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import FAST, hold_lock, in_process, launch, local_data

from ftlab.errors import FtlabError
from ftlab.job.run_dirs import refuse_to_overwrite
from ftlab.records import read_json
from ftlab.run_lock import claim, is_live, release, run_status


def _status(run_dir: Path, state: str, pid: int = 1) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "status.json").write_text(json.dumps({"status": state, "pid": pid}))


def test_a_running_status_is_live_only_while_a_process_holds_the_lock(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    _status(run_dir, "running")
    # nobody holds it: the process that wrote `running` is gone
    assert run_status(run_dir) == {"status": "interrupted", "pid": 1, "process_gone": True}
    refuse_to_overwrite(run_dir)  # a dead run is no running run
    with hold_lock(run_dir):
        assert is_live(run_dir) and run_status(run_dir)["status"] == "running"
        with pytest.raises(FtlabError, match="already holds a running run"):
            refuse_to_overwrite(run_dir)
        with pytest.raises(FtlabError, match="in use by another ftlab process"):
            claim(run_dir)
    claim(run_dir)  # the holder was killed: the kernel freed its lock
    try:
        # a status another process left in the directory this one holds is stale ...
        assert run_status(run_dir)["status"] == "interrupted"
        _status(run_dir, "running", pid=os.getpid())  # ... this process's own is live
        assert run_status(run_dir)["status"] == "running"
    finally:
        release(run_dir)
    assert run_status(run_dir)["status"] == "interrupted"


def test_two_processes_racing_for_one_directory_one_runs_and_the_other_writes_nothing(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    run_dir = tmp_path / "shared"
    common = [
        *FAST,
        "task=intent",
        "task.label_column=label",
        f"model.name_or_path={tiny_model_dir}",
        *local_data(intent_files),
        "task.max_train_samples=200",
        "task.max_eval_samples=40",
        "trainer.max_steps=20",
        "trainer.save_strategy=no",
        "trainer.eval_strategy=no",
        "trainer.load_best_model_at_end=false",
        f"hydra.run.dir={run_dir}",
    ]
    processes = {
        seed: launch([*common, f"trainer.seed={seed}"], tmp_path, subprocess.PIPE)
        for seed in (1, 2)
    }
    results = {seed: (p.wait(timeout=300), *p.communicate()) for seed, p in processes.items()}
    winners = [seed for seed, (code, _, _) in results.items() if code == 0]
    assert len(winners) == 1, {seed: r[2][-2000:] for seed, r in results.items()}
    (winner,) = winners
    (loser,) = {1, 2} - {winner}
    code, _, stderr = results[loser]
    lines = [line for line in stderr.splitlines() if line.startswith("ftlab: error:")]
    assert code != 0 and len(lines) == 1, stderr[-2000:]
    assert "in use by another ftlab process" in lines[0] or "holds a running run" in lines[0]
    # every record in the directory is the winner's: the loser wrote nothing there
    assert read_json(run_dir / "status.json")["status"] == "completed"
    assert f"seed: {winner}" in (run_dir / "config.yaml").read_text()
    overrides = (run_dir / ".hydra" / "overrides.yaml").read_text()
    assert f"trainer.seed={winner}" in overrides and f"trainer.seed={loser}" not in overrides


def test_sigterm_while_the_data_is_read_ends_the_run_interrupted(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    """Outside training too: reading and tokenizing all of CoNLL-2003 takes seconds, and a
    SIGTERM there ends the run with one line, status `interrupted` and exit 128 + 15."""
    run_dir = tmp_path / "run"
    process = launch(
        [
            *FAST,
            "task=ner",
            f"model.name_or_path={tiny_model_dir}",
            "trainer.max_steps=1",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
        subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    # the run records its ranks just before it reads the data
    while not (run_dir / "rank-0.json").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.02)
    assert read_json(run_dir / "status.json")["status"] == "running"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-3000:]
    status = read_json(run_dir / "status.json")
    assert status["status"] == "interrupted" and status["signal"] == signal.SIGTERM
    # it stopped before training: no checkpoint
    assert status["checkpoint"] is None  # in training, the signal saves one first
    assert "ftlab: interrupted; continue with" in stderr
    assert "Traceback" not in stderr


def test_a_signal_inside_a_config_lookup_keeps_its_number() -> None:
    """OmegaConf re-raises what a lookup raised as the same type with its own message: the
    interrupt a SIGTERM raised there still knows its signal (the exit code is 128 + it)."""
    from omegaconf import OmegaConf
    from omegaconf._utils import format_and_raise

    from ftlab.errors import RunInterrupted

    original = RunInterrupted(signal.SIGTERM)
    with pytest.raises(RunInterrupted) as caught:
        try:
            raise original
        except RunInterrupted as exc:
            node = OmegaConf.create({})
            format_and_raise(node=node, key="model", value=None, cause=exc, msg=str(exc))
    assert caught.value is not original  # OmegaConf's own, made from the message
    assert caught.value.signum == 15 and isinstance(caught.value.signum, int)


def test_a_sweep_directory_in_use_is_refused_before_hydra_writes_there(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    sweep_dir.mkdir()
    with hold_lock(sweep_dir):
        done = in_process(
            "ftlab.run", "-m", "trainer.seed=1,2", f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path
        )
    assert done.returncode != 0
    assert f"{sweep_dir} is in use by another ftlab process" in done.stderr
    assert sorted(p.name for p in sweep_dir.iterdir()) == [".ftlab.lock"]  # nothing written


@pytest.mark.parametrize(
    ("state", "held", "why"),
    [
        ("completed", False, "holds a completed run; name another hydra.run.dir"),
        ("running", True, "holds a live run; wait for it to end"),
        ("running", False, "holds an unfinished run of another config; resume="),
    ],
)
def test_resume_auto_says_why_a_named_directory_cannot_be_continued(
    state: str, held: bool, why: str, tmp_path: Path
) -> None:
    from ftlab.job.resume import resume_overrides

    run_dir = tmp_path / "run"
    _status(run_dir, state)
    (run_dir / "config.yaml").write_text("task: {name: other}\n")  # not these overrides
    holder = hold_lock(run_dir) if held else contextlib.nullcontext()
    with holder, pytest.raises(FtlabError, match=why):
        resume_overrides([f"hydra.run.dir={run_dir}", "resume=auto"])
