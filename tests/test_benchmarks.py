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
