"""Corpus BLEU as an `evaluate` module, shipped with ftlab and loaded by local path (no
download). Needs the `sacrebleu` package (the extra `ftlab[sft]`).

The score is sacrebleu's corpus BLEU (`sacrebleu.metrics.BLEU`, 0..100: n-gram counts summed
over the corpus, the geometric mean of the 1..4-gram precisions, the brevity penalty
exp(1 - r/c) when the predictions are shorter than the references), one reference per
prediction, with sacrebleu's defaults (case-sensitive, "exp" smoothing).

Tokenization: sacrebleu's "13a" (the WMT standard, mteval-v13a) reads a Chinese sentence,
which has no spaces, as a single token, so when any prediction or reference contains a CJK
character (Han, kana, hangul) the default is sacrebleu's "zh" tokenizer, which makes each Han
character a token and handles the rest like 13a. `tokenize=` overrides the choice ("13a",
"zh", "char", "intl", "none", ...; "ja-mecab" and "ko-mecab" need their extras).
"""

import re

import evaluate
from sacrebleu.metrics import BLEU

from ftlab.metrics.info import metric_info

# Han (CJK Unified Ideographs, Extensions A-I, Compatibility Ideographs, the ideographic
# zero), kana and hangul: the same characters the rouge module segments.
_CJK_RE = re.compile(
    "[\u3007"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0003134f"
    "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff"
    "\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]"
)

_DESCRIPTION = "Corpus BLEU (sacrebleu), with the zh tokenizer for CJK text."
_KWARGS_DESCRIPTION = """
Args:
    predictions: one generated text per example.
    references: one reference text per example.
    tokenize: sacrebleu's tokenizer name; default "zh" when any text contains a CJK
        character, else "13a".
    lowercase: compute case-insensitive BLEU.
    smooth_method: "exp" (sacrebleu's default), "floor", "add-k" or "none".
    smooth_value: the value for "floor" / "add-k".
Returns:
    bleu: corpus BLEU, a float from 0 to 100.
"""
_CITATION = (
    "Kishore Papineni et al., BLEU: a Method for Automatic Evaluation of Machine Translation, "
    "ACL 2002. Matt Post, A Call for Clarity in Reporting BLEU Scores, WMT 2018."
)


def default_tokenizer(texts) -> str:
    """ "zh" when any text contains a CJK character, else "13a"."""
    return "zh" if any(_CJK_RE.search(text) for text in texts) else "13a"


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Bleu(evaluate.Metric):
    def _info(self):
        return metric_info(_DESCRIPTION, _CITATION, _KWARGS_DESCRIPTION, "string", None)

    def _compute(
        self,
        predictions,
        references,
        tokenize=None,
        lowercase=False,
        smooth_method="exp",
        smooth_value=None,
    ):
        predictions = [p or "" for p in predictions]
        references = [r or "" for r in references]
        if not predictions:
            return {"bleu": 0.0}
        if tokenize is None:
            tokenize = default_tokenizer([*predictions, *references])
        bleu = BLEU(
            tokenize=tokenize,
            lowercase=lowercase,
            smooth_method=smooth_method,
            smooth_value=smooth_value,
        )
        score = bleu.corpus_score(predictions, [references])
        return {"bleu": float(score.score)}
