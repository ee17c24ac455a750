"""The tiny model families (tests/families.py) load like the real checkpoints they copy.

Other tests rely on each stand-in shipping what its Hub checkpoint ships, defects included
(no pad token, pre-split words without a prefix space, token_type_ids a model ignores), so
these facts are pinned here; and on every process building the same bytes, so that is
checked across two processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from families import (
    BYTE_LEVEL_FAMILIES,
    CHECKPOINTS,
    FAMILIES,
    MAX_LENGTH,
    build_tiny_family,
    english_texts,
)

SENTENCE = "EU rejects German call to boycott British lamb ."
WORDS = SENTENCE.split()
GERMAN = WORDS.index("German")

# What AutoTokenizer gives for each directory, as for the real checkpoint: the class, whether
# it returns token_type_ids, and the pad token.
SHIPPED: dict[str, tuple[str, bool, str | None]] = {
    "bert": ("BertTokenizer", True, "[PAD]"),
    "roberta": ("RobertaTokenizer", False, "<pad>"),
    # no tokenizer_class: model_type distilbert maps to BertTokenizer, which returns
    # token_type_ids that DistilBERT has no embeddings for (its forward swallows them)
    "distilbert": ("BertTokenizer", True, "[PAD]"),
    # returned, but type_vocab_size is 0: the model ignores them
    "deberta-v3": ("DebertaV2Tokenizer", True, "[PAD]"),
    "electra": ("BertTokenizer", True, "[PAD]"),
    "xlm-roberta": ("XLMRobertaTokenizer", False, "<pad>"),
    "modernbert": ("TokenizersBackend", False, "[PAD]"),
    "gpt2": ("GPT2Tokenizer", False, None),
    "llama": ("TokenizersBackend", False, None),
    "qwen2": ("Qwen2Tokenizer", False, "<|endoftext|>"),
    "t5": ("T5Tokenizer", False, "<pad>"),
}
# No model_max_length in what they ship (roberta-base and xlm-roberta-base have no
# tokenizer_config.json at all): transformers 5 takes it as unlimited.
UNLIMITED = ("roberta", "deberta-v3", "xlm-roberta")


def test_every_family_has_its_expectations() -> None:
    assert set(SHIPPED) == set(FAMILIES) == set(CHECKPOINTS)
    assert set(BYTE_LEVEL_FAMILIES) <= set(FAMILIES)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return english_texts()


_BUILD_ALL = """
import json, sys
from pathlib import Path
from families import FAMILIES, build_tiny_family
texts = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
for family in FAMILIES:
    build_tiny_family(family, Path(sys.argv[2]) / family, texts)
"""


@pytest.fixture(scope="module", autouse=True)
def other_process(
    tmp_path_factory: pytest.TempPathFactory, texts: list[str]
) -> Iterator[Callable[[], Path]]:
    """All families built by a second Python process, started when this file's tests start
    so that its imports (5 s) overlap them; call the fixture's value to wait for it."""
    root = tmp_path_factory.mktemp("other-process")
    corpus = root / "texts.json"
    corpus.write_text(json.dumps(texts), encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    environment = {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1"}
    log_path = root / "build.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", _BUILD_ALL, str(corpus), str(root / "built")],
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def built() -> Path:
        process.wait(timeout=300)
        assert process.returncode == 0, log_path.read_text(errors="replace")[-3000:]
        return root / "built"

    yield built
    if process.poll() is None:
        process.kill()
        process.wait()
    log.close()


def _pieces(tokenizer: Any, encoding: Any, word: int) -> list[str]:
    """The pieces of one word of an encoding (without special tokens)."""
    ids = [i for i, w in zip(encoding["input_ids"], encoding.word_ids(), strict=True) if w == word]
    return tokenizer.convert_ids_to_tokens(ids)


@pytest.mark.parametrize("family", FAMILIES)
def test_family_loads_as_shipped(family: str, tiny_family: Callable[[str], Path]) -> None:
    from tokenizers import Tokenizer
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
    )

    directory = tiny_family(family)
    assert (directory / "model.safetensors").is_file()
    assert not (directory / "pytorch_model.bin").exists()
    tokenizer = AutoTokenizer.from_pretrained(directory)
    config = AutoConfig.from_pretrained(directory)
    class_name, type_ids, pad = SHIPPED[family]

    assert type(tokenizer).__name__ == class_name
    # the class rebuilds its pipeline from its own defaults; on plain text it must agree
    # with the tokenizer.json shipped beside it
    shipped = Tokenizer.from_file(str(directory / "tokenizer.json"))
    assert shipped.encode(SENTENCE).ids == tokenizer(SENTENCE)["input_ids"]
    assert ("token_type_ids" in tokenizer(SENTENCE)) is type_ids
    assert tokenizer.pad_token == pad
    if family == "deberta-v3":
        assert config.type_vocab_size == 0
    if family == "qwen2":
        assert tokenizer.pad_token == tokenizer.eos_token
    if family in ("gpt2", "llama", "qwen2"):
        assert config.pad_token_id is None
        assert "pad_token_id" not in json.loads((directory / "config.json").read_text())
    else:
        assert config.pad_token_id == tokenizer.pad_token_id
    if family in ("roberta", "xlm-roberta"):
        assert config.max_position_embeddings == MAX_LENGTH + 2  # positions start at pad + 1
    if family in UNLIMITED:
        assert tokenizer.model_max_length > 10**20  # truncation=True alone does not truncate
    else:
        assert tokenizer.model_max_length == MAX_LENGTH
    assert 1000 <= len(tokenizer) <= 2000
    assert len(tokenizer) <= config.vocab_size

    # Pre-split words (NER) against running text: byte-level tokenizers shipped without a
    # prefix space lose the leading-space marker; the defect is shipped, not fixed here.
    running = tokenizer(SENTENCE, add_special_tokens=False)
    split = tokenizer(WORDS, is_split_into_words=True, add_special_tokens=False)
    running_german, split_german = (
        _pieces(tokenizer, running, GERMAN),
        _pieces(tokenizer, split, GERMAN),
    )
    assert (running_german != split_german) is (family in BYTE_LEVEL_FAMILIES)
    if family in BYTE_LEVEL_FAMILIES:
        assert running_german[0].startswith("Ġ") and not split_german[0].startswith("Ġ")

    # Batches of two need a pad token in the tokenizer and a pad id in the config.
    batch_size = 2 if config.pad_token_id is not None else 1
    texts_in = [SENTENCE, "Who is he ?"][:batch_size]
    batch = tokenizer(texts_in, padding=batch_size > 1, return_tensors="pt")
    for auto in (AutoModelForSequenceClassification, AutoModelForTokenClassification):
        model, info = auto.from_pretrained(directory, num_labels=3, output_loading_info=True)
        assert info["missing_keys"], "the task head should be new"
        assert not any("embed" in key or "shared" in key for key in info["missing_keys"])
        logits = model(**batch).logits
        assert logits.shape[0] == batch_size and logits.shape[-1] == 3


def test_qwen2_needs_a_pad_id_for_batches(tiny_family: Callable[[str], Path]) -> None:
    """Qwen2.5's tokenizer has a pad token, its config no pad_token_id: classification of a
    padded batch fails, as it does with the real checkpoint."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    directory = tiny_family("qwen2")
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForSequenceClassification.from_pretrained(directory, num_labels=3)
    batch = tokenizer([SENTENCE, "Who is he ?"], padding=True, return_tensors="pt")
    with pytest.raises(ValueError, match="padding token"):
        model(**batch)


def test_unknown_family(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown family"):
        build_tiny_family("bort", tmp_path, ["a text"])


def _digests(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_builds_are_identical_across_processes(
    tiny_family: Callable[[str], Path], other_process: Callable[[], Path]
) -> None:
    """The WordPiece and Unigram trainers of `tokenizers` differ between processes; the
    families must not: every file, weights and tokenizer.json included, byte for byte."""
    mine = {
        f"{family}/{name}": digest
        for family in FAMILIES
        for name, digest in _digests(tiny_family(family)).items()
    }
    theirs = _digests(other_process())
    assert {f"{family}/tokenizer.json" for family in FAMILIES} <= set(mine)
    assert {f"{family}/model.safetensors" for family in FAMILIES} <= set(mine)
    assert mine == theirs
