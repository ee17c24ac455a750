"""task.document_context=true: a NER sentence is encoded with the neighbouring sentences of
its document (CoNLL -DOCSTART- articles) around it, up to max_seq_length tokens, and only
its own words are labelled, scored and predicted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import Dataset
from helpers import compose_config, local_data, tiny_run

from ftlab.config.targets import build_task
from ftlab.data.conll import read_conll
from ftlab.errors import FtlabError
from ftlab.records import read_json
from ftlab.tasks.alignment import IGNORE
from ftlab.tasks.context import AFTER, BEFORE

FAST = [
    "task=ner",
    "optimizer.learning_rate=3e-3",
    "trainer.eval_strategy=no",
    "trainer.save_strategy=no",
    "trainer.load_best_model_at_end=false",
]
LENGTH = 64  # tokens: room for context around most CoNLL sentences, and a few too long alone


@pytest.fixture(scope="module")
def tokenizer(tiny_ner_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_ner_model_dir)


def _task(files: dict, *overrides: str):
    return build_task(compose_config(["task=ner", *local_data(files), *overrides]).task)


def _documents(path: Path) -> list[list[list[str]]]:
    """The file's sentences per -DOCSTART- article, read without the task."""
    documents: list[list[list[str]]] = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = [line.split()[0] for line in block.splitlines() if line.strip()]
        if lines == ["-DOCSTART-"]:
            documents.append([])
        elif lines:
            documents[-1].append(lines)
    return documents


def _joined(sentences: list[list[str]]) -> list[str]:
    return [word for sentence in sentences for word in sentence]


def _pieces(tokenizer, words: list[str]) -> list[int]:
    if not words:
        return []
    return tokenizer(words, is_split_into_words=True, add_special_tokens=False)["input_ids"]


def test_sentences_hold_their_neighbours_but_only_their_own_words_are_labelled(
    tokenizer, conll_files: dict
) -> None:
    task = _task(conll_files, "task.document_context=true", f"task.max_seq_length={LENGTH}")
    splits = task.prepare()
    test = task.tokenize(splits, tokenizer).splits["test"]
    alone = _task(conll_files, f"task.max_seq_length={LENGTH}")
    alone_test = alone.tokenize(alone.prepare(), tokenizer).splits["test"]
    documents = _documents(conll_files["test"])
    sentences = [s for document in documents for s in document]
    neighbours = [
        (_joined(document[:k]), _joined(document[k + 1 :]))
        for document in documents
        for k in range(len(document))
    ]
    assert list(splits["test"]["tokens"]) == sentences  # every sentence, in file order
    # a sentence too long to fit alone is windowed without context, as it is alone
    assert len(test) == len(alone_test) > len(sentences)
    rows_of = list(task.sentences["test"])
    with_context = 0
    for row, alone_row, sentence in zip(test, alone_test, rows_of, strict=True):
        words, (before, after) = sentences[sentence], neighbours[sentence]
        ids, labels = row["input_ids"], row["labels"]
        assert len(ids) <= LENGTH
        labelled = [i for i, label in enumerate(labels) if label != IGNORE]
        # exactly the sentence's own words: the same labels on the same first pieces
        assert [labels[i] for i in labelled] == [x for x in alone_row["labels"] if x != IGNORE]
        assert [ids[i] for i in labelled] == [
            alone_row["input_ids"][i] for i, x in enumerate(alone_row["labels"]) if x != IGNORE
        ]
        if rows_of.count(sentence) > 1 or len(alone_row["input_ids"]) == LENGTH:
            continue  # windows of a long sentence (or a sentence that fills it): no context
        own = _pieces(tokenizer, words)
        start = labelled[0]  # the sentence's first piece
        end = start + len(own)
        assert ids[start:end] == own  # the sentence whole, between its context
        left, right = ids[1:start], ids[end:-1]
        # the negative control: the context is really there, the neighbours' own pieces
        # nearest to the sentence, and none of it is labelled
        assert left == (_pieces(tokenizer, before)[-len(left) :] if left else [])
        assert right == _pieces(tokenizer, after)[: len(right)]
        assert all(label == IGNORE for label in labels[:start] + labels[end:])
        with_context += bool(left or right)
        if left and right:  # both sides have words: the budget is used, about evenly
            assert len(ids) > LENGTH - 20
    assert with_context > 0.8 * len(sentences)


def test_a_split_cut_from_train_takes_context_from_its_own_sentences(conll_files: dict) -> None:
    task = _task({"train": conll_files["train"]}, "task.document_context=true")
    splits = task.prepare()
    for name, split in splits.items():
        rows = split.to_list()
        for row in rows:
            words = {
                word
                for other in rows
                if other["document"] == row["document"] and other is not row
                for word in other["tokens"]
            }
            assert set(row[BEFORE]) | set(row[AFTER]) <= words, name
    assert sum(bool(r[BEFORE]) for r in splits["validation"]) > 10


def test_a_document_column_gives_json_rows_the_same_context(
    conll_files: dict, tmp_path: Path
) -> None:
    files = {}
    for split, path in conll_files.items():
        rows = read_conll(path, document_column="document")
        files[split] = tmp_path / f"{split}.jsonl"
        with open(files[split], "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps({**row, "doc_id": f"d{row['document']}"}) + "\n")
    from_json = _task(files, "task.document_context=true", "task.document_column=doc_id").prepare()
    from_conll = _task(conll_files, "task.document_context=true").prepare()
    for column in (BEFORE, AFTER):
        assert from_json["test"][column] == from_conll["test"][column]


def test_data_without_document_boundaries_is_one_line(conll_files: dict, tmp_path: Path) -> None:
    flat = {}
    for split, path in conll_files.items():
        flat[split] = tmp_path / path.name
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        flat[split].write_text("".join(x for x in lines if not x.startswith("-DOCSTART-")))
    with pytest.raises(FtlabError, match=r"no -DOCSTART- lines.*task\.document_column") as error:
        _task(flat, "task.document_context=true").prepare()
    assert "\n" not in str(error.value)
    assert _task(flat).prepare()["test"].num_rows == 200  # the control: fine without context
    rows = tmp_path / "train.jsonl"  # json rows: the named column must be there
    rows.write_text(json.dumps({"tokens": ["EU"], "ner_tags": ["B-ORG"]}) + "\n")
    with pytest.raises(FtlabError, match=r"no column 'doc_id' \(task\.document_column\)"):
        _task(
            {"train": rows}, "task.document_context=true", "task.document_column=doc_id"
        ).prepare()


def test_the_cache_misses_when_document_context_changes(
    conll_files: dict, tokenizer, caplog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FTLAB_CACHE", str(tmp_path / "cache"))

    def tokenize(*overrides: str) -> list[str]:
        task = _task(conll_files, "task.max_train_samples=50", *overrides)
        caplog.clear()
        with caplog.at_level("INFO", logger="ftlab.data.cache"):
            task.tokenize(task.prepare(), tokenizer)
        return [r.message.rsplit(" ", 1)[-1] for r in caplog.records if "tokenization" in r.message]

    assert tokenize() == ["done"] * 3
    assert tokenize() == ["cached"] * 3  # the positive control
    assert tokenize("task.document_context=true") == ["done"] * 3
    assert tokenize("task.document_context=true") == ["cached"] * 3


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_ner_model_dir: Path, conll_files: dict) -> dict[str, Path]:
    """A tiny run in the documents' context, and a few steps on sentences alone."""
    return {
        name: tiny_run(
            tmp_path_factory.mktemp(f"ner-{name}"),
            tiny_ner_model_dir,
            conll_files,
            *FAST,
            f"task.max_seq_length={LENGTH}",
            # the control only needs its words and gold tags: a few steps
            f"trainer.max_steps={steps}",
            f"task.document_context={name == 'context'}",
        )
        for name, steps in (("alone", 5), ("context", 200))
    }


def _sentences(run_dir: Path) -> list[list[list[str]]]:
    """predictions.conll: per sentence, [token, gold, predicted] rows."""
    blocks = (run_dir / "predictions.conll").read_text(encoding="utf-8").split("\n\n")
    return [[row.split("\t") for row in block.splitlines()] for block in blocks if block.strip()]


def test_a_run_in_context_predicts_every_word_once_and_scores_its_file(
    runs: dict, conll_files: dict
) -> None:
    from seqeval.metrics import accuracy_score, f1_score

    context, alone = _sentences(runs["context"]), _sentences(runs["alone"])
    gold_rows = read_conll(conll_files["test"])
    expected = [
        list(zip(words, tags, strict=True))
        for words, tags in zip(gold_rows["tokens"], gold_rows["ner_tags"], strict=True)
    ]
    for sentences in (context, alone):  # the same words and gold tags, one row per word
        assert [[(r[0], r[1]) for r in s] for s in sentences] == expected
    gold = [[r[1] for r in s] for s in context]
    predicted = [[r[2] for r in s] for s in context]
    test = read_json(runs["context"] / "metrics.json")["test"]
    assert test["test_f1"] > 0.1, test
    assert test["test_f1"] == pytest.approx(f1_score(gold, predicted))
    assert test["test_accuracy"] == pytest.approx(accuracy_score(gold, predicted))
    truncation = read_json(runs["context"] / "truncation.json")
    assert truncation["test"]["words"] == 0


def test_predict_on_a_conll_file_uses_its_documents(runs: dict, conll_files: dict) -> None:
    """ftlab.predict on the test file (-DOCSTART- lines) gives the run's predictions; the
    same sentences without their documents are predicted alone (and differ somewhere)."""
    from ftlab.inference.inputs import read_input
    from ftlab.inference.predictor import Batching, run_outputs
    from ftlab.inference.runs import load_run

    batching = Batching(batch_size=32, device="cpu", progress=False)
    run = load_run(runs["context"])
    expected = [[r[2] for r in s] for s in _sentences(runs["context"])]

    def tags(rows: Dataset) -> list[list[str]]:
        inputs = run.task.prediction_inputs(rows, run.tokenizer)
        outputs = run_outputs(run, inputs, batching)
        return [r["tags"] for r in run.task.prediction_records(inputs, outputs, run.tokenizer)]

    rows = read_input(str(conll_files["test"]), "conll", run.task)
    assert tags(rows) == expected
    plain = tags(Dataset.from_dict({"tokens": rows["tokens"]}))
    assert [len(t) for t in plain] == [len(t) for t in expected]
    assert plain != expected


def _iobes(tags: list[str]) -> list[str]:
    """IOB2 tags in IOBES: an entity's last word E- (S- when it is one word)."""
    result = []
    for i, tag in enumerate(tags):
        goes_on = i + 1 < len(tags) and tags[i + 1] == f"I-{tag[2:]}"
        if tag == "O":
            result.append(tag)
        elif tag.startswith("B-"):
            result.append(("B-" if goes_on else "S-") + tag[2:])
        else:
            result.append(("I-" if goes_on else "E-") + tag[2:])
    return result


def test_document_context_with_windows_lora_class_weights_and_iobes(
    tmp_path: Path, tiny_ner_model_dir: Path, conll_files: dict
) -> None:
    """The other NER options compose: short windows for the sentences too long alone,
    balanced weights from the labelled words, every piece trained, IOBES tags."""
    files = {}
    for split, path in conll_files.items():
        rows = read_conll(path, document_column="document")
        files[split] = tmp_path / f"{split}.jsonl"
        with open(files[split], "w", encoding="utf-8") as handle:
            for row in rows:
                row["ner_tags"] = _iobes(row["ner_tags"])
                handle.write(json.dumps(row) + "\n")
    run_dir = tiny_run(
        tmp_path / "run",
        tiny_ner_model_dir,
        files,
        *FAST,
        "task.document_context=true",
        "task.document_column=document",
        "task.max_seq_length=24",
        "task.max_train_samples=100",
        "task.max_eval_samples=50",
        "task.class_weights=balanced",
        "task.label_all_tokens=true",
        "peft=lora",
        "trainer.max_steps=4",
    )
    truncation = read_json(run_dir / "truncation.json")
    assert truncation["test"]["words"] == 0 and truncation["test"]["windowed"]["sentences"] > 0
    sentences = _sentences(run_dir)
    assert len(sentences) == 50
    assert {r[1][:2] for s in sentences for r in s} >= {"S-", "E-"}  # IOBES gold comes back
    assert read_json(run_dir / "metrics.json")["test"]["test_accuracy"] > 0
