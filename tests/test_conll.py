"""Reading NER data: CoNLL column files (English words, Chinese characters), jsonl rows,
the builtin CoNLL-2003 splits, and one-line errors for broken files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftlab.data.builtin import conll2003
from ftlab.data.conll import first_sentences, read_conll
from ftlab.errors import FtlabError
from ftlab.tasks.token_classification import TokenClassificationTask

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
"""

# character-level Chinese NER (MSRA / Weibo style): one character a line, tab-separated
CHINESE = (
    "中\tB-ORG\n国\tI-ORG\n银\tI-ORG\n行\tI-ORG\n在\tO\n北\tB-LOC\n京\tI-LOC\n"
    "\n"
    "张\tB-PER\n三\tI-PER\n"
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reader_skips_docstart_and_splits_sentences_on_blank_lines(tmp_path: Path) -> None:
    data = read_conll(_write(tmp_path, "x.conll", CONLL))
    assert data["tokens"] == [["EU", "rejects", "German"], ["Peter", "Blackburn"], ["BRUSSELS"]]
    assert data["ner_tags"] == [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"], ["B-LOC"]]


def test_first_sentences_is_a_slice_in_the_files_own_format(tmp_path: Path) -> None:
    """What the tests' and benchmarks' CoNLL slices are cut with: whole sentences, the
    document markers that come before them kept, nothing after the last one."""
    path = _write(tmp_path, "x.conll", CONLL)
    two = first_sentences(path, 2)
    assert two == CONLL[: CONLL.index("Blackburn")] + "Blackburn NNP I-NP I-PER\n\n"
    assert read_conll(_write(tmp_path, "two.conll", two))["tokens"] == [
        ["EU", "rejects", "German"],
        ["Peter", "Blackburn"],
    ]
    assert first_sentences(path, 10) == CONLL  # fewer sentences than asked: the whole file


def test_reader_takes_the_columns_asked_for(tmp_path: Path) -> None:
    data = read_conll(_write(tmp_path, "x.txt", CONLL), token_column_index=0, tag_column_index=2)
    assert data["ner_tags"][0] == ["B-NP", "B-VP", "B-NP"]  # the chunk column
    pos = read_conll(_write(tmp_path, "y.txt", CONLL), token_column_index=1, tag_column_index=-1)
    assert pos["tokens"][1] == ["NNP", "NNP"]


def test_wrong_column_count_names_file_and_line(tmp_path: Path) -> None:
    broken = CONLL.replace("Blackburn NNP I-NP I-PER", "Blackburn I-PER")
    path = _write(tmp_path, "broken.conll", broken)
    with pytest.raises(FtlabError) as error:
        read_conll(path)
    message = str(error.value)
    assert str(path) in message and "line 8:" in message and "2 columns" in message
    assert "\n" not in message


def test_column_index_out_of_range_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(FtlabError, match=r"task.tag_column_index=4 .* 4 columns"):
        read_conll(_write(tmp_path, "x.conll", CONLL), tag_column_index=4)


def test_chinese_character_level_file(tmp_path: Path) -> None:
    data = read_conll(_write(tmp_path, "weibo.txt", CHINESE))
    assert data["tokens"] == [list("中国银行在北京"), list("张三")]
    assert data["ner_tags"][0] == ["B-ORG", "I-ORG", "I-ORG", "I-ORG", "O", "B-LOC", "I-LOC"]


def test_task_reads_chinese_conll_and_jsonl_alike(tmp_path: Path) -> None:
    rows = [
        {
            "tokens": list("中国银行在北京"),
            "ner_tags": ["B-ORG", "I-ORG", "I-ORG", "I-ORG", "O", "B-LOC", "I-LOC"],
        },
        {"tokens": list("张三"), "ner_tags": ["B-PER", "I-PER"]},
    ]
    jsonl = tmp_path / "weibo.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    conll = _write(tmp_path, "weibo.conll", CHINESE)
    for path in (jsonl, conll):
        task = TokenClassificationTask(
            name="zh", train_file=str(path), validation_file=str(path), test_file=str(path)
        )
        splits = task.prepare()
        assert splits["train"]["tokens"][0] == list("中国银行在北京")
        assert task.label_list == ["B-LOC", "B-ORG", "B-PER", "I-LOC", "I-ORG", "I-PER", "O"]


def test_given_labels_win_and_unknown_tags_fail(tmp_path: Path) -> None:
    path = _write(tmp_path, "x.conll", CONLL)
    labels = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    task = TokenClassificationTask(name="t", train_file=str(path), labels=labels)
    task.validation_file = task.test_file = str(path)
    task.prepare()
    assert task.label_list == labels
    task.labels = ["O", "B-PER", "I-PER"]
    with pytest.raises(FtlabError, match="label 'B-ORG' is not in the label list"):
        task.prepare()


def test_jsonl_with_mismatched_lengths_fails_with_the_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    rows = [{"tokens": ["a", "b"], "ner_tags": ["O", "O"]}, {"tokens": ["c"], "ner_tags": []}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    task = TokenClassificationTask(name="t", train_file=str(path), validation_file=str(path))
    task.test_file = str(path)
    with pytest.raises(FtlabError, match=r"train split, row 1: 1 tokens but 0 tags"):
        task.prepare()


def test_unknown_seqeval_mode_is_a_one_line_error() -> None:
    with pytest.raises(FtlabError, match=r"task\.seqeval_mode must be one of default, strict"):
        TokenClassificationTask(name="t", seqeval_mode="strcit")


def test_builtin_conll2003_has_the_official_splits() -> None:
    splits = conll2003()
    assert {k: len(v) for k, v in splits.items()} == {
        "train": 14041,
        "validation": 3250,
        "test": 3453,
    }
    assert splits["train"][0] == {
        "tokens": ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
        "ner_tags": ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"],
        "document": 1,  # the file's first -DOCSTART- article
    }
    assert [len(set(v["document"])) for v in splits.values()] == [946, 216, 231]
