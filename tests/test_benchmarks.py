"""`make bench` runs end to end in quick mode (tiny model and sizes; numbers not asserted)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = (
    "## Framework overhead",
    "## Dynamic padding",
    "## Tokenization cache",
    "## Inference on CPU",
    "## Training throughput on CPU",
    "## Time to quality",
)


def test_quick_benchmarks_write_every_section(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`benchmarks/run_all.py --quick` through its main() in this process: the runs it
    measures are subprocesses of their own either way, and this one would only import torch
    again."""
    out = tmp_path / "BENCHMARKS.md"
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
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
