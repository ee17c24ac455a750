"""One training job, start to finish, with the Hugging Face Trainer doing the training.

Reads like run_classification.py: seed -> data -> tokenizer -> tokenize -> model ->
TrainingArguments -> Trainer -> train -> evaluate -> predict -> save.
"""

from __future__ import annotations

import gc
import logging
import warnings
from functools import cache
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ftlab.config.adapt import adapt_kind
from ftlab.config.fields import training_arguments_kwargs
from ftlab.config.targets import build_task
from ftlab.errors import FtlabError, RunInterrupted, boundary
from ftlab.models.family import config_fixes, prepare_tokenizer
from ftlab.records import (
    ADAPT_DIR,
    DECISION_FILE,
    METRICS_FILE,
    MODEL_DIR,
    TIMINGS_FILE,
    TRAIN_LOG_FILE,
    last_checkpoint,
    write_json,
)
from ftlab.tasks.outputs import first_output
from ftlab.training.evaluation import final_validation
from ftlab.training.models import (
    check_model_fits,
    check_text_is_read,
    load_model,
    load_model_config,
    load_tokenizer,
    resolve_model_source,
)
from ftlab.training.ranks import peak_memory, record_rank
from ftlab.training.tracking import check_tracker_packages, tracked_run

log = logging.getLogger(__name__)


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


@cache  # once a process: a later job of a sweep would also freeze (and keep) the earlier
# job's uncollected cycles
def _keep_imports_out_of_collections() -> None:
    """The Trainer starts training with a full garbage collection (accelerate's
    `free_memory`), which with torch and transformers imported scans about 480,000 objects:
    0.26 s a run on a 2-core CPU. What is alive before the first job of a process (the
    imported modules, mostly) lives as long as the process, so it is moved out of the
    collector's view (`gc.freeze`)."""
    gc.freeze()


def model_source(cfg: DictConfig, run_dir: Path) -> str:
    """Where the weights come from: the run's adapt stage (adapt=tapt / dapt), else the
    model config's checkpoint (a Hub id offline fails here, before any loading)."""
    if adapt_kind(cfg) == "none":
        return resolve_model_source(cfg.model)
    adapted = run_dir / ADAPT_DIR / MODEL_DIR
    if not (adapted / "config.json").exists():
        raise FtlabError(
            f"adapt={adapt_kind(cfg)}: the adapted model {adapted} is missing; "
            f"resume= the run to train its adapt stage again"
        )
    return str(adapted)


def _prepare_data(task: Any, source: str, cfg: DictConfig) -> tuple[Any, Any, Any, Any]:
    """The raw splits, the tokenizer (as its family needs it: a pad token ...), the model's
    config (checked against the task) and the tokenized splits."""
    # the model's config first: a misspelt model.config field stops before the data loads
    with boundary(f"loading the tokenizer of '{source}'", "check model.name_or_path"):
        tokenizer = load_tokenizer(source, cfg.model)
        model_config = load_model_config(source, cfg.model)
    prepare_tokenizer(tokenizer, model_config, cfg.model.get("pad_token"))
    with boundary("reading the data", "check the task's data files and columns"):
        raw = task.prepare()
    check_model_fits(source, model_config, tokenizer, task, bool(cfg.model.ignore_mismatched_sizes))
    training = bool(cfg.trainer.get("do_train", True))
    if training and len(raw["train"]) == 0:
        raise FtlabError(
            "the train split holds no examples once the data is read and cut "
            "(task.max_train_samples, task.train_samples_per_class ...); check those keys "
            "and the training data"
        )
    with boundary("tokenizing the data"):
        tokenized = task.tokenize(raw, tokenizer)
    if training:
        check_text_is_read(source, tokenizer, tokenized.splits["train"])
    return raw, tokenizer, model_config, tokenized


def train(
    cfg: DictConfig, run_dir: Path, resume_from: Path | None = None
) -> dict[str, dict[str, float]]:
    """Train (from `resume_from`, a checkpoint, if given), evaluate on validation and test,
    save model, metrics and predictions.

    Returns {"train": ..., "validation": ..., "test": ...} with the Trainer's metric names.
    Raises FtlabError on a non-finite loss, on anything outside code rejects (naming the
    stage), and RunInterrupted after SIGINT/SIGTERM.
    """
    task = build_task(cfg.task)
    source = model_source(cfg, run_dir)  # fails fast offline, before any loading
    check_tracker_packages(cfg)

    from transformers import set_seed

    from ftlab.recipes import adapters, apply, distill
    from ftlab.recipes.trainer import RecipeTrainer
    from ftlab.training.callbacks import CheckpointOnSignal, StopOnNonFiniteLoss
    from ftlab.training.timing import Timings
    from ftlab.training.trial import trial_callbacks

    # torch warns on every DataLoader when pin_memory is on and no GPU is present
    warnings.filterwarnings("ignore", message=".*'pin_memory' argument is set as true.*")

    _keep_imports_out_of_collections()
    set_seed(int(cfg.trainer.seed))
    # Before data and model: this joins the process group of a multi-process run (so rank 0
    # can tokenize first), and DeepSpeed ZeRO-3 must be set up before the model is created.
    with boundary(
        "TrainingArguments rejected the config",
        "fix the trainer / optimizer / scheduler / hardware keys it names",
    ):
        arguments, kind_fields = task.arguments_class()
        # the kind's fields, then the config's: a key the user sets wins
        args = arguments(**{**kind_fields, **training_arguments_kwargs(cfg, run_dir)})
    record_rank(cfg, args, run_dir)
    timings = Timings()  # what came before the data is start-up
    # rank 0 (of each machine) fills the tokenization cache; the other ranks then read it
    with timings.phase("data"), args.main_process_first(desc="data and tokenization"):
        raw, tokenizer, model_config, tokenized = _prepare_data(task, source, cfg)
    splits = tokenized.splits
    if args.process_index == 0:
        for name, record in tokenized.records.items():  # e.g. what truncation cut
            write_json(run_dir / name, record)

    loader = task.model_loader()
    with (
        timings.phase("model"),
        boundary(
            f"loading model '{source}'",
            "its weights may be truncated or corrupt: copy or download them again",
        ),
    ):
        model, new_modules = load_model(
            source,
            cfg.model,
            loader,
            config_fixes(model_config, tokenizer),
            **task.model_kwargs(),
            **adapters.quantized_loading(cfg.get("peft"), cfg.hardware, loader, model_config),
        )
    total_steps = adapters.training_steps(len(splits["train"]), args)
    model = apply.prepare_model(cfg, model, task.peft_task_type, total_steps, new_modules)
    apply.record_parameters(model, run_dir, main_process=args.process_index == 0)
    # The classification heads return a mean loss and ignore `num_items_in_batch`. Left to
    # guess from `forward(**kwargs)`, the Trainer would multiply that mean by the number of
    # processes and skip dividing it by the accumulation steps: losses and gradients would
    # grow with world size and gradient_accumulation_steps (measured: 2x at either = 2).
    model.accepts_loss_kwargs = False
    non_finite, on_signal = StopOnNonFiniteLoss(), CheckpointOnSignal()
    with boundary("opening the job's Optuna trial (trial.storage)", "check hydra.sweeper.storage"):
        reporters = trial_callbacks(cfg, main_process=args.process_index == 0)
    mixed = args.bf16 or args.fp16
    collator = task.data_collator(tokenizer, pad_to_multiple_of=8 if mixed else None)
    if distill.teacher_path(cfg) is not None:  # the teacher's logits: once, then cached
        with (
            timings.phase("teacher"),
            boundary("computing the teacher's outputs (distill.teacher)"),
        ):
            splits["train"], record = distill.with_teacher_outputs(
                cfg, task, tokenizer, splits["train"], args, collator
            )
        if args.process_index == 0:
            write_json(run_dir / distill.DISTILL_FILE, record)
        collator = distill.WithTeacherOutputs(collator)
    # started before the Trainer, so its W&B / MLflow callbacks log into them (tracking.py)
    with tracked_run(cfg, run_dir, main_process=args.process_index == 0) as trackers:
        with boundary("setting up the Trainer"):
            own = task.trainer_setup(model, raw, tokenizer)
            if own is None:  # ftlab's Trainer: the task's metrics and loss, the recipes
                trainer_class, options = (
                    RecipeTrainer,
                    {
                        "compute_metrics": task.compute_metrics,
                        "preprocess_logits_for_metrics": task.reduce_logits,
                        "compute_loss_func": task.loss_function(splits["train"]),
                        **apply.trainer_options(cfg, model, task),
                    },
                )
            else:  # the kind's library's Trainer: its loss and evaluator
                trainer_class, options = own
                apply.check_library_trainer(cfg, trainer_class)
            common = {
                "model": model,
                "args": args,
                "train_dataset": splits["train"],
                "eval_dataset": splits["validation"],
                "processing_class": tokenizer,
                "data_collator": collator,
                "callbacks": [
                    *_early_stopping(cfg),
                    *adapters.callbacks(model, cfg.get("peft")),
                    non_finite,
                    on_signal,
                    timings.loop,
                    *reporters,
                ],
            }
            # a kind's options may replace a common one (mined hard negatives: the train set)
            trainer = trainer_class(**{**common, **options})
        log.info(
            "train %d / validation %d / test %d examples, %d outputs; data ready in %.1fs",
            len(splits["train"]),
            len(splits["validation"]),
            len(splits["test"]),
            len(task.label_list),
            timings.seconds["data"],
        )
        if cfg.trainer.get("do_train", True):
            with timings.phase("training"), boundary("training"):
                train_metrics = _fit(trainer, run_dir, resume_from, non_finite, on_signal)
            timings.split_training()
            pruned = [r.pruned_at for r in reporters if r.pruned_at is not None]
            if pruned:  # lifecycle.py records the job as `pruned`
                train_metrics["pruned_at_step"] = pruned[0]
        else:  # the model as loaded, evaluated and saved as a run's is (a baseline)
            log.info("trainer.do_train=false: no training; the model as loaded is evaluated")
            train_metrics = {"trained": False}
        train_metrics.update(peak_memory())  # peak_rss_mib (+ peak_gpu_memory_mib on a GPU)
        with timings.phase("scoring"), boundary("evaluating"):
            validation = final_validation(trainer, task)
            task.score_split("test")  # decided as validation chose (e.g. tuned thresholds)
            test = trainer.predict(splits["test"], metric_key_prefix="test")
            decision = task.decision_record()
        validation.update(task.derived_metrics(validation, "eval"))
        test.metrics.update(task.derived_metrics(test.metrics, "test"))
        metrics = {"train": train_metrics, "validation": validation, "test": test.metrics}
        trackers.final(metrics, trainer.state.global_step)

        # every rank: FSDP and DeepSpeed gather the sharded weights; only rank 0 writes them
        with timings.phase("saving"), boundary(f"saving the model and records into {run_dir}"):
            apply.save_models(cfg, trainer, tokenizer, run_dir)
            if trainer.is_world_process_zero():
                logits = first_output(test.predictions)
                task.write_predictions(raw["test"], logits, tokenizer, run_dir)
                write_json(run_dir / METRICS_FILE, metrics)
                if decision:
                    write_json(run_dir / MODEL_DIR / DECISION_FILE, decision)
                # every logged loss / eval metric by step: the report draws learning curves
                write_json(run_dir / TRAIN_LOG_FILE, trainer.state.log_history)
        if trainer.is_world_process_zero():
            write_json(run_dir / TIMINGS_FILE, timings.finish())
            log.info("seconds: %s", timings.summary())
        with boundary("logging the run's records to MLflow", "check logger.mlflow"):
            trackers.records(run_dir, task.shown_examples())
    return metrics
