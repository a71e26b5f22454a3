"""Imports flow one way, and heavy libraries stay in their one module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "assistant"

LAYERS = {
    "front": {"cli", "web", "evaluate", "__main__"},
    "core": {"ingest", "retrieve", "answer"},
    "adapters": {"models", "store", "lexical", "sources"},
    "pure": {"text", "clean", "chunking", "citations", "prompts", "extractive"},
    "base": {"config", "schema", "errors", "phrases", "__init__"},
}
ORDER = ["base", "pure", "adapters", "core", "front"]
OWNERS = {
    "chromadb": {"store"},
    "gradio": {"web"},
    "openai": set(),
    "langchain_openai": {"models"},
    "sentence_transformers": {"models"},
    "llama_cpp": {"models"},
}


def _layer(module: str) -> str:
    return next(name for name, members in LAYERS.items() if module in members)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level and node.module:
                found.add("." + node.module.split(".")[0])
            elif node.level:
                found.update("." + alias.name for alias in node.names)
            elif node.module:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def test_every_module_has_a_layer_and_a_docstring() -> None:
    for path in PACKAGE.glob("*.py"):
        _layer(path.stem)
        assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))), (
            f"{path.name} has no docstring"
        )


def test_imports_point_downward() -> None:
    for path in PACKAGE.glob("*.py"):
        mine = ORDER.index(_layer(path.stem))
        for name in _imports(path):
            if name.startswith("."):
                other = name[1:]
                assert other != "cli" or path.stem == "__main__", f"{path.name} imports cli"
                assert ORDER.index(_layer(other)) <= mine, f"{path.name} imports upward: {other}"


def test_heavy_libraries_stay_in_their_module() -> None:
    for path in PACKAGE.glob("*.py"):
        for name in _imports(path):
            if name in OWNERS:
                assert path.stem in OWNERS[name], f"{path.name} imports {name}"


def test_every_setting_is_documented_in_env_example() -> None:
    """A user configures from .env.example: each setting is there, with a comment above."""
    from assistant.config import Settings

    lines = (PACKAGE.parent / ".env.example").read_text(encoding="utf-8").splitlines()
    for name, field in Settings.model_fields.items():
        aliases = getattr(field.validation_alias, "choices", None) or [f"ASSISTANT_{name.upper()}"]
        keys = {str(a) for a in aliases}
        at = [i for i, ln in enumerate(lines) if ln.lstrip("# ").split("=")[0] in keys]
        assert at, f"{name} is missing from .env.example"
        j = at[0] - 1
        while j >= 0 and re.match(r"^#?\s?[A-Z_]+=", lines[j]):  # grouped under one comment
            j -= 1
        assert j >= 0 and lines[j].startswith("#"), f"{name} has no comment in .env.example"
