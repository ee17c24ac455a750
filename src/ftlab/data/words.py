"""Words of a text with or without spaces, and their character offsets.

Chinese (and Japanese kanji) text has no spaces between words: split on whitespace, a whole
sentence is one "word". Here every CJK ideograph is a word of its own, the way BERT's
tokenizers and character-level Chinese NER data treat them (the `tokenizers` library's
BertNormalizer finds them, and keeps the offsets into the original text); other text
splits as before.
"""

from __future__ import annotations

from typing import Any

from tokenizers import PreTokenizedString, normalizers, pre_tokenizers

# pads each CJK ideograph with spaces, and does nothing else
_CJK = normalizers.BertNormalizer(
    clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False
)
_WHITESPACE = pre_tokenizers.WhitespaceSplit()
_WORDS_AND_PUNCTUATION = pre_tokenizers.BertPreTokenizer()


def is_cjk(unit: str) -> bool:
    """Whether `unit` is one CJK ideograph."""
    return len(unit) == 1 and _CJK.normalize_str(unit) != unit


def spans(
    text: str, normalizer: Any = None, pre_tokenizer: Any = _WORDS_AND_PUNCTUATION
) -> list[list[int]]:
    """[start, end) character spans of the words of `text`, split by `normalizer` and
    `pre_tokenizer` (`tokenizers` objects), every CJK ideograph apart."""
    pieces = PreTokenizedString(text)
    if normalizer is not None:
        pieces.normalize(normalizer.normalize)
    pieces.normalize(_CJK.normalize)
    pre_tokenizer.pre_tokenize(pieces)
    result = []
    for _, (start, end), _ in pieces.get_splits(offset_referential="original", offset_type="char"):
        # a marker-style pre-tokenizer (SentencePiece's ▁) may count the space in the span
        while start < end and text[start].isspace():
            start += 1
        if start < end:
            result.append([start, end])
    return result


def word_spans(text: str) -> list[list[int]]:
    """Word spans of raw text split as tagged data splits its words (CoNLL: punctuation
    apart; each CJK ideograph alone), whatever the model's own pre-tokenizer does: a
    SentencePiece tokenizer splits at spaces only and would keep `Monday.` one word."""
    return spans(text)


def units(text: str) -> list[str]:
    """What augmentation replaces, deletes and swaps: whitespace-separated words, and each CJK
    ideograph on its own."""
    return [text[start:end] for start, end in spans(text, pre_tokenizer=_WHITESPACE)]


def join(parts: list[str]) -> str:
    """`units` back into text: a space between two words, none next to an ideograph."""
    text = ""
    for i, part in enumerate(parts):
        if i and not (is_cjk(part) or is_cjk(parts[i - 1])):
            text += " "
        text += part
    return text
