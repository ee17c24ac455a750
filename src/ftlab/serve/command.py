"""`python -m ftlab.serve`: the config checked, then the service on Ray Serve or here."""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ftlab.config.targets import build_task
from ftlab.errors import FtlabError
from ftlab.inference.runs import run_paths
from ftlab.records import CONFIG_FILE
from ftlab.serve.app import Limits, Settings

log = logging.getLogger("ftlab.serve")

API_KEY_ENV = "FTLAB_SERVE_API_KEY"
ENGINES = ("ray", "local")


def _positive(cfg: DictConfig, *keys: str) -> None:
    for key in keys:
        value = cfg.serve[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise FtlabError(f"serve.{key} must be a number above 0, got {value!r}")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def settings_of(cfg: DictConfig) -> Settings:
    """The app's settings from the config and the environment (the API key: never a file)."""
    _positive(
        cfg,
        "port",
        "num_replicas",
        "max_batch_inputs",
        "max_batch_tokens",
        "max_ongoing_requests",
        "max_queued_requests",
        "timeout_s",
        "retry_after_s",
        "max_body_bytes",
        "max_inputs",
        "max_chars",
    )
    s = cfg.serve
    if s.engine not in ENGINES:
        raise FtlabError(f"serve.engine must be one of {', '.join(ENGINES)}, got '{s.engine}'")
    if s.max_inputs > s.max_batch_inputs:
        raise FtlabError(
            f"serve.max_inputs={s.max_inputs} is above serve.max_batch_inputs="
            f"{s.max_batch_inputs}: a request must fit in one batch; lower the one or raise "
            "the other"
        )
    key = os.environ.get(API_KEY_ENV) or None
    if key is None and not _loopback(str(s.host)):
        raise FtlabError(
            f"serve.host={s.host} is reachable from other machines: set {API_KEY_ENV} "
            "(clients send 'Authorization: Bearer <key>'), or serve on 127.0.0.1"
        )
    if key is None:
        log.warning("no %s set: any local process may call the service", API_KEY_ENV)
    limits = Limits(int(s.max_body_bytes), int(s.max_inputs), int(s.max_chars))
    # what the model replicas hold and queue, all of them (the local engine: one)
    replicas = int(s.max_replicas or s.num_replicas) if s.engine == "ray" else 1
    in_flight = replicas * (int(s.max_ongoing_requests) + int(s.max_queued_requests))
    return Settings(limits, key, float(s.timeout_s), int(s.retry_after_s), in_flight)


def serve(cfg: DictConfig) -> None:
    """Check everything cheap, then serve until SIGINT / SIGTERM."""
    # a wrong run=, or a kind the service cannot answer, fails before Ray or a model loads
    if cfg.get("corpus"):  # absolute: Ray Serve's replicas may start in another directory
        cfg = OmegaConf.merge(cfg, {"corpus": str(Path(cfg.corpus).expanduser().resolve())})
    corpus = cfg.get("corpus")
    for path in run_paths(cfg.run):
        task = build_task(OmegaConf.load(path / CONFIG_FILE).task)
        if corpus is not None:
            task.use_corpus(str(corpus))
        task.check_servable()
    settings = settings_of(cfg)
    from ftlab.serve.model import BACKENDS, ServedModel

    if cfg.serve.backend not in BACKENDS:
        raise FtlabError(
            f"serve.backend must be one of {', '.join(BACKENDS)}, got '{cfg.serve.backend}'"
        )
    run = cfg.run if isinstance(cfg.run, str) else list(cfg.run)
    threads = int(cfg.serve.threads) if cfg.serve.threads else None
    if cfg.serve.engine == "local":
        from ftlab.serve.local import LocalBackend, serve_here

        print(f"ftlab.serve: http://{cfg.serve.host}:{cfg.serve.port} (engine=local)", flush=True)
        serve_here(
            settings,
            lambda: LocalBackend(ServedModel(run, str(cfg.serve.backend), threads, corpus)),
            str(cfg.serve.host),
            int(cfg.serve.port),
            float(cfg.serve.drain_s),
        )
        return
    from ftlab.serve.ray_app import serve_on_ray

    serve_on_ray(cfg, settings, run, threads)
