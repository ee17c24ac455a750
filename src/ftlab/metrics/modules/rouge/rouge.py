"""ROUGE-1, ROUGE-2 and ROUGE-L as an `evaluate` module, shipped with ftlab and loaded by local
path (no download). Needs the `rouge-score` package (the extra `ftlab[sft]`).

The scores are Google's `rouge_score` (`rouge_scorer.RougeScorer`): for each example the
F-measure of the prediction against its reference, then the mean over the examples.

Tokenization. rouge_score's default tokenizer lower-cases the text and keeps only runs of
[a-z0-9]; everything else separates words and is dropped, so a Chinese (or Japanese, Korean)
sentence has no tokens at all and scores 0 against anything. `CJKTokenizer` keeps the
default's English behaviour (lower-cased [a-z0-9]+ words, optional Porter stemming of words
over 3 characters, punctuation dropped) and makes each CJK character (Han ideographs, kana,
hangul) a token of its own. One character per token is the common choice for Chinese ROUGE:
written Chinese has no spaces, word segmentation needs a dictionary or model whose choices
change the score (and differ between segmenters), while characters are unambiguous and most
Chinese words are one or two characters, so unigram and bigram overlaps of characters stand
in for word overlaps. Mixed text gets both: "用Python写代码" -> 用 python 写 代 码. The text
is NFKC-normalised first, so full-width letters and digits (common in Chinese text) count as
their ASCII forms.
"""

import re
import unicodedata

import evaluate
from rouge_score import rouge_scorer

from ftlab.metrics.info import metric_info

# Han (CJK Unified Ideographs, Extensions A-I, Compatibility Ideographs, the ideographic
# zero), kana (hiragana, katakana and its extensions) and hangul (syllables and jamo).
CJK_CHARS = (
    "\u3007"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0003134f"
    "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff"
    "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
)
_TOKEN_RE = re.compile(f"[{CJK_CHARS}]|[a-z0-9]+")
_WORD_RE = re.compile("[a-z0-9]+")

_DESCRIPTION = (
    "ROUGE-1, ROUGE-2 and ROUGE-L F-measures (rouge_score), averaged over examples, with CJK "
    "text segmented one character per token."
)
_KWARGS_DESCRIPTION = """
Args:
    predictions: one generated text per example.
    references: one reference text per example.
    use_stemmer: Porter-stem English words longer than 3 characters (rouge_score's option).
Returns:
    rouge1, rouge2, rougeL: the mean F-measure over the examples (0..1), floats.
"""
_CITATION = (
    "Chin-Yew Lin, ROUGE: A Package for Automatic Evaluation of Summaries, 2004. "
    "Google Research, rouge-score, https://github.com/google-research/google-research/tree/"
    "master/rouge."
)

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


class CJKTokenizer:
    """rouge_score's default tokenization for English, one token per CJK character."""

    def __init__(self, use_stemmer: bool = False):
        if use_stemmer:
            from nltk.stem import porter

            self._stemmer = porter.PorterStemmer()
        else:
            self._stemmer = None

    def tokenize(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text).lower()
        tokens = _TOKEN_RE.findall(text)
        if self._stemmer is not None:
            # as rouge_score's default: only words longer than 3 characters are stemmed
            tokens = [
                self._stemmer.stem(t) if len(t) > 3 and _WORD_RE.fullmatch(t) else t for t in tokens
            ]
        return tokens


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Rouge(evaluate.Metric):
    def _info(self):
        return metric_info(_DESCRIPTION, _CITATION, _KWARGS_DESCRIPTION, "string", None)

    def _compute(self, predictions, references, use_stemmer=False):
        scorer = rouge_scorer.RougeScorer(
            list(ROUGE_TYPES), tokenizer=CJKTokenizer(use_stemmer=use_stemmer)
        )
        totals = dict.fromkeys(ROUGE_TYPES, 0.0)
        for prediction, reference in zip(predictions, references, strict=True):
            # rouge_score's argument order is (target, prediction)
            scores = scorer.score(reference or "", prediction or "")
            for name in ROUGE_TYPES:
                totals[name] += scores[name].fmeasure
        n = len(predictions)
        return {name: float(total / n) if n else 0.0 for name, total in totals.items()}
