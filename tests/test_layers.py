"""The package's layers, read from its source: imports run downward only (function-level
imports included), and no module imports itself back through others (an import cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

import ftlab

ROOT = Path(ftlab.__file__).parent
# top-level module or package -> its layer; each imports only from layers below its own
LAYERS = {
    "run": 7,
    "predict": 7,
    "export": 7,
    "serve": 7,  # python -m ftlab.serve (a package: app, model, Ray Serve deployments)
    "entry": 6,  # what the command-line entries share
    "job": 5,
    "inference": 5,
    "report": 5,
    "launch": 4,
    "training": 3,
    "recipes": 2.5,  # a recipe may ask a task kind (alignment, outputs)
    "tasks": 2,
    "models": 1,
    "data": 1,
    "metrics": 1,
    "config": 0,
    "run_lock": -1,
    "errors": -2,
    "records": -2,
}


def _imports() -> dict[str, set[str]]:
    """Module name -> the ftlab modules it imports anywhere in its source."""
    modules: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        if "modules" in path.relative_to(ROOT).parts[:-1]:
            continue  # the evaluate metric scripts, loaded by path
        name = ".".join(("ftlab", *path.relative_to(ROOT).with_suffix("").parts))
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ftlab"):
                found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("ftlab")}
        modules[name.removesuffix(".__init__")] = found
    return {m: {d for d in deps if d in modules and d != m} for m, deps in modules.items()}


def _layer(module: str) -> str:
    return module.split(".")[1] if "." in module else "ftlab"


def test_every_top_level_module_has_a_layer() -> None:
    assert {_layer(m) for m in _imports()} - {"ftlab", "__main__"} <= set(LAYERS)


def test_imports_run_downward_only() -> None:
    upward = [
        f"{module} -> {dep}"
        for module, deps in _imports().items()
        if _layer(module) in LAYERS
        for dep in deps
        if _layer(dep) != _layer(module) and LAYERS[_layer(dep)] >= LAYERS[_layer(module)]
    ]
    assert not upward


def test_no_module_imports_itself_back() -> None:
    graph = _imports()

    def reaches(start: str) -> set[str]:
        seen, todo = set(), list(graph[start])
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])
        return seen

    assert not [module for module in graph if module in reaches(module)]
