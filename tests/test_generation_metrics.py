"""The shipped ROUGE and BLEU modules give hand-computed answers, in English and Chinese."""

from __future__ import annotations

import math
import sys

import pytest

pytest.importorskip("rouge_score")
pytest.importorskip("sacrebleu")

from rouge_score import rouge_scorer
from rouge_score.tokenizers import DefaultTokenizer

from ftlab.metrics import load_metric

# the classic pair: 6 tokens each
CAT_PRED, CAT_REF = "the cat sat on the mat", "the cat is on the mat"
# 7 and 8 Han characters; the prediction is the reference without 很
ZH_PRED, ZH_REF = "我喜欢这部电影", "我很喜欢这部电影"


def f_measure(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def rouge_tokenizer(use_stemmer: bool = False):
    """The tokenizer class of the module as `evaluate` loaded it."""
    module = sys.modules[type(load_metric("rouge")).__module__]
    return module.CJKTokenizer(use_stemmer=use_stemmer)


def test_rouge_english_hand_computation() -> None:
    rouge = load_metric("rouge")
    # unigrams: the x2, cat, on, mat overlap (clipped) = 5 of 6 each side -> P = R = 5/6
    # bigrams: pred {the cat, cat sat, sat on, on the, the mat}, ref {the cat, cat is, is on,
    #   on the, the mat}: 3 shared of 5 each side -> P = R = 3/5
    # LCS: "the cat on the mat" = 5 of 6 each side -> P = R = 5/6
    result = rouge.compute(predictions=[CAT_PRED], references=[CAT_REF])
    assert set(result) == {"rouge1", "rouge2", "rougeL"}
    assert all(type(v) is float for v in result.values())
    assert result["rouge1"] == pytest.approx(5 / 6)
    assert result["rouge2"] == pytest.approx(3 / 5)
    assert result["rougeL"] == pytest.approx(5 / 6)
    # the mean over examples: a second, identical pair scores 1 on all three
    two = rouge.compute(predictions=[CAT_PRED, "a dog"], references=[CAT_REF, "A dog!"])
    assert two["rouge1"] == pytest.approx((5 / 6 + 1) / 2)
    assert two["rouge2"] == pytest.approx((3 / 5 + 1) / 2)
    assert two["rougeL"] == pytest.approx((5 / 6 + 1) / 2)


def test_rouge_tokenizer_matches_default_on_english() -> None:
    text = "The Cats' owners, in 2024, were running 3 shops -- e-mail: A.B@x.org!"
    for stem in (False, True):
        assert rouge_tokenizer(stem).tokenize(text) == DefaultTokenizer(stem).tokenize(text)
    # use_stemmer passes through: "cats running" matches "cat runs" only when stemmed
    rouge = load_metric("rouge")
    plain = rouge.compute(predictions=["cats running"], references=["cat runs"])
    stemmed = rouge.compute(predictions=["cats running"], references=["cat runs"], use_stemmer=True)
    assert plain["rouge1"] == 0.0
    assert stemmed["rouge1"] == pytest.approx(1.0)


def test_rouge_tokenizer_segments_cjk() -> None:
    tokenize = rouge_tokenizer().tokenize
    assert tokenize(ZH_PRED) == list(ZH_PRED)
    # mixed text: English words lower-cased, each Han character a token, punctuation dropped,
    # digits (full-width ones too) kept
    assert tokenize("我用Python写了２０２4行代码。") == [
        "我",
        "用",
        "python",
        "写",
        "了",
        "2024",
        "行",
        "代",
        "码",
    ]
    assert tokenize("ひらがな と 한국어") == ["ひ", "ら", "が", "な", "と", "한", "국", "어"]


def test_rouge_chinese_hand_computation() -> None:
    rouge = load_metric("rouge")
    # characters: pred 7, ref 8. unigrams: all 7 of pred in ref -> P = 7/7, R = 7/8
    # bigrams: pred 6 {我喜 喜欢 欢这 这部 部电 电影}, ref 7 {我很 很喜 喜欢 欢这 这部 部电 电影}:
    #   5 shared -> P = 5/6, R = 5/7
    # LCS = the whole prediction, 7 -> P = 7/7, R = 7/8
    result = rouge.compute(predictions=[ZH_PRED], references=[ZH_REF])
    assert result["rouge1"] == pytest.approx(f_measure(1, 7 / 8))  # 14/15
    assert result["rouge2"] == pytest.approx(f_measure(5 / 6, 5 / 7))  # 10/13
    assert result["rougeL"] == pytest.approx(f_measure(1, 7 / 8))
    assert result["rouge1"] > 0.9
    # negative control: rouge_score's own tokenizer sees no tokens in Chinese -> 0
    default = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"]).score(ZH_REF, ZH_PRED)
    assert all(score.fmeasure == 0.0 for score in default.values())
    # an unrelated sentence scores lower (it shares only 很)
    unrelated = rouge.compute(predictions=["今天天气很好"], references=[ZH_REF])
    assert 0 < unrelated["rouge1"] < result["rouge1"]
    assert unrelated["rouge2"] == 0.0


def test_bleu_identical_and_hand_computation() -> None:
    bleu = load_metric("bleu")
    same = bleu.compute(predictions=[CAT_PRED, ZH_REF], references=[CAT_PRED, ZH_REF])
    assert same["bleu"] == pytest.approx(100.0)
    assert type(same["bleu"]) is float
    pred = "the quick brown fox jumps over the lazy dog"  # 9 tokens
    ref = "the quick brown fox jumped over the lazy dog"  # 9 tokens
    # 1-grams: 8/9 (all but jumps); 2-grams: 6/8 (not "fox jumps", "jumps over");
    # 3-grams: 4/7 (the quick brown, quick brown fox, over the lazy, the lazy dog);
    # 4-grams: 2/6 (the quick brown fox, over the lazy dog); c = r -> brevity penalty 1
    expected = 100 * (8 / 9 * 6 / 8 * 4 / 7 * 2 / 6) ** (1 / 4)
    assert bleu.compute(predictions=[pred], references=[ref])["bleu"] == pytest.approx(expected)
    # a longer reference (r = 10 > c = 9) adds no matches: the brevity penalty exp(1 - r/c)
    longer = bleu.compute(predictions=[pred], references=[ref + " today"])["bleu"]
    assert longer == pytest.approx(expected * math.exp(1 - 10 / 9))
    # corpus BLEU sums the counts over examples, then takes one brevity penalty: the two
    # pairs above pooled have the same precisions (16/18, 12/16, 8/14, 4/12) and c = 18 < r = 19,
    # which is not the mean of the two sentence scores
    pooled = bleu.compute(predictions=[pred, pred], references=[ref, ref + " today"])["bleu"]
    assert pooled == pytest.approx(expected * math.exp(1 - 19 / 18))
    assert pooled != pytest.approx((expected + longer) / 2)


def test_bleu_chinese_uses_zh_tokenizer() -> None:
    bleu = load_metric("bleu")
    # zh: one token per character. 1-grams 7/7; 2-grams 5/6; 3-grams 4/5 (not 我喜欢);
    # 4-grams 3/4 (not 我喜欢这); c = 7 < r = 8 -> brevity penalty exp(1 - 8/7)
    expected = 100 * (1 * 5 / 6 * 4 / 5 * 3 / 4) ** (1 / 4) * math.exp(1 - 8 / 7)
    result = bleu.compute(predictions=[ZH_PRED], references=[ZH_REF])["bleu"]
    assert result == pytest.approx(expected)
    assert result == pytest.approx(
        bleu.compute(predictions=[ZH_PRED], references=[ZH_REF], tokenize="zh")["bleu"]
    )
    # 13a (the override) reads each sentence as one token: nothing matches
    as_13a = bleu.compute(predictions=[ZH_PRED], references=[ZH_REF], tokenize="13a")["bleu"]
    assert as_13a == 0.0 < result


def test_empty_predictions_score_zero() -> None:
    rouge, bleu = load_metric("rouge"), load_metric("bleu")
    assert bleu.compute(predictions=[""], references=[CAT_REF]) == {"bleu": 0.0}
    assert bleu.compute(predictions=["", ""], references=[CAT_REF, ZH_REF]) == {"bleu": 0.0}
    assert bleu.compute(predictions=[], references=[]) == {"bleu": 0.0}
    zero = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    assert rouge.compute(predictions=[""], references=[ZH_REF]) == zero
    assert rouge.compute(predictions=[], references=[]) == zero
    # one empty prediction of two halves the mean
    half = rouge.compute(predictions=["", CAT_REF], references=[CAT_REF, CAT_REF])
    assert half["rouge1"] == pytest.approx(0.5)
