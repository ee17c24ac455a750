"""One training job, start to finish, with the Hugging Face Trainer doing the training.

Reads like run_classification.py: seed -> data -> tokenizer -> tokenize -> model ->
TrainingArguments -> Trainer -> train -> evaluate -> predict -> save.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ftlab.config import config_digest, training_arguments_kwargs
from ftlab.errors import FtlabError, RunInterrupted
from ftlab.guards import check_model_fits
from ftlab.models import load_model, load_tokenizer, resolve_model_source
from ftlab.records import (
    ENV_FILE,
    METRICS_FILE,
    RANK_FILE,
    TRAIN_LOG_FILE,
    peak_memory,
    update_json,
    write_json,
)
from ftlab.resume import last_checkpoint
from ftlab.tasks import build_task
from ftlab.tracking import check_tracker_packages, wandb_run, write_summary

log = logging.getLogger(__name__)


def _record_rank(cfg: DictConfig, args: Any, run_dir: Path) -> None:
    """Each rank records what it sees (world size, config hash); rank 0 also updates env.json.

    The world size comes from the initialised process group, not from the config, so the
    record shows how many processes really trained.
    """
    launched = int(os.environ.get("WORLD_SIZE", "1"))  # set by the launcher
    if args.world_size != launched:
        raise FtlabError(
            f"this rank was started as one of {launched} processes but joined a group of "
            f"{args.world_size}; on a machine without GPUs set hardware.use_cpu=true"
        )
    write_json(
        run_dir / RANK_FILE.format(rank=args.process_index),
        {
            "rank": args.process_index,
            "local_rank": args.local_process_index,
            "world_size": args.world_size,
            "device": str(args.device),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "config_sha256": config_digest(cfg),
        },
    )
    if args.process_index != 0:
        return
    # train_batch_size is per process (per device, times the GPUs of a DataParallel process)
    effective = args.train_batch_size * args.world_size * args.gradient_accumulation_steps
    log.info(
        "effective train batch size %d = %d per process x %d processes x %d accumulation steps",
        effective,
        args.train_batch_size,
        args.world_size,
        args.gradient_accumulation_steps,
    )
    update_json(
        run_dir / ENV_FILE, world_size=args.world_size, effective_train_batch_size=effective
    )


def _early_stopping(cfg: DictConfig) -> list[Any]:
    from transformers import EarlyStoppingCallback

    patience = cfg.trainer.get("early_stopping_patience")
    if not patience:
        return []
    return [
        EarlyStoppingCallback(
            early_stopping_patience=int(patience),
            early_stopping_threshold=float(cfg.trainer.get("early_stopping_threshold") or 0.0),
        )
    ]


def _fit(
    trainer: Any,
    run_dir: Path,
    resume_from: Path | None,
    non_finite: Any,
    on_signal: Any,
) -> dict[str, float]:
    """`trainer.train()`, where Ctrl-C / SIGTERM saves a checkpoint and a NaN loss fails."""
    on_signal.install()
    try:
        output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finally:
        on_signal.uninstall()
    if non_finite.bad_step is not None:
        raise FtlabError(
            f"the training loss became NaN/inf by step {non_finite.bad_step}; stopped before "
            f"saving that state (last good checkpoint: {last_checkpoint(run_dir) or 'none'}); "
            "lower optimizer.learning_rate or check the data"
        )
    if on_signal.received is not None:
        raise RunInterrupted(on_signal.received)
    return output.metrics


def train(
    cfg: DictConfig, run_dir: Path, resume_from: Path | None = None
) -> dict[str, dict[str, float]]:
    """Train (from `resume_from`, a checkpoint, if given), evaluate on validation and test,
    save model, metrics and predictions.

    Returns {"train": ..., "validation": ..., "test": ...} with the Trainer's metric names.
    Raises FtlabError on a non-finite loss and RunInterrupted after SIGINT/SIGTERM.
    """
    task = build_task(cfg.task)
    source = resolve_model_source(cfg.model)  # fails fast offline, before any loading
    check_tracker_packages(cfg)

    from transformers import AutoConfig, TrainingArguments, set_seed

    from ftlab.callbacks import CheckpointOnSignal, StopOnNonFiniteLoss
    from ftlab.recipes import adapters, apply
    from ftlab.recipes.trainer import RecipeTrainer

    # torch warns on every DataLoader when pin_memory is on and no GPU is present
    warnings.filterwarnings("ignore", message=".*'pin_memory' argument is set as true.*")

    set_seed(int(cfg.trainer.seed))
    # Before data and model: this joins the process group of a multi-process run (so rank 0
    # can tokenize first), and DeepSpeed ZeRO-3 must be set up before the model is created.
    args = TrainingArguments(**training_arguments_kwargs(cfg, run_dir))
    _record_rank(cfg, args, run_dir)
    started = time.perf_counter()
    # rank 0 (of each machine) fills the tokenization cache; the other ranks then read it
    with args.main_process_first(desc="data and tokenization"):
        raw = task.prepare()
        tokenizer = load_tokenizer(source, cfg.model)
        check_model_fits(
            source,
            AutoConfig.from_pretrained(source, revision=cfg.model.get("revision")),
            tokenizer,
            task,
            bool(cfg.model.ignore_mismatched_sizes),
        )
        tokenized = task.tokenize(raw, tokenizer)
    data_seconds = time.perf_counter() - started

    model = load_model(source, cfg.model, task.model_class, **task.model_kwargs())
    total_steps = adapters.training_steps(len(tokenized["train"]), args)
    model = apply.prepare_model(cfg, model, task.model_class, total_steps)
    apply.record_parameters(model, run_dir, main_process=args.process_index == 0)
    # The classification heads return a mean loss and ignore `num_items_in_batch`. Left to
    # guess from `forward(**kwargs)`, the Trainer would multiply that mean by the number of
    # processes and skip dividing it by the accumulation steps: losses and gradients would
    # grow with world size and gradient_accumulation_steps (measured: 2x at either = 2).
    model.accepts_loss_kwargs = False
    non_finite, on_signal = StopOnNonFiniteLoss(), CheckpointOnSignal()
    mixed = args.bf16 or args.fp16
    # started before the Trainer, so its WandbCallback logs into this run (ftlab.tracking)
    with wandb_run(cfg, run_dir, main_process=args.process_index == 0) as tracker:
        trainer = RecipeTrainer(
            model=model,
            args=args,
            train_dataset=tokenized["train"],
            eval_dataset=tokenized["validation"],
            processing_class=tokenizer,
            data_collator=task.data_collator(tokenizer, pad_to_multiple_of=8 if mixed else None),
            compute_metrics=task.compute_metrics,
            compute_loss_func=apply.loss_function(task, tokenized["train"]),
            callbacks=[
                *_early_stopping(cfg),
                *adapters.callbacks(model, cfg.get("peft")),
                non_finite,
                on_signal,
            ],
            **apply.trainer_options(cfg, model),
        )
        log.info(
            "train %d / validation %d / test %d examples, %d labels; data ready in %.1fs",
            len(tokenized["train"]),
            len(tokenized["validation"]),
            len(tokenized["test"]),
            len(getattr(task, "label_list", [])),
            data_seconds,
        )
        train_metrics = _fit(trainer, run_dir, resume_from, non_finite, on_signal)
        train_metrics.update(peak_memory())  # peak_rss_mib (+ peak_gpu_memory_mib on a GPU)
        validation = trainer.evaluate(metric_key_prefix="eval")
        test = trainer.predict(tokenized["test"], metric_key_prefix="test")
        metrics = {"train": train_metrics, "validation": validation, "test": test.metrics}
        write_summary(tracker, metrics)

    # every rank: FSDP and DeepSpeed gather the sharded weights; only rank 0 writes them
    apply.save_models(cfg, trainer, tokenizer, run_dir)
    if trainer.is_world_process_zero():
        task.write_predictions(raw["test"], test.predictions, run_dir)
        write_json(run_dir / METRICS_FILE, metrics)
        # every logged loss / eval metric by step: the report draws learning curves from it
        write_json(run_dir / TRAIN_LOG_FILE, trainer.state.log_history)
    return metrics
