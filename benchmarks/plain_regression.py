"""The baseline for ftlab's regression kind: a plain, tutorial-style Trainer script (as Hugging
Face's run_glue.py does STS-B) on csv files with `text` and a float `label` column: one
output, problem_type=regression, evaluation and a checkpoint each epoch, the best by
validation Pearson loaded at the end, then the test set scored.

    python benchmarks/plain_regression.py --model DIR --data DIR --output DIR [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from datasets import load_dataset
from scipy.stats import pearsonr, spearmanr
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    set_seed,
)


def main() -> None:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True, help="folder with train/validation/test.csv")
    parser.add_argument("--output", required=True)
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    options = parser.parse_args()

    files = {s: f"{options.data}/{s}.csv" for s in ("train", "validation", "test")}
    data = load_dataset("csv", data_files=files)
    tokenizer = AutoTokenizer.from_pretrained(options.model)

    def tokenize(batch: dict) -> dict:
        encoded = tokenizer(batch["text"], truncation=True, max_length=options.max_length)
        encoded["labels"] = [float(v) for v in batch["label"]]
        return encoded

    data = data.map(tokenize, batched=True, remove_columns=["text", "label"])
    set_seed(options.seed)  # before the model: its new head is initialised at random
    model = AutoModelForSequenceClassification.from_pretrained(
        options.model, num_labels=1, problem_type="regression"
    )

    def compute_metrics(prediction) -> dict:
        scores, gold = prediction.predictions.reshape(-1), prediction.label_ids
        return {
            "pearson": float(pearsonr(gold, scores).statistic),
            "spearman": float(spearmanr(gold, scores).statistic),
            "mse": float(np.mean((scores - gold) ** 2)),
        }

    args = TrainingArguments(
        output_dir=options.output,
        num_train_epochs=options.epochs,
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=64,
        learning_rate=options.learning_rate,
        weight_decay=0.01,
        warmup_steps=0.1,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="pearson",
        logging_steps=50,
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
    trainer.train()
    validation = trainer.evaluate()
    test = trainer.predict(data["test"]).metrics
    trainer.save_model(f"{options.output}/model")
    result = {**validation, **test, "wall_seconds": time.perf_counter() - started}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
