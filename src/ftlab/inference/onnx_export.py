"""`ftlab.export`: a run's model as ONNX (torch.onnx) and dynamically quantized int8
(onnxruntime), checked against PyTorch on the run's test examples, with size and CPU speed."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from ftlab.errors import FtlabError, boundary
from ftlab.inference.predictor import features_only
from ftlab.inference.runs import load_run, run_paths
from ftlab.models.family import model_inputs
from ftlab.records import MODEL_DIR, write_json

log = logging.getLogger("ftlab.export")

FORMATS = ("onnx",)
QUANTIZATIONS = (None, "int8")
ONNX_FILE, INT8_FILE, REPORT_FILE = "model.onnx", "model_int8.onnx", "export.json"
WARMUP_RUNS = 5


def _onnx_packages() -> tuple[Any, Any]:
    try:
        import onnxruntime
        from onnxruntime import quantization
    except ImportError as exc:
        raise FtlabError("export needs onnx and onnxruntime: pip install 'ftlab[export]'") from exc
    return onnxruntime, quantization


def export_onnx(model: Any, batch: dict[str, Any], path: Path, opset: int, per_token: bool) -> None:
    """torch.onnx's TorchScript exporter, batch and sequence axes dynamic (the logits'
    sequence axis too where the model scores every token)."""
    import torch

    # in forward()'s order: the exporter names the graph's inputs by position, so a
    # tokenizer's order (input_ids, token_type_ids, attention_mask) would swap two of them
    names = model_inputs(model, batch)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes["logits"] = {0: "batch", 1: "sequence"} if per_token else {0: "batch"}
    with torch.no_grad():
        # dynamo=False: the TorchScript exporter handles BERT-style encoders with dynamic
        # axes in under a second, with no extra dependency
        torch.onnx.export(
            model,
            (),
            str(path),
            kwargs={k: torch.as_tensor(v) for k, v in batch.items()},
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )


def percentiles(seconds: list[float]) -> dict[str, float]:
    quantiles = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"p50_ms": 1000 * quantiles[49], "p95_ms": 1000 * quantiles[94]}


def measure(
    predict: Callable[[dict], Any], singles: list[dict], batches: list[dict], runs: int
) -> dict[str, float]:
    """Single-example latency (p50 / p95 over `runs` calls, after warm-up runs) and
    samples/s over the batches."""
    for example in singles[:WARMUP_RUNS]:
        predict(example)
    seconds = []
    for i in range(runs):
        started = time.perf_counter()
        predict(singles[i % len(singles)])
        seconds.append(time.perf_counter() - started)
    started = time.perf_counter()
    count = 0
    for batch in batches:
        predict(batch)
        count += len(next(iter(batch.values())))
    return {**percentiles(seconds), "samples_per_second": count / (time.perf_counter() - started)}


def _torch_predict(model: Any) -> Callable[[dict], np.ndarray]:
    import torch

    def predict(batch: dict) -> np.ndarray:
        with torch.inference_mode():
            return model(**{k: torch.as_tensor(v) for k, v in batch.items()}).logits.numpy()

    return predict


def _onnx_predict(path: Path, threads: int | None) -> Callable[[dict], np.ndarray]:
    onnxruntime, _ = _onnx_packages()
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def predict(batch: dict) -> np.ndarray:
        return session.run(["logits"], dict(batch))[0]

    return predict


def _batches(
    collator: Any, features: list[dict], size: int, names: list[str]
) -> list[dict[str, np.ndarray]]:
    """Padded numpy batches of `size` examples (the task's collator, as in training), of
    the inputs `names` the model uses."""
    batches = [collator(features[i : i + size]) for i in range(0, len(features), size)]
    return [{k: np.asarray(batch[k]) for k in names} for batch in batches]


def export(cfg: DictConfig) -> dict[str, Any]:
    """Write model.onnx (and model_int8.onnx), check them, time them; returns the report."""
    if cfg.format not in FORMATS:
        raise FtlabError(f"format must be one of {', '.join(FORMATS)}, got '{cfg.format}'")
    if cfg.quantize not in QUANTIZATIONS:
        raise FtlabError(f"quantize must be int8 or null, got '{cfg.quantize}'")
    if not isinstance(cfg.run, str):
        raise FtlabError("export takes one run: run=RUN_DIR")
    (path,) = run_paths(cfg.run)
    _, quantization = _onnx_packages()
    threads = int(cfg.threads) if cfg.threads else None
    if threads:
        import torch

        torch.set_num_threads(threads)
    with boundary("loading the run's model", "check that the run completed and model/ is whole"):
        run = load_run(path)
    if run.task.head != run.task.heads[0]:
        raise FtlabError(
            f"run={path} has model.head={run.task.head}, whose decoding (a Viterbi search) is "
            "no ONNX graph; export a run with the default head"
        )
    model = run.model.merge_and_unload() if hasattr(run.model, "merge_and_unload") else run.model
    model = run.task.exported_model(model.float().eval())
    out = Path(cfg.output).expanduser() if cfg.output else path / "onnx"
    out.mkdir(parents=True, exist_ok=True)

    task = run.task
    rows = task.prepare()["test"]
    rows = rows.select(range(min(int(cfg.check_samples), len(rows))))
    encoded = task.encode(run.tokenizer, task.prediction_inputs(rows, run.tokenizer))
    features = list(features_only(encoded))  # one per window of a windowed sentence
    collator = task.prediction_collator(run.tokenizer)
    names = model_inputs(model, collator(features[:1]))
    (check,) = _batches(collator, features, len(features), names)
    singles = _batches(collator, features, 1, names)
    batches = _batches(collator, features, 32, names)

    reference = _torch_predict(model)(check)
    per_token = reference.ndim == 3  # (batch, sequence, labels): a score for every token
    with boundary(
        f"exporting a {type(model).__name__} to ONNX",
        "this architecture does not export with torch.onnx here: serve it with ftlab.predict",
    ):
        export_onnx(model, check, out / ONNX_FILE, int(cfg.opset), per_token)
    files = {"pytorch": None, "onnx": out / ONNX_FILE}
    if cfg.quantize == "int8":
        quantization.quantize_dynamic(
            str(out / ONNX_FILE), str(out / INT8_FILE), weight_type=quantization.QuantType.QInt8
        )
        files["onnx_int8"] = out / INT8_FILE
    run.tokenizer.save_pretrained(out)  # the folder is self-contained: tokenizer + config
    model.config.save_pretrained(out)

    mask = check["attention_mask"].astype(bool)  # token logits: real tokens only
    report: dict[str, Any] = {
        "run": str(path),
        "check_examples": len(features),
        "threads": threads or "default",
        "models": {},
    }
    for name, file in files.items():
        predict = _torch_predict(model) if file is None else _onnx_predict(file, threads)
        entry: dict[str, Any] = {
            "file": str(file) if file else str(path / MODEL_DIR),
            # PyTorch: its fp32 parameters (an adapter run's: base and adapter merged)
            "size_mb": (
                file.stat().st_size if file else sum(p.numel() * 4 for p in model.parameters())
            )
            / 2**20,
        }
        if file is not None:
            logits = predict(check)
            if per_token:
                entry.update(task.agreement(reference[mask], logits[mask]))
            else:
                entry.update(task.agreement(reference, logits))
            _check_tolerance(name, entry, float(cfg.atol), float(cfg.int8_atol))
        entry.update(measure(predict, singles, batches, int(cfg.latency_runs)))
        report["models"][name] = entry
    write_json(out / REPORT_FILE, report)
    print(report_table(report, float(cfg.atol), float(cfg.int8_atol)))
    print(f"written to {out}")
    return report


def _check_tolerance(name: str, entry: dict[str, float], atol: float, int8_atol: float) -> None:
    if name == "onnx" and entry["max_abs_logit_diff"] > atol:
        raise FtlabError(
            f"the ONNX model's logits differ from PyTorch's by {entry['max_abs_logit_diff']:.2e} "
            f"(> atol={atol}); try another opset=, or raise atol= if that is acceptable"
        )
    if name == "onnx_int8" and entry["max_abs_output_diff"] > int8_atol:
        raise FtlabError(
            f"the int8 model's outputs (probabilities, or scores) differ from PyTorch's by "
            f"{entry['max_abs_output_diff']:.3f} (> int8_atol={int8_atol}); quantization "
            "hurts this model too much: use the fp32 ONNX model, or raise int8_atol="
        )


def report_table(report: dict[str, Any], atol: float, int8_atol: float) -> str:
    lines = [
        f"{'model':<11}{'size MB':>9}{'p50 ms':>9}{'p95 ms':>9}{'samples/s':>11}"
        f"{'max |dlogit|':>14}{'max |dout|':>13}{'same label':>12}",
    ]
    for name, m in report["models"].items():
        diffs = "".join(
            f"{m[key]:>{width}.{digits}}" if key in m else f"{'-':>{width}}"
            for key, width, digits in (
                ("max_abs_logit_diff", 14, "2e"),
                ("max_abs_output_diff", 13, "2e"),
                ("label_agreement", 12, "3f"),
            )
        )
        lines.append(
            f"{name:<11}{m['size_mb']:>9.1f}{m['p50_ms']:>9.2f}{m['p95_ms']:>9.2f}"
            f"{m['samples_per_second']:>11.1f}{diffs}"
        )
    lines.append(
        f"checked on {report['check_examples']} test examples: ONNX |dlogit| <= {atol}, "
        f"int8 |doutput| <= {int8_atol} (probabilities, or regression scores); "
        "latency: 1 example, CPU"
    )
    return "\n".join(lines)
