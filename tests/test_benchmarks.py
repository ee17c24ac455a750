"""`make bench` runs end to end in quick mode (tiny model and sizes; numbers not asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = (
    "## Framework overhead",
    "## Dynamic padding",
    "## Tokenization cache",
    "## Inference on CPU",
    "## Training throughput on CPU",
    "## Time to quality",
)


def test_quick_benchmarks_write_every_section(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks/run_all.py"),
            "--quick",
            f"--model={tiny_model_dir}",
            f"--out={out}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = out.read_text()
    for heading in SECTIONS:
        assert heading in text
    assert "Machine: " in text and "load average" in text
    assert "Ratios (ftlab / plain, medians)" in text
    for model in ("| pytorch |", "| onnx |", "| onnx_int8 |"):
        assert model in text
