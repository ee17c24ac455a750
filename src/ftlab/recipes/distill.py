"""Knowledge distillation (Hinton et al., 2015): `distill.teacher=RUN_DIR` trains the
configured (smaller) model on `alpha` x its usual loss + (1 - alpha) x T² x the divergence
of its temperature-T outputs from the teacher run's.

The teacher's logits over the training split are computed once, before training, by the
Trainer's own prediction loop (every process taking part), and cached on disk by the
teacher's weights and the tokenized data, so a resumed or repeated run reads them back.
They travel with each training batch as a column; `RecipeTrainer.compute_loss` adds the
term. Evaluation losses and metrics stay the usual ones, so the best checkpoint is chosen
as without a teacher. What a kind's logits mean (softmax over labels or tags, independent
sigmoids) the task says (`Task.soft_targets`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ftlab.config.types import check_value
from ftlab.errors import FtlabError, did_you_mean
from ftlab.records import CONFIG_FILE, METRICS_FILE, MODEL_DIR, STATUS_FILE, read_json
from ftlab.tasks.alignment import IGNORE

log = logging.getLogger(__name__)

DISTILL_KEYS: dict[str, Any] = {"teacher": str | None, "alpha": float, "temperature": float}
TEACHER_COLUMN = "teacher_logits"
DISTILL_FILE = "distill.json"
MERGED_DIR = "model-merged"  # a peft teacher's adapter folded into its weights


def teacher_path(cfg: DictConfig) -> Path | None:
    teacher = (cfg.get("distill") or {}).get("teacher")
    return Path(str(teacher)).expanduser() if teacher else None


def check_distill(cfg: DictConfig, task: Any) -> None:
    """The `distill.*` keys and the teacher run, before anything loads."""
    section = cfg.get("distill") or {}
    for key in section:
        if key not in DISTILL_KEYS:
            raise FtlabError(
                f"unknown config key 'distill.{key}': {did_you_mean(key, DISTILL_KEYS)}"
            )
        check_value(f"distill.{key}", section[key], DISTILL_KEYS[key])
    teacher = teacher_path(cfg)
    if teacher is None:
        return
    if task.soft_targets() is None:
        raise FtlabError(
            f"distill.teacher: {type(task).__name__} tasks cannot be distilled "
            "(classification, multi-label and NER can); drop distill.teacher"
        )
    if not 0 <= float(section.alpha) <= 1:
        raise FtlabError(
            f"distill.alpha (the weight of the label loss) must be between 0 and 1, "
            f"got {section.alpha!r}"
        )
    if not float(section.temperature) > 0:
        raise FtlabError(f"distill.temperature must be above 0, got {section.temperature!r}")
    teacher_model_dir(teacher)  # a finished run with a full model
    teacher_cfg = OmegaConf.load(teacher / CONFIG_FILE)
    if teacher_cfg.task.get("_target_") != cfg.task.get("_target_"):
        raise FtlabError(
            f"distill.teacher={teacher} was trained on task={teacher_cfg.task.name}, a "
            f"different kind of task than task={cfg.task.name}; use a teacher run of this task"
        )


def teacher_model_dir(teacher: Path) -> Path:
    """The teacher run's full model (a peft run's merged one); a one-line error if the run
    is not finished or kept only an adapter."""
    if not (teacher / CONFIG_FILE).is_file():
        raise FtlabError(f"distill.teacher={teacher}: not a run directory (no {CONFIG_FILE})")
    status = (read_json(teacher / STATUS_FILE) if (teacher / STATUS_FILE).is_file() else {}).get(
        "status"
    )
    if status != "completed":
        raise FtlabError(
            f"distill.teacher={teacher}: the run is {status or 'without a status'}, not "
            "completed; finish it first (resume=RUN_DIR)"
        )
    for name in (MERGED_DIR, MODEL_DIR):
        if (teacher / name / "config.json").is_file():
            return teacher / name
    raise FtlabError(
        f"distill.teacher={teacher}: the run saved a peft adapter, not a full model; train "
        "the teacher with peft.merge=true (its model-merged/ is used)"
    )


@dataclass
class Distiller:
    """The teacher term of the loss: T² x KL(teacher ‖ student) per scored item."""

    alpha: float
    temperature: float
    targets: str  # "softmax" or "sigmoid" (Task.soft_targets)

    def divergence(self, student: Any, teacher: Any, labels: Any) -> tuple[Any, Any]:
        """(sum over the scored items, their number): the items are examples, labels of a
        multi-label example, or the word pieces NER scores (labels != -100)."""
        import torch
        import torch.nn.functional as F

        t = self.temperature
        s = student.float() / t
        q = teacher.to(student.device).float() / t
        if self.targets == "softmax":
            per_item = F.kl_div(
                F.log_softmax(s, dim=-1),
                F.log_softmax(q, dim=-1),
                reduction="none",
                log_target=True,
            ).sum(dim=-1)
        else:  # independent labels: the Bernoulli KL of each
            target = torch.sigmoid(q)
            per_item = F.binary_cross_entropy_with_logits(
                s, target, reduction="none"
            ) - F.binary_cross_entropy_with_logits(q, target, reduction="none")
        scored = (
            labels.ne(IGNORE)
            if labels is not None and labels.shape == per_item.shape
            else torch.ones_like(per_item, dtype=torch.bool)
        )
        return (per_item * scored).sum() * t * t, scored.sum()


def distiller(cfg: DictConfig, task: Any) -> Distiller | None:
    if teacher_path(cfg) is None:
        return None
    return Distiller(float(cfg.distill.alpha), float(cfg.distill.temperature), task.soft_targets())


def _check_teacher_fits(model_dir: Path, task: Any, tokenizer: Any) -> None:
    """Same labels in the same order, and the student's tokenizer (the teacher reads the
    student's token ids)."""
    from transformers import AutoConfig, AutoTokenizer

    id2label = AutoConfig.from_pretrained(model_dir).id2label
    labels = [id2label[i] for i in range(len(id2label))]
    if labels != list(task.label_list):
        raise FtlabError(
            f"distill.teacher: its model's labels {labels} differ from this task's "
            f"{list(task.label_list)}; use a teacher trained on the same label set"
        )
    if AutoTokenizer.from_pretrained(model_dir).get_vocab() != tokenizer.get_vocab():
        raise FtlabError(
            "distill.teacher: its tokenizer differs from the model's; distil into a model "
            "with the teacher's tokenizer (e.g. its checkpoint with "
            "model.config.num_hidden_layers=2)"
        )


def _cache_path(model_dir: Path, train: Any) -> Path:
    from datasets.fingerprint import Hasher

    from ftlab.data.cache import cache_dir

    weights = sorted(
        (f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in model_dir.iterdir() if f.is_file()
    )
    key = Hasher.hash([str(model_dir.resolve()), weights])
    return cache_dir() / f"teacher-{train._fingerprint}-{key}.arrow"


def _predict(model_dir: Path, task: Any, train: Any, args: Any, collator: Any) -> list[Any]:
    """The teacher's logits per training example (token logits cut to each one's length)."""
    import transformers

    from ftlab.recipes.eval_order import LengthSortedEvaluation
    from ftlab.tasks.outputs import first_output

    teacher = getattr(transformers, task.model_class).from_pretrained(
        model_dir, use_safetensors=True
    )
    # eval_dataset: the student's evaluation settings (eval_strategy) must find one here too;
    # the rows' order comes back whatever the student's sampling (the Trainer's own
    # evaluation would group rows by length at random under group_by_length, unsorted)
    trainer = LengthSortedEvaluation(
        model=teacher, args=args, data_collator=collator, eval_dataset=train
    )
    for callback in list(trainer.callback_handler.callbacks):  # no tracker sees this pass
        trainer.remove_callback(type(callback))
    logits = first_output(trainer.predict(train).predictions)
    if logits.ndim == 2:
        return list(logits)
    return [row[: len(ids)] for row, ids in zip(logits, train["input_ids"], strict=True)]


def with_teacher_outputs(
    cfg: DictConfig, task: Any, tokenizer: Any, train: Any, args: Any, collator: Any
) -> tuple[Any, dict[str, Any]]:
    """`train` with the teacher's logits as a column, and what distill.json records."""
    teacher = teacher_path(cfg)
    assert teacher is not None
    model_dir = teacher_model_dir(teacher)
    _check_teacher_fits(model_dir, task, tokenizer)
    path = _cache_path(model_dir, train)
    cached = path.exists()  # every process decides before any writes it
    started = time.perf_counter()
    logits = None if cached else _predict(model_dir, task, train, args, collator)
    with args.main_process_first(desc="teacher outputs"):
        train = train.map(
            lambda _, index: {TEACHER_COLUMN: logits[index]},
            with_indices=True,
            cache_file_name=str(path),
            load_from_cache_file=True,
            new_fingerprint=path.stem,
            desc="teacher outputs",
        )
    seconds = time.perf_counter() - started
    log.info(
        "distill: teacher %s, outputs for %d training examples %s in %.1fs",
        model_dir,
        len(train),
        "read from the cache" if cached else "computed",
        seconds,
    )
    teacher_metrics = (
        read_json(teacher / METRICS_FILE) if (teacher / METRICS_FILE).is_file() else {}
    )
    record = {
        "teacher": str(teacher.resolve()),
        "teacher_model": str(model_dir.resolve()),
        "teacher_test_metrics": teacher_metrics.get("test", {}),
        "alpha": float(cfg.distill.alpha),
        "temperature": float(cfg.distill.temperature),
        "soft_targets": task.soft_targets(),
        "teacher_outputs": "cached" if cached else "computed",
        "teacher_outputs_seconds": round(seconds, 2),
    }
    return train, record


class WithTeacherOutputs:
    """The task's collator, plus the teacher's logits of each example padded to the batch's
    length (token logits; padding positions are never scored)."""

    def __init__(self, collator: Any) -> None:
        self.collator = collator

    def __call__(self, features: list[dict[str, Any]]) -> Any:
        if TEACHER_COLUMN not in features[0]:  # evaluation batches
            return self.collator(features)
        import torch

        teacher = [torch.as_tensor(f[TEACHER_COLUMN], dtype=torch.float32) for f in features]
        batch = self.collator(
            [{k: v for k, v in f.items() if k != TEACHER_COLUMN} for f in features]
        )
        if teacher[0].dim() == 2:
            length = batch["input_ids"].shape[1]
            padded = torch.zeros(len(teacher), length, teacher[0].shape[-1])
            for row, logits in enumerate(teacher):
                padded[row, : len(logits)] = logits
            batch[TEACHER_COLUMN] = padded
        else:
            batch[TEACHER_COLUMN] = torch.stack(teacher)
        return batch
