"""The README's measured results, as floors on the full runs they come from (`make
test-slow`: minutes each on 2 CPU cores). A floor sits a few points under the measured
score (seed and machine noise), so a real regression fails it."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ftlab

from ftlab.records import read_json

pytestmark = pytest.mark.slow


def _run(tmp_path: Path, *overrides: str, timeout: int) -> dict:
    done = ftlab(
        *overrides,
        "trainer.disable_tqdm=true",
        f"output_root={tmp_path}",
        cwd=tmp_path,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = (tmp_path / "runs").glob("*/*/*")
    return read_json(run / "metrics.json")


def test_the_demo_reaches_its_readme_accuracy(tmp_path: Path) -> None:
    """README: validation 0.8078, test 0.7812 (4,000 reviews, 1 epoch)."""
    metrics = _run(tmp_path, "experiment=demo", timeout=1800)
    assert metrics["validation"]["eval_accuracy"] >= 0.77
    assert metrics["test"]["test_accuracy"] >= 0.75


def test_full_sentiment_with_grouped_batches_reaches_its_readme_accuracy(tmp_path: Path) -> None:
    """README: experiment=sentiment_full (length-grouped batches), validation 0.8345, test
    0.8008 (3 seeds: lowest 0.8204 and 0.7992)."""
    metrics = _run(tmp_path, "experiment=sentiment_full", timeout=1800)
    assert metrics["validation"]["eval_accuracy"] >= 0.80
    assert metrics["test"]["test_accuracy"] >= 0.78


def test_full_conll_ner_reaches_its_readme_f1(tmp_path: Path) -> None:
    """README: experiment=ner_minilm (length-grouped in groups of 2, equal token weights),
    dev entity F1 0.8742, test 0.8381 (full CoNLL-2003; 3 seeds: lowest 0.8709 and 0.8256)."""
    metrics = _run(tmp_path, "experiment=ner_minilm", timeout=5400)
    assert metrics["validation"]["eval_f1"] >= 0.85
    assert metrics["test"]["test_f1"] >= 0.80


def test_chat_demo_reaches_its_readme_perplexity(tmp_path: Path, tiny_family) -> None:
    """README: make chat-demo (experiment=movie_chat_tiny: the tiny Qwen2 stand-in, 8,000
    movie statement -> reply pairs, 1 epoch): validation perplexity 64.99, token accuracy
    0.2833 (3 seeds: 0.2819 lowest); untrained 1306."""
    metrics = _run(
        tmp_path,
        "experiment=movie_chat_tiny",
        f"model.name_or_path={tiny_family('qwen2')}",
        timeout=1200,
    )
    assert metrics["validation"]["eval_perplexity"] <= 75
    assert metrics["validation"]["eval_mean_token_accuracy"] >= 0.26
