"""Every model family as a tagger (tests/families.py: tiny random models shipped as the Hub
checkpoints ship) on CoNLL-2003 sentences: a run completes, tokenizes words as running text
does, and ftlab.predict on it reproduces its own test scores and tags, from word lists and
from raw text alike."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from families import FAMILIES
from helpers import (
    FAMILY_RUN,
    assert_same_test_metrics,
    in_process,
    predicted_again,
    tiny_run,
)

NER = ["task=ner", "task.max_seq_length=64"]


def _conll_tags(run: Path) -> list[list[str]]:
    """The predicted tag of every word of predictions.conll, sentence by sentence."""
    sentences = (run / "predictions.conll").read_text(encoding="utf-8").strip().split("\n\n")
    return [[line.split("\t")[2] for line in s.splitlines()] for s in sentences]


@pytest.mark.parametrize("name", FAMILIES)
def test_a_family_tags_words_and_reloads_exactly(
    name: str, tiny_family: Callable[[str], Path], conll_files: dict, tmp_path: Path
) -> None:
    run = tiny_run(tmp_path / "run", tiny_family(name), conll_files, *NER, *FAMILY_RUN)
    reloaded, records = predicted_again(run, tmp_path / "predicted.jsonl")
    assert_same_test_metrics(run, reloaded, tolerance=1e-9)
    assert [r["tags"] for r in records] == _conll_tags(run)
    # raw text split into words as the data's words are (punctuation apart): tagged alike
    plain = [r for r in records if all(w.isalnum() or len(w) == 1 for w in r["tokens"])][:6]
    assert len(plain) >= 3
    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": " ".join(r["tokens"])}) + "\n" for r in plain))
    result = in_process(
        "ftlab.predict", f"run={run}", f"input={texts}", "output=-", "progress=false", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    from_text = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["tokens"] for r in from_text] == [r["tokens"] for r in plain]
    assert [r["tags"] for r in from_text] == [r["tags"] for r in plain]
