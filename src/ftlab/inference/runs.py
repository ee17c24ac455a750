"""Open a finished run directory: its config, its task, and its model (full or adapter)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ftlab.config.targets import build_task
from ftlab.errors import FtlabError
from ftlab.models.family import prepare_tokenizer
from ftlab.recipes import adapters
from ftlab.records import BASE_CONFIG, CONFIG_FILE, DECISION_FILE, MODEL_DIR, read_json

log = logging.getLogger(__name__)

ADAPTER_CONFIG = "adapter_config.json"  # peft's file: model/ holds an adapter, not weights


@dataclass
class Run:
    """A trained run, ready to predict: its task knows the output names in the model's order."""

    path: Path
    cfg: DictConfig
    task: Any
    tokenizer: Any
    model: Any

    @property
    def name(self) -> str:
        return self.path.name


def run_paths(value: Any) -> list[Path]:
    """`run=DIR` or `run=[DIR,DIR,...]` as checked run directories."""
    values = [value] if isinstance(value, str) else list(value or [])
    if not values:
        raise FtlabError("no run given; set run=RUN_DIR (or run=[DIR_A,DIR_B] for an ensemble)")
    paths = []
    for item in values:
        path = Path(str(item)).expanduser()
        if not (path / CONFIG_FILE).is_file():
            raise FtlabError(f"run={path}: not a run directory (no {CONFIG_FILE})")
        if not (path / MODEL_DIR).is_dir():
            raise FtlabError(
                f"run={path}: the run saved no model (no {MODEL_DIR}/); did it complete?"
            )
        paths.append(path)
    return paths


def is_adapter(model_dir: Path) -> bool:
    return (model_dir / ADAPTER_CONFIG).is_file()


def _label_list(path: Path, task: Any) -> list[str]:
    """The output names in the model's id order: the saved config's id2label (an adapter
    run keeps it in model/base_config/), else read from the data as training did."""
    from transformers import AutoConfig

    for config_dir in (path / MODEL_DIR, path / MODEL_DIR / BASE_CONFIG):
        if (config_dir / "config.json").is_file():
            id2label = AutoConfig.from_pretrained(config_dir).id2label
            return [id2label[i] for i in range(len(id2label))]
    log.info("%s: the model has no config.json; reading the label list from the data", path)
    task.prepare()
    return list(task.label_list)


def load_model(model_dir: Path, task: Any, cfg: DictConfig) -> Any:
    """`AutoModelFor<Task>` from the saved weights, or (model/ holds an adapter) the base
    model built as the run trained it (the config in model/base_config: labels, the pad
    token id a decoder was given; quantized where `peft.quantization` is set) and the
    adapter with its trained head on it."""
    loader = task.model_loader()
    kwargs = task.model_kwargs()
    if not is_adapter(model_dir):
        return loader.from_pretrained(model_dir, use_safetensors=True, **kwargs).eval()
    try:
        from peft import PeftConfig, PeftModel
    except ImportError as exc:
        raise FtlabError(
            f"{model_dir} holds a peft adapter; install peft: pip install 'ftlab[peft]'"
        ) from exc
    from transformers import AutoConfig

    adapter = PeftConfig.from_pretrained(str(model_dir))
    base_config = model_dir / BASE_CONFIG
    if (base_config / "config.json").is_file():
        config = AutoConfig.from_pretrained(base_config)
        # a quantized base records how it was loaded; given back with config=, transformers
        # would build 4-bit layers and leave their weights unquantized
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        kwargs = {"config": config}
    if adapters.quantization(cfg.get("peft")) is not None:
        config = kwargs.get("config") or AutoConfig.from_pretrained(
            adapter.base_model_name_or_path, revision=adapter.revision
        )
        kwargs.update(adapters.quantized_loading(cfg.peft, cfg.hardware, loader, config))
    base = loader.from_pretrained(
        adapter.base_model_name_or_path, revision=adapter.revision, **kwargs
    )
    return PeftModel.from_pretrained(base, str(model_dir)).eval()


def load_run(path: Path, merge: bool = False) -> Run:
    """The run's saved config -> its task (with the model's labels), tokenizer and model;
    with `merge`, a peft run's adapter folded into the base weights (peft's
    `merge_and_unload`: the same outputs, no adapter layers on every call)."""
    from transformers import AutoTokenizer

    cfg = OmegaConf.load(path / CONFIG_FILE)
    task = build_task(cfg.task)
    task.label_list = _label_list(path, task)
    decision = path / MODEL_DIR / DECISION_FILE
    if decision.is_file():  # e.g. the thresholds the run chose on its validation set
        task.load_decision(read_json(decision))
    tokenizer = AutoTokenizer.from_pretrained(path / MODEL_DIR)
    model = load_model(path / MODEL_DIR, task, cfg)
    if merge and is_adapter(path / MODEL_DIR):
        model = model.merge_and_unload()
    # as training used it (a run saved before ftlab set these pads and feeds alike too)
    prepare_tokenizer(tokenizer, model.config, cfg.model.get("pad_token"))
    return Run(path=path, cfg=cfg, task=task, tokenizer=tokenizer, model=model)


def check_same_labels(runs: list[Run]) -> None:
    """An ensemble averages probabilities label by label: the members must agree on them
    (and have outputs to average: generated texts have none)."""
    first = runs[0]
    if len(runs) > 1 and first.task.generates:
        raise FtlabError(
            f"{type(first.task).__name__} runs generate texts, which an ensemble cannot "
            "average; give run= one run"
        )
    for run in runs[1:]:
        if type(run.task) is not type(first.task):
            raise FtlabError(
                f"runs {first.path} and {run.path} are different kinds of task "
                f"({first.task.name}, {run.task.name}); an ensemble needs runs of one task"
            )
        if run.task.label_list != first.task.label_list:
            raise FtlabError(
                f"runs {first.path} and {run.path} have different label lists "
                f"({first.task.label_list} vs {run.task.label_list}); an ensemble needs the "
                "same labels in the same order"
            )
