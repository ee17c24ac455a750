"""What ftlab/models/family.py derives for each model family, on tiny models shipped as the
Hub checkpoints ship (tests/families.py): no training here, only the answers and the
defects they fix, each with the shipped behaviour beside it as the negative control."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from families import BYTE_LEVEL_FAMILIES, FAMILIES

from ftlab.errors import FtlabError
from ftlab.models import family

WORDS = ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]
DECODERS = ("gpt2", "llama", "qwen2")


def _tokenizer(directory: Path) -> object:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(directory)


def _pieces(tokenizer: object, encoded: object) -> list[str]:
    return tokenizer.convert_ids_to_tokens(encoded["input_ids"])


@pytest.mark.parametrize("name", FAMILIES)
def test_pre_split_words_encode_as_running_text(
    name: str, tiny_family: Callable[[str], Path]
) -> None:
    tokenizer = _tokenizer(tiny_family(name))
    running = _pieces(tokenizer, tokenizer(" " + " ".join(WORDS), add_special_tokens=False))
    ours = family.encode_words(tokenizer, [WORDS], add_special_tokens=False)
    assert _pieces(tokenizer, {"input_ids": ours["input_ids"][0]}) == running
    # word_ids still map every piece to its word, in order
    assert sorted(set(ours.word_ids(0))) == list(range(len(WORDS)))
    shipped = tokenizer(WORDS, is_split_into_words=True, add_special_tokens=False)
    if name in BYTE_LEVEL_FAMILIES:  # the negative control: without the space, other pieces
        assert family.word_prefix(tokenizer) == " "
        assert _pieces(tokenizer, shipped) != running
    else:
        assert family.word_prefix(tokenizer) == ""


@pytest.mark.parametrize("name", DECODERS)
def test_a_decoder_gets_a_pad_token_that_saves_and_reloads(
    name: str, tiny_family: Callable[[str], Path], tmp_path: Path
) -> None:
    from transformers import AutoConfig

    directory = tiny_family(name)
    tokenizer, config = _tokenizer(directory), AutoConfig.from_pretrained(directory)
    shipped_pad = tokenizer.pad_token
    family.prepare_tokenizer(tokenizer, config, None)
    assert tokenizer.pad_token == (shipped_pad or tokenizer.eos_token)
    assert family.config_fixes(config, tokenizer) == {"pad_token_id": tokenizer.pad_token_id}
    tokenizer.save_pretrained(tmp_path)
    reloaded = _tokenizer(tmp_path)
    assert (reloaded.pad_token, reloaded.padding_side) == (tokenizer.pad_token, "right")


def test_a_pad_token_outside_the_vocabulary_is_one_line(
    tiny_family: Callable[[str], Path],
) -> None:
    tokenizer = _tokenizer(tiny_family("gpt2"))
    with pytest.raises(FtlabError, match=r"model.pad_token=<nope> is not a token"):
        family.ensure_pad_token(tokenizer, "<nope>")
    assert family.ensure_pad_token(tokenizer, "unk") == tokenizer.unk_token


@pytest.mark.parametrize("name", DECODERS)
def test_a_padded_decoder_batch_scores_each_row_as_alone(
    name: str, tiny_family: Callable[[str], Path]
) -> None:
    """The head reads each row's last real token, at its real positions: a batch padded as
    ftlab pads it gives each row the logits it has alone, even where the checkpoint asks
    for left padding (a generation default; GPT-2's absolute positions move with it)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    directory = tiny_family(name)
    config = AutoConfig.from_pretrained(directory)
    tokenizer = _tokenizer(directory)
    tokenizer.padding_side = "left"  # as a chat checkpoint may ship it
    family.prepare_tokenizer(tokenizer, config, None)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        directory, num_labels=3, **family.config_fixes(config, tokenizer)
    ).eval()
    texts = ["What is the capital of Peru ?", "Who wrote it ?", "Why is the sky blue today ?"]
    with torch.no_grad():
        batch = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
        alone = torch.cat([model(**tokenizer([t], return_tensors="pt")).logits for t in texts])
    assert torch.allclose(batch, alone, atol=1e-5)
    if name == "gpt2":  # the negative control: left padding moves GPT-2's positions
        tokenizer.padding_side = "left"
        with torch.no_grad():
            left = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
        assert not torch.allclose(left, alone, atol=1e-3)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bert", ["classifier"]),
        ("gpt2", ["score"]),
        ("deberta-v3", ["classifier", "pooler"]),
        ("t5", ["classification_head"]),
        # its checkpoint is a masked-LM model: the prediction head's dense + norm are trained
        ("modernbert", ["classifier"]),
    ],
)
def test_new_modules_are_derived_from_what_the_checkpoint_lacks(
    name: str, expected: list[str], tiny_family: Callable[[str], Path]
) -> None:
    from transformers import AutoModelForSequenceClassification

    model, info = AutoModelForSequenceClassification.from_pretrained(
        tiny_family(name), num_labels=2, output_loading_info=True
    )
    assert family.new_modules(model, info["missing_keys"]) == expected
    assert set(expected) <= set(family.head_modules(type(model), model.config))


def test_adapters_go_where_peft_says_else_on_every_linear_layer_of_the_blocks(
    tiny_family: Callable[[str], Path],
) -> None:
    from transformers import AutoModelForSequenceClassification

    def targets(name: str) -> list[str] | None:
        model = AutoModelForSequenceClassification.from_pretrained(tiny_family(name), num_labels=2)
        return family.adapter_targets(model, "lora")

    assert targets("bert") is None and targets("llama") is None  # peft's own defaults
    assert targets("modernbert") == ["Wi", "Wo", "Wqkv"]
    assert targets("distilbert") == ["k_lin", "lin1", "lin2", "out_lin", "q_lin", "v_lin"]


@pytest.mark.parametrize(
    ("name", "token_types"),
    [("bert", True), ("electra", True), ("distilbert", False), ("deberta-v3", False)],
)
def test_only_the_inputs_the_model_uses_are_fed(
    name: str, token_types: bool, tiny_family: Callable[[str], Path]
) -> None:
    from transformers import AutoConfig, AutoModelForSequenceClassification

    directory = tiny_family(name)
    tokenizer, config = _tokenizer(directory), AutoConfig.from_pretrained(directory)
    assert "token_type_ids" in tokenizer("a question")  # as shipped: all four return them
    family.prepare_tokenizer(tokenizer, config, None)
    assert ("token_type_ids" in tokenizer("a question")) is token_types
    model = AutoModelForSequenceClassification.from_pretrained(directory, num_labels=2)
    names = family.model_inputs(model, ["token_type_ids", "attention_mask", "input_ids"])
    assert names[:2] == ["input_ids", "attention_mask"]
    assert ("token_type_ids" in names) is token_types


def test_raw_text_splits_punctuation_apart_whatever_the_pre_tokenizer() -> None:
    from ftlab.data.words import word_spans

    text = "Peter Blackburn met EU officials in Brussels on Monday."
    words = [text[s:e] for s, e in word_spans(text)]
    assert words[-2:] == ["Monday", "."]


def test_a_ner_input_may_mix_word_lists_and_raw_text_row_by_row() -> None:
    from datasets import Dataset

    from ftlab.config.compose import compose_config
    from ftlab.config.targets import build_task

    task = build_task(compose_config(["task=ner"]).task)
    rows = Dataset.from_list(
        [
            {"tokens": ["EU", "rejects", "German", "call"], "text": None},
            {"tokens": None, "text": "Peter Blackburn met officials in Brussels on Monday."},
        ]
    )
    inputs = task.prediction_inputs(rows, tokenizer=None)
    assert inputs["tokens"][0] == ["EU", "rejects", "German", "call"]
    assert inputs["tokens"][1][-3:] == ["on", "Monday", "."]
    assert inputs["offsets"][0][1] == [3, 10]  # "rejects" in the words joined by spaces
    empty = Dataset.from_list([{"tokens": ["EU"], "text": None}, {"tokens": None, "text": None}])
    with pytest.raises(FtlabError, match="input row 1 has neither a word list in 'tokens'"):
        task.prediction_inputs(empty, tokenizer=None)


def test_deberta_v3_shipped_as_a_sentencepiece_model_only_loads_fast(
    tiny_family: Callable[[str], Path], tmp_path: Path
) -> None:
    """microsoft/deberta-v3-base ships spm.model and no tokenizer.json: transformers converts
    it (sentencepiece and protobuf, ftlab's dependencies), and words encode as running text."""
    import shutil

    import sentencepiece
    from families import english_texts

    from ftlab.config.compose import compose_config
    from ftlab.training.models import load_tokenizer

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(english_texts()[:1500]), encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(tmp_path / "spm"),
        vocab_size=400,
        pad_id=0,
        bos_id=1,
        eos_id=2,
        unk_id=3,
        pad_piece="[PAD]",
        bos_piece="[CLS]",
        eos_piece="[SEP]",
        unk_piece="[UNK]",
        user_defined_symbols=["[MASK]"],
        minloglevel=2,
    )
    directory = tmp_path / "deberta"
    shutil.copytree(tiny_family("deberta-v3"), directory)
    (directory / "tokenizer.json").unlink()
    shutil.copy(tmp_path / "spm.model", directory / "spm.model")
    model = compose_config([f"model.name_or_path={directory}"]).model
    tokenizer = load_tokenizer(str(directory), model)  # fast, or ftlab would refuse it
    running = _pieces(tokenizer, tokenizer(" " + " ".join(WORDS), add_special_tokens=False))
    ours = family.encode_words(tokenizer, [WORDS], add_special_tokens=False)
    assert _pieces(tokenizer, {"input_ids": ours["input_ids"][0]}) == running
    assert "[UNK]" not in running
