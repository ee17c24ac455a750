"""CoNLL column files: one token per line, columns split by tabs or spaces, a blank line
between sentences (CoNLL-2003 `token POS chunk NER`, or character-level `字 B-ORG` files).

Nothing assumes English: a token is whatever its column holds, a Chinese character as well
as a word; only the line structure matters.
"""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset, Features, Sequence, Value

from ftlab.data.diagnose import not_decodable
from ftlab.errors import FtlabError

CONLL_SUFFIXES = (".conll", ".txt", ".tsv", ".bio", ".iob")
# CoNLL-2003 (and files derived from it) start each document with this pseudo-sentence
DOCSTART = "-DOCSTART-"
# the column of a sentence's document number, where read_conll is asked for it
DOCUMENT = "document"


def _columns(line: str) -> list[str]:
    # tab-separated files may hold spaces inside a column; otherwise any run of spaces splits
    return line.split("\t") if "\t" in line else line.split()


def first_sentences(path: Path, count: int) -> str:
    """The lines of a CoNLL file up to the end of its `count`-th sentence: a slice of the
    file in its own format (document markers and columns kept)."""
    kept, sentences, in_sentence = [], 0, False
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        kept.append(line)
        if line.strip() and not line.startswith(DOCSTART):
            in_sentence = True
        elif not line.strip() and in_sentence:
            in_sentence = False
            sentences += 1
            if sentences == count:
                break
    return "".join(kept)


def read_conll(
    path: Path,
    token_column_index: int = 0,
    tag_column_index: int = -1,
    tokens_column: str = "tokens",
    tags_column: str = "ner_tags",
    encoding: str = "utf-8",
    document_column: str | None = None,
) -> Dataset:
    """One row per sentence: `tokens_column` and `tags_column` lists of strings.

    Every token line must have as many columns as the file's first one; `-DOCSTART-`
    lines are skipped. With `document_column`, a file with `-DOCSTART-` lines also gets
    that column: each sentence's document, the number of `-DOCSTART-` lines before it (a
    file without them has no documents, and no such column). A bad line is a one-line
    FtlabError with the file and line number.
    """
    sentences: list[list[str]] = []
    tags: list[list[str]] = []
    words: list[str] = []
    labels: list[str] = []
    documents: list[int] = []
    document = 0
    width: int | None = None
    try:
        lines = path.read_text(encoding=encoding).split("\n")
    except UnicodeDecodeError as exc:
        raise not_decodable(path, encoding, exc) from exc
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        fields = _columns(line)
        if not fields or fields[0] == DOCSTART:
            if words:
                sentences.append(words)
                tags.append(labels)
                documents.append(document)
                words, labels = [], []
            document += bool(fields)
            continue
        if width is None:
            width = len(fields)
            _check_index(path, width, token_column_index, "token_column_index")
            _check_index(path, width, tag_column_index, "tag_column_index")
        elif len(fields) != width:
            raise FtlabError(
                f"{path}, line {number}: {len(fields)} columns where the file's first "
                f"token line has {width}; every token line needs the same columns"
            )
        words.append(fields[token_column_index])
        labels.append(fields[tag_column_index])
    if words:
        sentences.append(words)
        tags.append(labels)
        documents.append(document)
    if not sentences:
        raise FtlabError(f"{path}: no sentences found; is it a CoNLL column file?")
    columns: dict[str, list] = {tokens_column: sentences, tags_column: tags}
    features = {tokens_column: Sequence(Value("string")), tags_column: Sequence(Value("string"))}
    if document_column is not None and document:
        columns[document_column] = documents
        features[document_column] = Value("int64")
    return Dataset.from_dict(columns, features=Features(features))


def _check_index(path: Path, width: int, index: int, option: str) -> None:
    if not -width <= index < width:
        raise FtlabError(
            f"{path}: task.{option}={index} but its lines have {width} columns; "
            f"use an index from {-width} to {width - 1}"
        )
