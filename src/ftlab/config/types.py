"""Config values against the types their owner declares (a task's dataclass fields, the model
keys): `task.threshold=abc` or `model.trust_remote_code=maybe` stop with one line naming the
key and what it takes, instead of failing deep inside, or silently meaning something else."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from ftlab.errors import FtlabError

_NAMES = {
    str: "a string",
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    dict: "a mapping of keys to values",
}


def matches(value: Any, hint: Any) -> bool:
    """Whether `value` (a plain config value) has the type `hint` names."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if origin in (list, tuple):
        return isinstance(value, (list, tuple)) and all(matches(v, args[0]) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, Mapping)  # a DictConfig too
    if hint is bool:
        return isinstance(value, bool)
    if hint in (int, float):  # a bool is an int to Python, never to a user
        kinds = int if hint is int else (int, float)
        return isinstance(value, kinds) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True  # a type this check does not know: its owner checks it


def describe(hint: Any) -> str:
    """`str | None` -> 'a string or null'."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(arg) for arg in args)
    if hint is type(None):
        return "null"
    if origin in (list, tuple):
        return {str: "a list of strings", float: "a list of numbers"}.get(args[0], "a list")
    return _NAMES.get(hint, getattr(hint, "__name__", str(hint)))


def check_value(key: str, value: Any, hint: Any) -> None:
    if not matches(value, hint):
        raise FtlabError(f"{key} must be {describe(hint)}, got {value!r}")


def check_fields(obj: Any, prefix: str) -> None:
    """Every init field of the dataclass `obj` against its annotation, as `<prefix>.<field>`."""
    hints = typing.get_type_hints(type(obj))
    for field in dataclasses.fields(obj):
        if field.init:
            check_value(f"{prefix}.{field.name}", getattr(obj, field.name), hints[field.name])
