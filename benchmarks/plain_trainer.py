"""The baseline ftlab is measured against: a minimal, tutorial-style Trainer script doing the
same job as `python -m ftlab.run` (same model, data, steps or epochs, seed, max length,
batch, optimizer settings): tokenize, train, evaluate on validation, predict test, save the
model. Classification reads csv files (text, label); NER reads CoNLL files (token ... tag)
and is scored by seqeval, as run_ner.py does. Prints one RESULT line: metrics and the
seconds of each phase.

    python benchmarks/plain_trainer.py --model DIR --data DIR --steps 30 --output DIR
    python benchmarks/plain_trainer.py --task ner --model DIR --data DIR --epochs 1 \
        --max-length 128 --batch-size 32 --learning-rate 1e-4 --output DIR
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import psutil

STARTED = psutil.Process().create_time()

import numpy as np  # noqa: E402  (imports are part of the start-up being timed)
from datasets import Dataset, DatasetDict, load_dataset  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    set_seed,
)


def classification_data(options: argparse.Namespace, tokenizer) -> tuple[DatasetDict, list]:
    files = {s: f"{options.data}/{s}.csv" for s in ("train", "validation", "test")}
    data = load_dataset("csv", data_files=files)
    labels = sorted(set(data["train"]["label"]))
    label2id = {label: i for i, label in enumerate(labels)}

    def tokenize(batch: dict) -> dict:
        encoded = tokenizer(batch["text"], truncation=True, max_length=options.max_length)
        encoded["labels"] = [label2id[label] for label in batch["label"]]
        return encoded

    return data.map(tokenize, batched=True, remove_columns=["text", "label"]), labels


def read_conll(path: Path) -> dict[str, list]:
    """Sentences of a CoNLL-2003 file: the first column and the last, blank lines between."""
    sentences, tags, tokens, labels = [], [], [], []
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if line.strip() and not line.startswith("-DOCSTART-"):
            fields = line.split()
            tokens.append(fields[0])
            labels.append(fields[-1])
        elif tokens:
            sentences.append(tokens)
            tags.append(labels)
            tokens, labels = [], []
    return {"tokens": sentences, "tags": tags}


def ner_data(options: argparse.Namespace, tokenizer) -> tuple[DatasetDict, list]:
    files = {"train": "train.txt", "validation": "valid.txt", "test": "test.txt"}
    raw = {s: read_conll(Path(options.data) / name) for s, name in files.items()}
    labels = sorted({tag for sentence in raw["train"]["tags"] for tag in sentence})
    label2id = {label: i for i, label in enumerate(labels)}

    def tokenize(batch: dict) -> dict:
        encoded = tokenizer(
            batch["tokens"],
            is_split_into_words=True,
            truncation=True,
            max_length=options.max_length,
        )
        encoded["labels"] = []
        for i, tags in enumerate(batch["tags"]):
            previous, row = None, []
            for word in encoded.word_ids(i):  # each word's first piece carries its tag
                row.append(-100 if word is None or word == previous else label2id[tags[word]])
                previous = word
            encoded["labels"].append(row)
        return encoded

    data = DatasetDict({s: Dataset.from_dict(columns) for s, columns in raw.items()})
    return data.map(tokenize, batched=True, remove_columns=["tokens", "tags"]), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["classification", "ner"], default="classification")
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="folder with the train/validation/test")
    parser.add_argument("--output", required=True)
    parser.add_argument("--steps", type=int, default=-1, help="optimizer steps (or --epochs)")
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=42)
    options = parser.parse_args()
    phases = {"startup": time.time() - STARTED}

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(options.model)
    ner = options.task == "ner"
    data, labels = (ner_data if ner else classification_data)(options, tokenizer)
    phases["data"] = time.perf_counter() - started

    started = time.perf_counter()
    set_seed(options.seed)  # before the model: its new head is initialised at random
    model_class = AutoModelForTokenClassification if ner else AutoModelForSequenceClassification
    model = model_class.from_pretrained(
        options.model,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    phases["model"] = time.perf_counter() - started

    def compute_metrics(prediction) -> dict:
        predicted = prediction.predictions.argmax(-1)
        if not ner:
            return {"accuracy": accuracy_score(prediction.label_ids, predicted)}
        from seqeval.metrics import f1_score

        kept = [
            [(labels[p], labels[g]) for p, g in zip(row, gold, strict=True) if g != -100]
            for row, gold in zip(predicted, prediction.label_ids, strict=True)
        ]
        return {
            "f1": f1_score(
                [[g for _, g in row] for row in kept], [[p for p, _ in row] for row in kept]
            )
        }

    args = TrainingArguments(
        output_dir=options.output,
        max_steps=options.steps,
        num_train_epochs=options.epochs,
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=64,
        learning_rate=options.learning_rate,
        weight_decay=0.01,
        warmup_steps=0.1,
        eval_strategy="no",
        save_strategy="no",
        logging_steps=1 if options.steps > 0 else 50,
        seed=options.seed,
        use_cpu=True,
        disable_tqdm=True,
        report_to="none",
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=data["train"],
        eval_dataset=data["validation"],
        processing_class=tokenizer,
        data_collator=(DataCollatorForTokenClassification if ner else DataCollatorWithPadding)(
            tokenizer
        ),
        compute_metrics=compute_metrics,
    )
    started = time.perf_counter()
    train = trainer.train()
    phases["training"] = time.perf_counter() - started
    started = time.perf_counter()
    validation = trainer.evaluate()
    test = trainer.predict(data["test"])
    phases["scoring"] = time.perf_counter() - started
    started = time.perf_counter()
    trainer.save_model(f"{options.output}/model")
    np.save(f"{options.output}/test_logits.npy", test.predictions)
    phases["saving"] = time.perf_counter() - started
    metric = "f1" if ner else "accuracy"
    print(
        f"RESULT samples_per_second={train.metrics['train_samples_per_second']} "
        f"eval_{metric}={validation[f'eval_{metric}']} "
        f"test_{metric}={test.metrics[f'test_{metric}']} train_loss={train.metrics['train_loss']} "
        + " ".join(f"seconds_{name}={value:.2f}" for name, value in phases.items())
    )


if __name__ == "__main__":
    main()
