"""Secrets (tokens, API keys) never reach a config file, a log or a run record: which keys
and values are secret, and the resolved config as it may be written."""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any

from omegaconf import DictConfig, OmegaConf

_SECRET_KEY = re.compile(r"(^|_)(token|api_key|apikey|secret|password)$", re.IGNORECASE)
REDACTED = "<redacted>"
# tokens read from the environment by transformers, huggingface_hub and wandb
SECRET_ENV_VARS = ("WANDB_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def is_secret_key(key: Any) -> bool:
    return bool(_SECRET_KEY.search(str(key)))


def redact(container: Any) -> Any:
    """A copy of a plain config container with secret-looking values replaced."""
    if isinstance(container, dict):
        return {
            k: (REDACTED if is_secret_key(k) and isinstance(v, str) else redact(v))
            for k, v in container.items()
        }
    if isinstance(container, list):
        return [redact(v) for v in container]
    return container


def redact_overrides(args: list[str]) -> list[str]:
    """Command-line arguments with the values of secret-looking `key=value` pairs replaced."""
    redacted = []
    for arg in args:
        key, sep, _ = arg.partition("=")
        secret = sep and is_secret_key(key.lstrip("+~").rsplit(".", 1)[-1])
        redacted.append(f"{key}={REDACTED}" if secret else arg)
    return redacted


def secret_values(cfg: DictConfig) -> set[str]:
    """Every secret string this job knows: secret-keyed config values and token env vars."""
    found = {os.environ[name] for name in SECRET_ENV_VARS if os.environ.get(name)}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if is_secret_key(k) and isinstance(v, str) and v:
                    found.add(v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(OmegaConf.to_container(cfg, resolve=False))
    return {value for value in found if len(value) >= 4 and value != REDACTED}


def redacted_container(cfg: DictConfig) -> Any:
    """The fully resolved config as plain Python values, secrets redacted."""
    return redact(OmegaConf.to_container(cfg, resolve=True))


def resolved_yaml(cfg: DictConfig) -> str:
    """The fully resolved config as yaml, secrets redacted."""
    return OmegaConf.to_yaml(redacted_container(cfg))


def config_digest(cfg: DictConfig) -> str:
    """SHA-256 of the resolved config: equal digests on all ranks mean one shared config."""
    return hashlib.sha256(resolved_yaml(cfg).encode("utf-8")).hexdigest()
