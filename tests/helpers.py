"""Compose ftlab configs in-process, exactly as `python -m ftlab.run` does, or run it."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ftlab.config.compose import compose_config
from ftlab.config.resolvers import register_resolvers

register_resolvers()

# Fast settings for a tiny model: 1 epoch, small batches, no progress bars.
FAST = [
    "hardware=cpu",
    "trainer.num_train_epochs=1",
    "trainer.per_device_train_batch_size=16",
    "trainer.logging_steps=10",
    "trainer.disable_tqdm=true",
    "trainer.save_total_limit=1",
]


def local_data(files: dict[str, Path]) -> list[str]:
    return [f"task.{split}_file={path}" for split, path in files.items()]


def tiny_run_overrides(model_dir: Path, files: dict) -> list[str]:
    """A few steps of the tiny BERT on the TREC files: seconds, with eval and loss logs."""
    return [
        *FAST,
        "task=intent",
        f"model.name_or_path={model_dir}",
        *local_data(files),
        "task.label_column=label",
        "task.max_eval_samples=40",
        "trainer.max_steps=6",
        "trainer.logging_steps=2",
        "trainer.eval_strategy=steps",
        "trainer.eval_steps=3",
        "trainer.save_strategy=steps",
        "trainer.save_steps=3",
    ]


def ftlab(
    *args: str,
    cwd: Path,
    env: dict | None = None,
    timeout: int = 120,
    command: str = "ftlab.run",
    stdin_text: str | None = None,
) -> subprocess.CompletedProcess:
    """`python -m ftlab.run ARGS` (or another `command` module: ftlab.predict ...) in a
    subprocess, as a user runs it (stdin closed, or `stdin_text` piped in)."""
    return subprocess.run(
        [sys.executable, "-m", command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin_text,
        stdin=subprocess.DEVNULL if stdin_text is None else None,
        env={**os.environ, **(env or {})},
    )


def in_process(
    command: str,
    *args: str,
    cwd: Path,
    env: dict | None = None,
    stdin_text: str | None = None,
    stdout: io.StringIO | None = None,
) -> subprocess.CompletedProcess:
    """`python -m ftlab.run ARGS` (or another `command` module: ftlab.predict ...; or a
    script, `python path/to/script.py ARGS`) through that module's own `main()` in this
    process: Hydra parses the arguments, a sweep runs its jobs, an error line and exit code
    come as they do for a user. About 5 s faster than `ftlab(...)` (a subprocess imports
    torch and transformers anew), so it serves every test whose subject is not the process
    boundary itself (signals, what imports print, several ranks). What the call changes in
    this process is put back: working directory, argv, stdin, environment, logging, Hydra's
    global state, the SIGPIPE handler. `stdout`: a stream of the caller's to print into
    (one that notes when a line appears), else one of its own."""
    import contextlib
    import importlib
    import logging
    import runpy
    import signal

    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    if command.endswith(".py"):

        def main() -> None:
            runpy.run_path(command, run_name="__main__")
    else:
        main = importlib.import_module(command).main
    stdout, stderr, code = stdout or io.StringIO(), io.StringIO(), 0
    saved_env, saved_cwd, saved_argv, saved_stdin = (
        dict(os.environ),
        Path.cwd(),
        sys.argv,
        sys.stdin,
    )
    loggers = [
        logging.root,
        *(v for v in logging.root.manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    saved_logging = [(lg, lg.handlers[:], lg.level, lg.propagate, lg.disabled) for lg in loggers]
    saved_hydra_cfg, saved_sigpipe = HydraConfig.instance().cfg, signal.getsignal(signal.SIGPIPE)
    try:
        os.chdir(cwd)
        os.environ.update(env or {})
        sys.argv = [command, *args]
        sys.stdin = io.StringIO(stdin_text or "")
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv, sys.stdin = saved_argv, saved_stdin
        for lg, handlers, level, propagate, disabled in saved_logging:
            lg.handlers[:], lg.level, lg.propagate, lg.disabled = (
                handlers,
                level,
                propagate,
                disabled,
            )
        GlobalHydra.instance().clear()
        HydraConfig.instance().cfg = saved_hydra_cfg
        signal.signal(signal.SIGPIPE, saved_sigpipe)
    return subprocess.CompletedProcess([command, *args], code, stdout.getvalue(), stderr.getvalue())


def tiny_sweep(
    tmp_path: Path, model: Path, files: dict, *args: str, named: bool = True
) -> tuple[subprocess.CompletedProcess, Path]:
    """A multirun of the tiny model into `tmp_path/sweep` (named) or under `output_root`, in
    this process (`in_process`: the sweep's jobs run in-process for a user too)."""
    sweep_dir = tmp_path / "sweep"
    result = in_process(
        "ftlab.run",
        "-m",
        *tiny_run_overrides(model, files),
        "trainer.max_steps=3",  # one evaluation and one checkpoint per job
        f"output_root={tmp_path / 'out'}",
        *([f"hydra.sweep.dir={sweep_dir}"] if named else []),
        *args,
        cwd=tmp_path,
    )
    return result, sweep_dir


def tiny_run(run_dir: Path, model_dir: Path, files: dict[str, Path], *overrides: str) -> Path:
    """One FAST run of the tiny model on local data files; returns the run directory."""
    from ftlab.job.lifecycle import run_job

    cfg = compose_config([*FAST, f"model.name_or_path={model_dir}", *local_data(files), *overrides])
    run_job(cfg, run_dir)
    return run_dir


def reloaded_records(run_dir: Path, inputs: Any) -> list[dict]:
    """The run reloaded as ftlab.predict loads it: its prediction records for the `inputs`
    rows (a datasets.Dataset; `label` is the predicted one)."""
    from ftlab.inference.predictor import Batching, run_outputs
    from ftlab.inference.runs import load_run

    run = load_run(run_dir)
    outputs = run_outputs(run, inputs, Batching(batch_size=16, device="cpu", progress=False))
    return run.task.prediction_records(inputs, outputs, run.tokenizer)


def exported(run_dir: Path, out: Path, quantize: str | None = "int8") -> dict:
    """`python -m ftlab.export run=RUN_DIR quantize=int8` in-process (few latency runs): the
    report, after the export's own checks against PyTorch passed."""
    from ftlab.inference.onnx_export import export

    cfg = compose_config(
        [
            f"run={run_dir}",
            f"output={out}",
            f"quantize={quantize or 'null'}",
            "latency_runs=2",
            "check_samples=8",
        ],
        config_name="export",
    )
    return export(cfg)


def assert_export_agrees(report: dict) -> None:
    """fp32 ONNX gives PyTorch's outputs; int8 stays close and is smaller."""
    models = report["models"]
    assert set(models) == {"pytorch", "onnx", "onnx_int8"}
    assert models["onnx"]["max_abs_logit_diff"] <= 1e-4
    assert models["onnx"]["label_agreement"] == 1.0
    assert models["onnx_int8"]["max_abs_output_diff"] <= 0.1
    assert models["onnx_int8"]["size_mb"] < models["onnx"]["size_mb"]


def headless_chromium():
    """A Selenium driver for Debian's headless Chromium (`apt-get install chromium
    chromium-driver`); the calling test is skipped where either is missing."""
    import shutil

    import pytest

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("headless Chromium not installed (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(flag)
    # the driver's path given: Selenium Manager never looks for one on the network
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(driver))


# A run of a tiny model of any family (tests/families.py): a few steps on a few examples,
# scored once at the end. What it checks is that the family works end to end and reloads
# exactly; what tiny models learn is checked elsewhere.
FAMILY_RUN = [
    "trainer.max_steps=4",
    "trainer.per_device_train_batch_size=8",
    "trainer.eval_strategy=no",
    "trainer.save_strategy=no",
    "trainer.load_best_model_at_end=false",
    "task.max_train_samples=64",
    "task.max_eval_samples=24",
]


def predicted_again(run_dir: Path, out: Path) -> tuple[dict[str, float], list[dict]]:
    """`python -m ftlab.predict run=RUN_DIR evaluate=true output=OUT` in-process: the run's
    test split scored by its reloaded model, and the prediction records."""
    import json

    from ftlab.inference.job import predict

    cfg = compose_config(
        [f"run={run_dir}", "evaluate=true", f"output={out}", "progress=false"],
        config_name="predict",
    )
    metrics = predict(cfg, stdout=io.StringIO())
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return metrics[run_dir.name], records


def assert_same_test_metrics(run_dir: Path, reloaded: dict[str, float], tolerance: float) -> None:
    """The reloaded model's scores of the test split are the run's own test metrics."""
    from ftlab.records import read_json

    test = read_json(run_dir / "metrics.json")["test"]
    assert reloaded, "the reloaded run scored nothing"
    for name, value in reloaded.items():
        assert abs(value - test[f"test_{name}"]) <= tolerance, (name, value, test)


@contextlib.contextmanager
def hold_lock(run_dir: Path) -> Iterator[subprocess.Popen]:
    """Another process holding `run_dir`'s lock, as a live ftlab run does, until the block
    ends (then it is killed: the kernel frees the lock)."""
    from ftlab.run_lock import LOCK_FILE

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            "handle = open(sys.argv[1], 'a')\n"
            "fcntl.flock(handle, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "time.sleep(600)\n",
            str(run_dir / LOCK_FILE),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def launch(args: list[str], cwd: Path, stderr: int = subprocess.STDOUT) -> subprocess.Popen:
    """`python -m ftlab.run ARGS` started as a process of its own (to be signalled, killed
    or raced), its output unbuffered; stderr apart with `stderr=subprocess.PIPE`."""
    return subprocess.Popen(
        [sys.executable, "-m", "ftlab.run", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
