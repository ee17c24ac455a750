"""task.long_sequence=windows: a NER sentence longer than max_seq_length is split into
overlapping windows by the tokenizer's overflow support; each word is trained, scored and
predicted once, in the window that owns it, so no word is lost to truncation."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict
from helpers import compose_config, in_process, tiny_run

from ftlab.config.targets import build_task
from ftlab.data.conll import read_conll
from ftlab.errors import FtlabError
from ftlab.records import read_json
from ftlab.tasks.alignment import IGNORE, OUTSIDE
from ftlab.tasks.chunks import MAPPING
from ftlab.tasks.token_classification import TokenClassificationTask
from ftlab.tasks.windows import encode_windows, owned_words

SHORT = 16  # tokens: most CoNLL sentences are longer, many split into 2-4 windows
FAST = [
    "task=ner",
    "task.max_eval_samples=100",
    "optimizer.learning_rate=3e-3",
    "trainer.eval_strategy=no",
    "trainer.save_strategy=no",
    "trainer.load_best_model_at_end=false",
]


@pytest.fixture(scope="module")
def tokenizer(tiny_ner_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_ner_model_dir)


@pytest.fixture(scope="module")
def windowed_run(tmp_path_factory, tiny_ner_model_dir: Path, conll_files: dict) -> Path:
    return tiny_run(
        tmp_path_factory.mktemp("ner-windows"),
        tiny_ner_model_dir,
        conll_files,
        *FAST,
        f"task.max_seq_length={SHORT}",
        "task.window_stride=4",
        "trainer.max_steps=300",
    )


@pytest.fixture(scope="module")
def truncated_run(tmp_path_factory, tiny_ner_model_dir: Path, conll_files: dict) -> Path:
    """The negative control: the same length, truncated (a few steps: it predicts O past
    the cut whatever it learnt)."""
    return tiny_run(
        tmp_path_factory.mktemp("ner-truncated"),
        tiny_ner_model_dir,
        conll_files,
        *FAST,
        f"task.max_seq_length={SHORT}",
        "task.long_sequence=truncate",
        "trainer.max_steps=5",
    )


def _sentences(run_dir: Path) -> list[list[list[str]]]:
    """predictions.conll: per sentence, [token, gold, predicted] rows."""
    blocks = (run_dir / "predictions.conll").read_text(encoding="utf-8").split("\n\n")
    return [[row.split("\t") for row in block.splitlines()] for block in blocks if block.strip()]


def _kept_words(tokenizer, words: list[str]) -> int:
    """How many words of a sentence truncation to SHORT tokens keeps (the first piece in)."""
    word_ids = tokenizer(words, is_split_into_words=True, truncation=True, max_length=SHORT)
    return max(w for w in word_ids.word_ids() if w is not None) + 1


@pytest.mark.parametrize("stride", [0, 4, 13])
def test_every_word_is_owned_by_one_window_that_holds_its_first_piece(
    tokenizer, conll_files: dict, stride: int
) -> None:
    sentences = list(read_conll(conll_files["test"])["tokens"])
    encoded = encode_windows(tokenizer, sentences, SHORT, stride)
    rows = list(encoded[MAPPING])
    owners = owned_words(encoded, rows, stride)
    whole = tokenizer(sentences, is_split_into_words=True)
    owned: dict[int, list[int]] = {}
    for i, (row, words) in enumerate(zip(rows, owners, strict=True)):
        word_ids = encoded.word_ids(i)
        for word in sorted(words):
            assert owned.setdefault(row, []) == [] or owned[row][-1] < word  # in order
            owned[row].append(word)
            # the owner holds the word's real first piece, not a piece a window edge cut off
            position = word_ids.index(word)
            first = whole.word_ids(row).index(word)
            assert encoded["input_ids"][i][position] == whole["input_ids"][row][first]
            assert position == 1 or word_ids[position - 1] != word
    for row, words in enumerate(sentences):
        having_tokens = sorted({w for w in whole.word_ids(row) if w is not None})
        assert owned[row] == having_tokens, words  # each word once, none lost
    assert len(rows) > len(sentences)  # windows, really
    # a sentence that fits is one window: truncation's encoding, owning every word
    fits = [i for i, s in enumerate(sentences) if len(whole["input_ids"][i]) <= SHORT]
    assert fits
    truncated = tokenizer(sentences, is_split_into_words=True, truncation=True, max_length=SHORT)
    for row in fits:
        (i,) = [i for i, r in enumerate(rows) if r == row]
        assert encoded["input_ids"][i] == truncated["input_ids"][row]


def test_training_labels_count_each_word_once(tokenizer, conll_files: dict) -> None:
    """Validation labels a word's first piece in its owning window only; label_all_tokens
    (train) labels the owned word's pieces in that window, none elsewhere."""
    raw = read_conll(conll_files["test"])
    splits = DatasetDict({"train": raw, "validation": raw})
    task = TokenClassificationTask(
        name="t", max_seq_length=SHORT, window_stride=4, label_all_tokens=True
    )
    task.label_list = sorted({t for tags in raw["ner_tags"] for t in tags})
    result = task.tokenize(splits, tokenizer)
    whole = tokenizer(list(raw["tokens"]), is_split_into_words=True)
    words = sum(len({w for w in whole.word_ids(i) if w is not None}) for i in range(len(raw)))
    pieces = sum(len(ids) - 2 for ids in whole["input_ids"])
    validation = result.splits["validation"]["labels"]
    train = result.splits["train"]["labels"]
    assert sum(label != IGNORE for row in validation for label in row) == words
    assert words < sum(label != IGNORE for row in train for label in row) <= pieces
    record = result.records["truncation.json"]["validation"]
    assert record["words"] == 0 and record["sentences"] == 0
    assert record["windowed"]["windows"] > record["windowed"]["sentences"] > 0
    assert (
        len(validation)
        == len(raw) - record["windowed"]["sentences"] + record["windowed"]["windows"]
    )
    assert sorted(set(task.sentences["validation"])) == list(range(len(raw)))


def test_windows_predict_the_words_truncation_loses(
    windowed_run: Path, truncated_run: Path, tokenizer
) -> None:
    windowed = read_json(windowed_run / "truncation.json")
    assert windowed["long_sequence"] == "windows" and windowed["window_stride"] == 4
    assert windowed["test"]["words"] == 0 and windowed["test"]["windowed"]["sentences"] > 50
    lost = read_json(truncated_run / "truncation.json")["test"]
    assert lost["words"] > 500 and "windowed" not in lost

    cut_entities = found = 0
    for mine, theirs in zip(_sentences(windowed_run), _sentences(truncated_run), strict=True):
        words = [r[0] for r in mine]
        assert words == [r[0] for r in theirs]  # every word written, in both
        kept = _kept_words(tokenizer, words)
        assert all(r[2] == OUTSIDE for r in theirs[kept:])  # truncated: cut words are O
        for _, tag, predicted in mine[kept:]:
            cut_entities += tag != OUTSIDE
            found += tag != OUTSIDE and predicted == tag
    # the windowed model tags entities that lie past the first window
    assert cut_entities > 100 and found > 0.2 * cut_entities, (found, cut_entities)


def test_metrics_are_seqeval_of_the_merged_predictions_file(windowed_run: Path) -> None:
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score

    sentences = _sentences(windowed_run)
    gold = [[r[1] for r in s] for s in sentences]
    predicted = [[r[2] for r in s] for s in sentences]
    test = read_json(windowed_run / "metrics.json")["test"]
    assert test["test_f1"] > 0.2, test
    assert test["test_f1"] == pytest.approx(f1_score(gold, predicted))
    assert test["test_precision"] == pytest.approx(precision_score(gold, predicted))
    assert test["test_recall"] == pytest.approx(recall_score(gold, predicted))
    # tag accuracy over every word of every sentence: no word missing or scored twice
    assert test["test_accuracy"] == pytest.approx(accuracy_score(gold, predicted))
    report = read_json(windowed_run / "classification_report.json")
    assert report["overall_f1"] == pytest.approx(test["test_f1"])


def _same_run(run_dir: Path) -> dict:
    """metrics.json without timings."""
    metrics = read_json(run_dir / "metrics.json")
    return {
        split: {
            k: v
            for k, v in values.items()
            if not any(t in k for t in ("runtime", "per_second", "peak_", "flos"))
        }
        for split, values in metrics.items()
    }


def test_sentences_that_fit_give_the_same_run_with_windows_on_and_off(
    tmp_path: Path, tiny_ner_model_dir: Path, conll_files: dict
) -> None:
    runs = {
        mode: tiny_run(
            tmp_path / mode,
            tiny_ner_model_dir,
            conll_files,
            *FAST,
            "task.max_seq_length=256",
            "task.max_train_samples=160",
            "trainer.max_steps=10",
            f"task.long_sequence={mode}",
        )
        for mode in ("windows", "truncate")
    }
    windows, truncate = runs["windows"], runs["truncate"]
    assert read_json(windows / "truncation.json")["test"]["windowed"]["sentences"] == 0
    assert _same_run(windows) == _same_run(truncate)
    predictions = (windows / "predictions.conll").read_text()
    assert predictions == (truncate / "predictions.conll").read_text()


def test_predict_merges_windows_of_a_long_text(windowed_run: Path, truncated_run: Path) -> None:
    """ftlab.predict gives the Trainer's merged predictions for the test words, and a tag
    for every word of a long raw text (the truncated run: O past the first window)."""
    from ftlab.inference.predictor import Batching, run_outputs
    from ftlab.inference.runs import load_run

    batching = Batching(batch_size=32, device="cpu", progress=False)
    run = load_run(windowed_run)
    sentences = _sentences(windowed_run)
    rows = Dataset.from_dict({"tokens": [[r[0] for r in s] for s in sentences]})
    inputs = run.task.prediction_inputs(rows, run.tokenizer)
    records = run.task.prediction_records(inputs, run_outputs(run, inputs, batching), run.tokenizer)
    assert [r["tags"] for r in records] == [[r[2] for r in s] for s in sentences]

    # one long line: the words of the test sentences with the most entities
    rich = sorted(sentences, key=lambda s: -sum(r[1] != OUTSIDE for r in s))[:6]
    text = " ".join(r[0] for s in rich for r in s)
    for run_dir, past_the_cut in ((windowed_run, True), (truncated_run, False)):
        run = load_run(run_dir)
        inputs = run.task.prediction_inputs(Dataset.from_dict({"text": [text]}), run.tokenizer)
        (record,) = run.task.prediction_records(
            inputs, run_outputs(run, inputs, batching), run.tokenizer
        )
        assert len(record["tags"]) == len(record["tokens"]) > 60
        assert any(t != OUTSIDE for t in record["tags"][20:]) == past_the_cut
        for entity in record["entities"]:
            assert text[entity["start"] : entity["end"]] == entity["text"]


def test_a_windowed_run_exports_to_onnx(windowed_run: Path, tmp_path: Path) -> None:
    args = [f"run={windowed_run}", f"output={tmp_path}", "latency_runs=2", "check_samples=8"]
    done = in_process("ftlab.export", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = read_json(tmp_path / "export.json")
    assert report["check_examples"] > 8  # windows of 8 sentences
    assert report["models"]["onnx"]["label_agreement"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["task.long_sequence=chunks"], "task.long_sequence must be one of truncate, windows"),
        (["task.max_seq_length=16", "task.window_stride=16"], "below task.max_seq_length=16"),
        (["task.window_stride=-1"], "at least 0"),
    ],
)
def test_bad_window_settings_are_one_line(args: list, message: str) -> None:
    with pytest.raises(FtlabError, match=message) as error:
        build_task(compose_config(["task=ner", *args]).task)
    assert "\n" not in str(error.value)


def test_a_stride_without_room_for_the_special_tokens_is_one_line(
    tokenizer, tmp_path: Path
) -> None:
    task = build_task(
        compose_config(["task=ner", "task.max_seq_length=16", "task.window_stride=14"]).task
    )
    task.label_list = ["O"]
    data = Dataset.from_dict({"tokens": [["a"] * 40], "ner_tags": [["O"] * 40]})
    with pytest.raises(FtlabError, match=r"window_stride=14 .* 2 special tokens \(14\)") as error:
        task.tokenize(DatasetDict({"train": data}), tokenizer)
    assert "\n" not in str(error.value)


def test_windows_with_lora_class_weights_and_all_pieces(
    tmp_path: Path, tiny_ner_model_dir: Path, conll_files: dict
) -> None:
    """The other NER options run on windows: the balanced weights come from the owned
    labels, and every test word is predicted."""
    run_dir = tiny_run(
        tmp_path,
        tiny_ner_model_dir,
        conll_files,
        *FAST,
        f"task.max_seq_length={SHORT}",
        "task.max_train_samples=100",
        "task.class_weights=balanced",
        "task.label_all_tokens=true",
        "peft=lora",
        "trainer.max_steps=4",
    )
    assert read_json(run_dir / "truncation.json")["test"]["words"] == 0
    assert read_json(run_dir / "truncation.json")["window_stride"] == SHORT // 4  # the default
    assert len(_sentences(run_dir)) == 100
    assert read_json(run_dir / "metrics.json")["test"]["test_accuracy"] > 0
