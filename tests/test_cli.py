"""`python -m ftlab.run` as users call it, in real subprocesses."""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from helpers import ftlab

ROOT = Path(__file__).resolve().parents[1]


def test_print_config_does_not_import_torch(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ftlab.run", "--cfg", "job"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "builtin_dataset: rotten_tomatoes" in result.stdout
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "torch" not in imported and "transformers" not in imported


def test_help_lists_groups_and_usage(tmp_path: Path) -> None:
    result = ftlab("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "python -m ftlab.run" in result.stdout
    for group in ("task: ", "model: ", "optimizer: ", "hardware: "):
        assert group in result.stdout


def test_hub_model_offline_fails_at_once_with_the_alternative(tmp_path: Path) -> None:
    started = time.monotonic()
    result = ftlab("task=legal_cls", "model=bert-base", cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"})
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("ftlab: error:")]
    assert len(errors) == 1
    assert "not available offline" in errors[0] and "model=minilm" in errors[0]
    assert "Traceback" not in result.stderr
    assert elapsed < 30
    run_dirs = list((tmp_path / "experiments/runs/legal_cls/bert-base").iterdir())
    assert len(run_dirs) == 1
    assert '"status": "failed"' in (run_dirs[0] / "status.json").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["optimizer.lerning_rate=1e-4"], "did you mean 'optimizer.learning_rate'?"),
        (["task.max_seq_len=64"], "did you mean 'max_seq_length'?"),
        (["task.train_file=/no/such/file.csv"], "no such file: /no/such/file.csv"),
    ],
)
def test_bad_input_gives_one_line_and_non_zero_exit(
    tmp_path: Path, args: list, message: str
) -> None:
    result = ftlab(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_group_option_lists_the_valid_ones(tmp_path: Path) -> None:
    result = ftlab("model=bert-bse", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.startswith("ftlab: error: model=bert-bse: no such option; did you mean ")
    assert "minilm" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "experiments").exists()  # refused before anything is written


def _clean_source(tmp_path: Path) -> Path:
    """The project's sources without build leftovers: setuptools reuses a stale build/, so
    a removed module could still ship from the working tree."""
    import shutil

    leftovers = ("build", "dist", "*.egg-info", ".venv*", "experiments", ".git", "__pycache__")
    copy = tmp_path / "source"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*leftovers))
    return copy


def test_wheel_ships_the_config_tree_and_runs_from_any_directory(tmp_path: Path) -> None:
    source = _clean_source(tmp_path)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("ftlab-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "ftlab/conf/config.yaml" in names and "ftlab/conf/task/sentiment.yaml" in names
    assert "ftlab/metrics/modules/f1/f1.py" in names
    # exactly the source tree's modules and configs: none missing (a package left out of
    # pyproject's list), none extra (a stale one)
    # (and ftlab's Hydra sweeper, in the hydra_plugins namespace package)
    modules = {
        str(p.relative_to(source / "src"))
        for package in ("ftlab", "hydra_plugins")
        for p in (source / "src" / package).rglob("*.py")
    }
    configs = {
        "ftlab/conf/" + str(p.relative_to(source / "conf"))
        for p in (source / "conf").rglob("*.yaml")
    }
    assert {n for n in names if n.endswith(".py") and not n.startswith("ftlab/conf/")} == modules
    assert {n for n in names if n.startswith("ftlab/conf/") and n.endswith(".yaml")} == configs
    target = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            "import sys, site; sys.path.insert(0, sys.argv[1]); site.main(); "
            "sys.argv = ['ftlab', '--cfg', 'job', 'task=intent']; import runpy; "
            "runpy.run_module('ftlab.run', run_name='__main__')",
            str(target),
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "builtin_dataset: trec" in result.stdout
    # the installed copy, not the source tree, answered
    check = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            "import sys, site; sys.path.insert(0, sys.argv[1]); site.main(); "
            "import ftlab.conf; print(ftlab.conf.__file__)",
            str(target),
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.stdout.strip().startswith(str(target))


def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`python -m ftlab.run --help | head -1`: a reader that has gone ends the command, no
    traceback (the pipe is closed before the child writes, so the write always fails)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "ftlab.run", "--help"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    child.stdout.close()
    stderr = child.stderr.read()
    assert child.wait(timeout=60) != 0
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
