"""The baseline for the overhead benchmark: a minimal, tutorial-style Trainer script doing
the same job as `python -m ftlab.run` (same model, csv data, steps, seed, max length, batch,
optimizer settings): tokenize, train, evaluate on validation, predict test, save the model.

    python benchmarks/plain_trainer.py --model DIR --data DIR --steps 30 --output DIR
"""

from __future__ import annotations

import argparse

import numpy as np
from datasets import load_dataset
from sklearn.metrics import accuracy_score
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    set_seed,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="folder with train/validation/test.csv")
    parser.add_argument("--output", required=True)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    options = parser.parse_args()

    files = {s: f"{options.data}/{s}.csv" for s in ("train", "validation", "test")}
    data = load_dataset("csv", data_files=files)
    labels = sorted(set(data["train"]["label"]))
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(options.model)

    def tokenize(batch: dict) -> dict:
        encoded = tokenizer(batch["text"], truncation=True, max_length=options.max_length)
        encoded["labels"] = [label2id[label] for label in batch["label"]]
        return encoded

    data = data.map(tokenize, batched=True, remove_columns=["text", "label"])
    set_seed(options.seed)  # before the model: its new head is initialised at random
    model = AutoModelForSequenceClassification.from_pretrained(
        options.model,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id=label2id,
    )

    def compute_metrics(prediction) -> dict:
        return {"accuracy": accuracy_score(prediction.label_ids, prediction.predictions.argmax(-1))}

    args = TrainingArguments(
        output_dir=options.output,
        max_steps=options.steps,
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=64,
        learning_rate=5e-5,
        weight_decay=0.01,
        warmup_steps=0.1,
        eval_strategy="no",
        save_strategy="no",
        logging_steps=1,
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
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
    )
    train = trainer.train()
    validation = trainer.evaluate()
    test = trainer.predict(data["test"])
    trainer.save_model(f"{options.output}/model")
    print(
        f"RESULT samples_per_second={train.metrics['train_samples_per_second']} "
        f"eval_accuracy={validation['eval_accuracy']} test_accuracy={test.metrics['test_accuracy']}"
        f" train_loss={train.metrics['train_loss']}"
    )
    np.save(f"{options.output}/test_logits.npy", test.predictions)


if __name__ == "__main__":
    main()
