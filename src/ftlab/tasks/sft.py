"""Supervised fine-tuning of a causal LM (GPT-style decoder) on dialogues: question /
answer pairs or multi-turn chats, for customer service and the like.

Trained by TRL's `SFTTrainer` (a `transformers.Trainer` subclass, so TrainingArguments
keys, trackers, resume, multi-process launch, sweeps and peft work as for every kind). The
data, in any of the layouts of conversations.py, becomes chat messages rendered by the
model's chat template (or a named one); the loss is on the assistant's answers only, their
end-of-turn token included (`answers_only=false`: on every token). Conversations longer
than `max_seq_length` keep their start: an answer's tail is cut, and a conversation whose
prompt alone fills the length is dropped; both are counted in sft_tokens.json. `packing`
puts several conversations in one row (TRL's best-fit packing, each example attending only
to itself). Scored by validation loss, perplexity and token accuracy, and on the test
split by ROUGE-1/2/L and BLEU of generated replies. Defaults: sft.yaml beside this file.
"""

from __future__ import annotations

import json
import logging
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from datasets import Dataset, DatasetDict

from ftlab.config.types import check_value
from ftlab.data.cache import cached_map
from ftlab.data.columns import rows_in_memory
from ftlab.errors import FtlabError
from ftlab.tasks.alignment import IGNORE
from ftlab.tasks.base import AnswerOptions, OutputContext, Task, Tokenized, require_columns
from ftlab.tasks.conversations import (
    LAYOUTS,
    Messages,
    check_conversation,
    conversations,
    detect_layout,
    layout_columns,
    split_last_answer,
    training_template,
    use_chat_template,
)
from ftlab.tasks.generation import GenerationSettings, end_of_turn_ids, generate_replies
from ftlab.tasks.outputs import perplexity

TOKENS_FILE = "sft_tokens.json"  # per split: conversations, answers cut, prompts too long
PREDICTIONS_FILE = "predictions.jsonl"  # the test conversations' generated replies
MESSAGES = "messages"  # the one column every layout becomes
REFERENCE = "reference"  # ftlab.predict: the answer an input conversation ends with
SHOWN = 20  # test replies in the trackers' table

log = logging.getLogger(__name__)


@dataclass
class SupervisedFineTuningTask(Task):
    """Conversations in `data_format` (auto: by the columns) -> answer-only SFT."""

    data_format: str = "auto"
    messages_column: str = "messages"
    prompt_column: str = "prompt"
    completion_column: str = "completion"
    system_prompt: str | None = None  # put first where a conversation has no system turn
    chat_template: str | None = None  # a template ftlab ships (plain) or a .jinja file
    answers_only: bool = True  # the loss on the assistant's turns; false: on every token
    packing: bool = False
    max_seq_length: int = 512
    generate_samples: int | None = 100  # test conversations answered for ROUGE / BLEU
    generation_batch_size: int = 16
    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    main_metric: str = "loss"

    model_class: ClassVar[str] = "AutoModelForCausalLM"
    peft_task_type: ClassVar[str | None] = "CAUSAL_LM"
    # what an evaluation reports beside its loss (TRL measures them in the loss's pass)
    metrics: ClassVar[frozenset[str]] = frozenset({"mean_token_accuracy", "entropy"})
    minimized: ClassVar[frozenset[str]] = frozenset({"loss", "perplexity", "entropy"})
    csv_predictions: ClassVar[bool] = False  # a conversation is a nested record
    generates: ClassVar[bool] = True
    endpoint: ClassVar[str | None] = "chat"

    def check(self) -> None:
        super().check()
        if self.data_format not in LAYOUTS:
            raise FtlabError(
                f"task.data_format={self.data_format}: use one of {', '.join(LAYOUTS)}"
            )
        for key in ("generation_batch_size", "max_new_tokens"):
            if getattr(self, key) <= 0:
                raise FtlabError(f"task.{key} must be above 0, got {getattr(self, key)!r}")
        if self.generate_samples is not None and self.generate_samples < 0:
            raise FtlabError(
                f"task.generate_samples must be 0 or more (null: every test conversation), "
                f"got {self.generate_samples!r}"
            )
        if not self.temperature > 0 or not 0 < self.top_p <= 1:
            raise FtlabError(
                f"task.temperature must be above 0 and task.top_p in (0, 1], got "
                f"{self.temperature!r} and {self.top_p!r}"
            )

    @property
    def columns(self) -> tuple[str, str, str]:
        return self.messages_column, self.prompt_column, self.completion_column

    def layout(self, split: Dataset) -> str:
        if self.data_format != "auto":
            return self.data_format
        return detect_layout(split.column_names, self.messages_column, self.prompt_column)

    @property
    def generation(self) -> GenerationSettings:
        return GenerationSettings(self.max_new_tokens, self.do_sample, self.temperature, self.top_p)

    # -- data -------------------------------------------------------------------------
    def check_split(self, split_name: str, split: Dataset) -> None:
        layout = self.layout(split)
        option = f"task.data_format={layout}"
        require_columns(split, layout_columns(layout, *self.columns), f"{split_name} data", option)

    def annotate_split(self, split_name: str, split: Dataset) -> Dataset:
        """The split as one column of checked chat messages (every layout alike)."""
        chats = conversations(
            split, self.layout(split), self.columns, self.system_prompt, f"{split_name} data"
        )
        return Dataset.from_dict({MESSAGES: chats})

    def prepare(self) -> DatasetDict:
        return self.cut_to_size(self.load_splits({}))

    def texts(self, split: Dataset) -> list[str]:
        return ["\n".join(turn["content"] for turn in chat) for chat in split[MESSAGES]]

    def model_kwargs(self) -> dict[str, Any]:
        return {}  # the checkpoint's own LM head

    # -- tokenization -----------------------------------------------------------------
    def encode(self, tokenizer: Any, rows: Any) -> Any:
        """Each conversation's token ids and labels (-100 where no loss is taken)."""
        template = training_template(tokenizer) if self.answers_only else None
        return _encoded(tokenizer, rows[MESSAGES], template, self.answers_only)

    def tokenize(self, splits: DatasetDict, tokenizer: Any) -> Tokenized:
        """Token ids and answer-only labels per conversation (cached), cut to max_seq_length
        from the end; what was cut or dropped is recorded (sft_tokens.json) and logged."""
        use_chat_template(tokenizer, self.chat_template, tokenizer.name_or_path)
        limit, answers_only = self.max_seq_length, self.answers_only
        template = training_template(tokenizer) if answers_only else None  # once, not per batch

        def tokenized(batch: dict[str, list]) -> dict[str, list]:
            encoded = _encoded(tokenizer, batch[MESSAGES], template, answers_only)
            cut = [len(ids) > limit for ids in encoded["input_ids"]]
            ids = [row[:limit] for row in encoded["input_ids"]]
            labels = [row[:limit] for row in encoded["labels"]]
            return {"input_ids": ids, "labels": labels, "cut": cut}

        settings = ("sft", limit, self.answers_only, tokenizer.chat_template)
        splits = cached_map(splits, tokenized, *settings)
        record: dict[str, Any] = {"max_seq_length": limit, "answers_only": self.answers_only}
        if answers_only and template is None:
            record["answers_trained"] = "last"  # TRL has no marked version of this template
            log.warning(
                "the chat template marks no answers and TRL knows no training version of it: "
                "the loss is on each conversation's last answer only"
            )
        kept = {}
        for name, split in splits.items():
            answered = [any(label != IGNORE for label in row) for row in split["labels"]]
            cut = sum(split["cut"])
            dropped = answered.count(False)
            record[name] = {
                "conversations": len(split),
                "answers_cut": cut - dropped,
                "dropped_prompt_too_long": dropped,
            }
            if cut:
                log.warning(
                    "%s: %d of %d conversations are longer than task.max_seq_length=%d: %d "
                    "answers cut short, %d dropped (their prompt alone fills the length)",
                    name, cut, len(split), limit, cut - dropped, dropped,
                )  # fmt: skip
            kept[name] = split.select(np.flatnonzero(answered)).remove_columns("cut")
        return Tokenized(DatasetDict(kept), records={TOKENS_FILE: record})

    def data_collator(self, tokenizer: Any, pad_to_multiple_of: int | None = None) -> Any:
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        return DataCollatorForLanguageModeling(
            pad_token_id=tokenizer.pad_token_id, pad_to_multiple_of=pad_to_multiple_of
        )

    # -- the trainer ------------------------------------------------------------------
    def arguments_class(self) -> tuple[type, dict[str, Any]]:
        """TRL's SFTConfig with the kind's settings. Where TRL's defaults differ from
        TrainingArguments' (learning rate, bf16, gradient checkpointing, logging steps),
        TrainingArguments' are given, so a key the config leaves out means the same as for
        every other kind; the config's own keys win."""
        import dataclasses

        from transformers import TrainingArguments
        from trl import SFTConfig

        base = {f.name: f for f in dataclasses.fields(TrainingArguments)}
        fields = {
            f.name: _default(base[f.name])
            for f in dataclasses.fields(SFTConfig)
            if f.name in base and _default(f) != _default(base[f.name])
        }
        fields.update(
            max_length=self.max_seq_length,
            packing=self.packing,
            packing_strategy="bfd",  # whole conversations, each attending to itself only
            eval_packing=False,  # validation loss per conversation, packed run or not
            # the splits come tokenized, labelled and cut (tokenize); TRL only packs them
            dataset_kwargs={"skip_prepare_dataset": not self.packing},
            prediction_loss_only=True,  # TRL's fused head builds no logits to keep
        )
        return SFTConfig, fields

    def trainer_setup(self, model: Any, raw: DatasetDict, tokenizer: Any) -> tuple[type, dict]:
        """TRL's trainer (its collator: padding, or packing without padding), scoring the
        test split's replies; the model stops generating at the template's end of turn."""
        from ftlab.tasks.sft_trainer import ScoringSFTTrainer

        model.generation_config.eos_token_id = end_of_turn_ids(tokenizer)
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        test = raw["test"]
        if self.generate_samples is not None:
            test = test.select(range(min(self.generate_samples, len(test))))
        chats = list(test[MESSAGES])

        def scores(trained: Any) -> dict[str, float]:
            return self.generation_scores(trained, tokenizer, chats)

        return ScoringSFTTrainer, {"data_collator": None, "generation_scores": scores}

    def generation_scores(
        self, model: Any, tokenizer: Any, chats: list[Messages]
    ) -> dict[str, float]:
        """ROUGE-1/2/L and BLEU of the model's replies to `chats` (each without its last
        answer) against those answers; the replies are kept for predictions.jsonl."""
        if not chats:
            return {}
        prompts, references = zip(*(split_last_answer(chat) for chat in chats), strict=True)
        replies = generate_replies(
            model, tokenizer, list(prompts), self.generation, self.generation_batch_size
        )
        self._generated = [
            {MESSAGES: prompt, REFERENCE: reference, "reply": reply}
            for prompt, reference, reply in zip(prompts, references, replies, strict=True)
        ]
        return text_scores(replies, list(references))

    def shown_examples(self) -> list[dict[str, str]]:
        """The first SHOWN test replies with their prompt's last turn and reference."""
        return [
            {
                "prompt": row[MESSAGES][-1]["content"],
                REFERENCE: row[REFERENCE],
                "reply": row["reply"],
            }
            for row in getattr(self, "_generated", [])[:SHOWN]
        ]

    def compute_metrics(self, eval_prediction: Any) -> dict[str, float]:
        return {}  # TRL measures token accuracy in the loss's pass; replies score at test

    def derived_metrics(self, metrics: dict[str, float], prefix: str) -> dict[str, float]:
        """`<prefix>_perplexity` = exp(`<prefix>_loss`), per answer token."""
        return perplexity(metrics, prefix)

    def decode(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise FtlabError("a generating run's outputs are replies (model.generate), not logits")

    def exported_model(self, model: Any) -> Any:
        raise FtlabError(
            "ftlab.export writes one forward pass as ONNX; a dialogue (sft) run answers by "
            "generating, token by token: serve it with ftlab.serve, or ftlab.predict it"
        )

    def write_predictions(
        self, raw: Dataset, logits: np.ndarray, tokenizer: Any, run_dir: Path
    ) -> None:
        """The test conversations with their reference and generated answers."""
        rows = getattr(self, "_generated", [])
        with open(run_dir / PREDICTIONS_FILE, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    # -- prediction time: replies -----------------------------------------------------
    @property
    def input_text_column(self) -> str:
        return self.prompt_column

    def use_generation(self, settings: dict[str, Any]) -> None:
        """max_new_tokens, do_sample, temperature, top_p: this prediction's, checked."""
        hints = typing.get_type_hints(type(self))
        for key, value in settings.items():
            check_value(f"generation.{key}", value, hints[key])
            setattr(self, key, value)
        self.check()

    def prediction_inputs(self, rows: Dataset, tokenizer: Any) -> Dataset:
        """Conversations to answer: a `messages_column` of turns (one ending with an answer
        is scored against it), or a question in `prompt_column` (with its answer in
        `completion_column`, if given)."""
        if self.messages_column in rows.column_names:
            chats = conversations(
                rows, "messages", self.columns, self.system_prompt, "the input",
                needs_answer=False,
            )  # fmt: skip
        elif self.prompt_column in rows.column_names:
            chats = []
            for index, row in enumerate(rows):
                chat = [{"role": "user", "content": row[self.prompt_column]}]
                if row.get(self.completion_column) is not None:
                    chat.append({"role": "assistant", "content": row[self.completion_column]})
                if self.system_prompt:
                    chat.insert(0, {"role": "system", "content": self.system_prompt})
                check_conversation(chat, f"the input, row {index}", needs_answer=False)
                chats.append(chat)
        else:
            raise FtlabError(
                f"the input has neither a '{self.messages_column}' column of chat turns "
                f"nor a '{self.prompt_column}' column of questions; its columns are: "
                f"{', '.join(rows.column_names)}"
            )
        prompts, references = [], []
        for chat in chats:
            answered = chat[-1]["role"] == "assistant"
            prompts.append(chat[:-1] if answered else chat)
            references.append(chat[-1]["content"] if answered else None)
        return rows_in_memory({MESSAGES: prompts, REFERENCE: references})

    def model_outputs(
        self, model: Any, inputs: Dataset, context: OutputContext
    ) -> list[np.ndarray]:
        """Each conversation's generated reply (a 0-d text array)."""
        replies = generate_replies(
            model,
            context.tokenizer,
            list(inputs[MESSAGES]),
            self.generation,
            context.batch_size,
            context.progress,
        )
        return [np.array(reply) for reply in replies]

    def example_outputs(
        self, logits: np.ndarray, encoded: Any, inputs: Dataset, tokenizer: Any
    ) -> list[np.ndarray]:
        raise FtlabError("a generating run's outputs come from model.generate, not logits")

    def prediction_records(
        self, inputs: Dataset, outputs: list[np.ndarray], tokenizer: Any
    ) -> list[dict]:
        records = []
        for row, reply in zip(inputs, outputs, strict=True):
            record = {MESSAGES: row[MESSAGES], "reply": str(reply)}
            if row[REFERENCE] is not None:
                record[REFERENCE] = row[REFERENCE]
            records.append(record)
        return records

    def served_inputs(self, inputs: list[Any]) -> Dataset:
        """Questions (texts) and conversations (lists of turns), each as one conversation."""
        chats = [[{"role": "user", "content": i}] if isinstance(i, str) else i for i in inputs]
        return rows_in_memory({self.messages_column: chats})

    def served(self, record: dict, options: AnswerOptions) -> Any:
        return {"reply": record["reply"]}

    def prediction_gold(self, inputs: Dataset) -> list | None:
        references = list(inputs[REFERENCE])
        return references if any(r is not None for r in references) else None

    def prediction_scores(self, outputs: list[np.ndarray], gold: list) -> dict[str, float]:
        pairs = [(str(o), g) for o, g in zip(outputs, gold, strict=True) if g is not None]
        return text_scores([o for o, _ in pairs], [g for _, g in pairs])


def text_scores(replies: list[str], references: list[str]) -> dict[str, float]:
    """ROUGE-1/2/L (F-measure, CJK per character) and corpus BLEU of replies."""
    from ftlab.metrics import load_metric

    rouge = load_metric("rouge").compute(predictions=replies, references=references)
    bleu = load_metric("bleu").compute(predictions=replies, references=references)
    return {**{k: float(v) for k, v in rouge.items()}, "bleu": float(bleu["bleu"])}


def _default(field: Any) -> Any:
    import dataclasses

    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _encoded(
    tokenizer: Any, chats: list[Messages], template: str | None, answers_only: bool
) -> dict[str, list]:
    pairs = [_labelled(tokenizer, chat, template, answers_only) for chat in chats]
    return {"input_ids": [ids for ids, _ in pairs], "labels": [labels for _, labels in pairs]}


def _labelled(
    tokenizer: Any, chat: Messages, template: str | None, answers_only: bool
) -> tuple[list[int], list[int]]:
    """A conversation's token ids, and its labels: the ids where the loss is taken, -100
    elsewhere. Answers only: the tokens the training `template` marks as the assistant's
    (their end-of-turn token included); without one, those after the last prompt."""
    render = {"tokenize": True, "return_dict": True}
    if not answers_only:
        ids = list(tokenizer.apply_chat_template(chat, **render)["input_ids"])
        return ids, list(ids)
    if template is not None:
        out = tokenizer.apply_chat_template(
            chat, chat_template=template, return_assistant_tokens_mask=True, **render
        )
        ids = list(out["input_ids"])
        return ids, [t if m else IGNORE for t, m in zip(ids, out["assistant_masks"], strict=True)]
    from trl.data_utils import common_prefix_length

    prompt, _ = split_last_answer(chat)
    prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, **render)
    ids = list(tokenizer.apply_chat_template(chat, **render)["input_ids"])
    start = common_prefix_length(list(prompt_ids["input_ids"]), ids)
    return ids, [IGNORE] * start + ids[start:]
