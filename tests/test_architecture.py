"""Imports flow one way, and heavy libraries stay in their one module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "assistant"

LAYERS = {
    "front": {"cli", "web", "evaluate", "__main__"},
    "core": {"ingest", "retrieve", "answer"},
    "adapters": {"models", "store", "lexical", "sources", "rerank", "packaged"},
    "pure": {
        "text",
        "aliases",
        "clean",
        "chunking",
        "citations",
        "prompts",
        "extractive",
        "filters",
        "followup",
        "templates",
        "dates",
        "web_render",
        "web_timeline",
    },
    "base": {"config", "schema", "errors", "phrases", "files"},
    # The package's public face: it names (lazily) what users may import from every layer.
    "api": {"__init__"},
}
ORDER = ["base", "pure", "adapters", "core", "front", "api"]
OWNERS = {
    "chromadb": {"store"},
    "gradio": {"web"},
    "openai": set(),
    "langchain_openai": {"models"},
    "sentence_transformers": {"models"},
    "llama_cpp": {"models"},
    "onnxruntime": {"packaged"},  # imported with its telemetry off
    "onnx": {"packaged"},
    "dateparser": {"dates"},
}


def _modules() -> dict[str, Path]:
    """Every module of the package by its top-level name: a subpackage's modules are
    all named after the subpackage ("evaluate.runner" -> "evaluate")."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(parts)] = path
    return found


def _layer(module: str) -> str:
    top = module.split(".")[0]
    return next(name for name, members in LAYERS.items() if top in members)


def _imports(path: Path) -> set[str]:
    """Names a module imports: "x" for a library, ".x" for a module of the package (by its
    top-level name; a subpackage's imports of its own siblings are left out)."""
    found: set[str] = set()
    inside = path.parent != PACKAGE  # a module of a subpackage
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and inside:
                continue  # a sibling in the same subpackage
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
    for name, path in _modules().items():
        _layer(name)
        assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))), (
            f"{path.name} has no docstring"
        )


def test_imports_point_downward() -> None:
    for module, path in _modules().items():
        mine = ORDER.index(_layer(module))
        for name in _imports(path):
            if name.startswith("."):
                other = name[1:]
                assert other != "cli" or module == "__main__", f"{module} imports cli"
                assert ORDER.index(_layer(other)) <= mine, f"{module} imports upward: {other}"


def test_heavy_libraries_stay_in_their_module() -> None:
    for module, path in _modules().items():
        for name in _imports(path):
            if name in OWNERS:
                assert module.split(".")[0] in OWNERS[name], f"{module} imports {name}"


def test_the_public_api_is_pinned() -> None:
    """What users may import from `assistant`; changing it is a deliberate decision."""
    import assistant

    assert assistant.__all__ == [
        "Answer",
        "Assistant",
        "AssistantError",
        "Citation",
        "ConfigError",
        "Filters",
        "IngestError",
        "ModelError",
        "Passage",
        "PromptError",
        "Settings",
        "StoreError",
    ]
    for name in assistant.__all__:
        assert getattr(assistant, name).__name__ == name
    assert issubclass(assistant.ConfigError, assistant.AssistantError)


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
