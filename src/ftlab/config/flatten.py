"""Nested config values as one flat mapping with dotted keys (what MLflow params and the
report's config columns use)."""

from __future__ import annotations

from typing import Any


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1, "c": [2]}} -> {"a.b": 1, "a.c": [2]}: mappings joined by dots, every
    other value (a list too) left as it is."""
    if not isinstance(node, dict):
        return {prefix[:-1]: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(flatten(value, f"{prefix}{key}."))
    return flat
