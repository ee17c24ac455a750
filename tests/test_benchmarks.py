"""`make bench` runs end to end in quick mode (tiny model and sizes; numbers not asserted)."""

from __future__ import annotations

import importlib
import io
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import in_process

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = (
    "## Framework overhead",
    "## Dynamic padding",
    "## Tokenization cache",
    "## Inference on CPU",
    "## Training throughput on CPU",
    "## Time to quality",
)


class _FirstLineClock(io.StringIO):
    """A stdout that notes when the first line holding `text` is printed."""

    def __init__(self, text: str | None) -> None:
        super().__init__()
        self.text, self.started, self.seen_at = text, time.perf_counter(), None

    def write(self, chunk: str) -> int:
        if self.text and self.seen_at is None and self.text in chunk:
            self.seen_at = time.perf_counter() - self.started
        return super().write(chunk)


def _in_this_process(
    args: list[str], env: dict[str, str] | None = None, first_line: str | None = None
) -> dict[str, Any]:
    """`common.run_command` for `python -m MODULE ...` and `python SCRIPT ...`, run through
    their main() in this process (tests/helpers.py: in_process): the same arguments, what
    they print and write, without importing torch anew for each (about 5 CPU s a command).
    A multi-process run still launches its ranks as processes."""
    python, *rest = args
    assert python == sys.executable, args
    command, *arguments = rest[1:] if rest[0] == "-m" else rest
    clock = _FirstLineClock(first_line)
    done = in_process(command, *arguments, cwd=ROOT, env=env, stdout=clock)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stderr[-3000:]}"
    wall = time.perf_counter() - clock.started
    return {
        "wall": wall,
        "stdout": done.stdout,
        "stderr": done.stderr,
        "first_line_s": clock.seen_at,
    }


def test_quick_benchmarks_write_every_section(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`benchmarks/run_all.py --quick` through its main() in this process, and the commands
    it times in this process too (`_in_this_process`): the benchmarks' code, arguments and
    parsing are what this checks; their commands run as processes in `make bench`, and
    `run_command` itself is checked below."""
    out = tmp_path / "BENCHMARKS.md"
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    for name in ("cache", "inference", "overhead", "throughput", "time_to_quality"):
        monkeypatch.setattr(importlib.import_module(name), "run_command", _in_this_process)
    monkeypatch.setattr(
        sys, "argv", ["run_all.py", "--quick", f"--model={tiny_model_dir}", f"--out={out}"]
    )
    importlib.import_module("run_all").main()
    text = out.read_text()
    for heading in SECTIONS:
        assert heading in text
    assert "Machine: " in text and "load average" in text
    assert "Ratios (ftlab / plain, medians)" in text
    assert "(shipped)" in text  # the setup the preset ships, marked in the time to quality
    for model in ("| pytorch |", "| onnx |", "| onnx_int8 |"):
        assert model in text


def test_time_to_quality_shows_each_pairs_ratio_and_picks_its_setups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each ftlab run's wall time over the plain run of its own repetition (a host that slows
    down between repetitions shows as spread, not hidden in the medians' ratio), and
    `--batching random` leaves only the same-settings pair."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    ttq = importlib.import_module("time_to_quality")
    assert ttq.batching_setups(False, "group_by_length", ["random"]) == {
        "ftlab, random batches": "trainer.train_sampling_strategy=random"
    }
    assert len(ttq.batching_setups(False, "group_by_length")) == 2
    assert list(ttq.batching_setups(True, "group_by_length").values()) == [
        "trainer.train_sampling_strategy=group_by_length"  # quick mode: what ships
    ]

    def run(wall: float, curve: list) -> dict:
        return {"wall": wall, "seconds": {}, "dev": 0.8, "test": 0.7, "load": 1.0, "curve": curve}

    runs = {
        "plain Trainer script": [run(100.0, []), run(200.0, []), run(150.0, [])],
        "ftlab, random batches": [run(w, [(w - 20, 0.8)]) for w in (110.0, 190.0, 150.0)],
    }
    result = {"jobs": {"sentiment": {"runs": runs, "commands": [], "ships": "random"}}}
    text = ttq.section({**result, "repetitions": 3, "quick": False})
    row = next(line for line in text.splitlines() if line.startswith("| ftlab, random"))
    # medians 150 and 150: 1.000x, though no pair took the same time
    assert "| 150 (1.000x) | 1.100, 0.950, 1.000 |" in row
    (ratio,) = ttq.key_ratios({**result, "repetitions": 3, "quick": False})
    assert "(each interleaved pair: 1.100, 0.950, 1.000)" in ratio


def test_run_command_times_the_first_line_and_stops_on_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The benchmarks' timed subprocess: wall seconds, the moment a line first appeared (not
    when the command ended), the environment it was given; a failing command ends the
    benchmark with its stderr."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    common = importlib.import_module("common")
    script = (
        "import os, sys, time; print('start', flush=True); time.sleep(0.5); "
        "print('{\\'loss\\': 1.0}', os.environ['BENCH_VALUE'], flush=True); time.sleep(0.5)"
    )
    result = common.run_command(
        [sys.executable, "-c", script], env={"BENCH_VALUE": "42"}, first_line="{'loss'"
    )
    assert 0.5 <= result["first_line_s"] < result["wall"] - 0.3
    assert "{'loss': 1.0} 42" in result["stdout"]
    assert (
        common.run_command([sys.executable, "-c", "pass"], first_line="x")["first_line_s"] is None
    )
    failing = "import sys; sys.stderr.write('no such ' + 'file'); sys.exit(3)"  # stderr, not argv
    with pytest.raises(SystemExit, match=r"(?s)benchmark command failed \(3\).*no such file"):
        common.run_command([sys.executable, "-c", failing])
