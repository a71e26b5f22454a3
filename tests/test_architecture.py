"""Imports flow one way, and heavy libraries stay in their one module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "assistant"

#: The package's layers, lowest first: each is a folder (or a top-level module) and may
#: import only from its own layer and the ones before it.
ORDER = [
    "base",  # settings, records, errors, fixed phrases
    "language",  # folding, stemming, names, dates in text, the question's analysis
    "models",  # embedders, the judges, chat models: the only place that loads weights
    "retrieval",  # the Chroma store, the lexical index, filters, the hybrid retriever
    "ingest",  # sources, cleaning, chunking, writing to the store
    "answer",  # citations, extractive composition, follow-ups, prompts, refusal gate
    "core",  # the Assistant facade
    "front",  # the command line, the web page, the evaluator
    "api",  # the package's public face: names (lazily) what users may import
]
FRONT = {"cli", "web", "evaluate", "__main__"}
OWNERS = {
    "chromadb": {"retrieval.store"},
    "gradio": {"web.app"},
    "openai": set(),
    "langchain_openai": {"models.chat", "models.embedders"},
    "sentence_transformers": {"models.embedders"},
    "llama_cpp": {"models.chat"},
    "onnxruntime": {"models.packaged"},  # imported with its telemetry off
    "onnx": {"models.packaged"},
    "dateparser": {"language.dates"},
}


def _modules() -> dict[str, Path]:
    """Every module of the package by its dotted name inside it ("answer.extractive")."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found[".".join(path.relative_to(PACKAGE).with_suffix("").parts)] = path
    return found


def _layer(module: str) -> str:
    top = module.split(".")[0]
    if top == "__init__":
        return "api"
    if top in FRONT:
        return "front"
    assert top in ORDER, f"{module} is in no layer: put it in one of {ORDER}"
    return top


def _imports(module: str, path: Path) -> set[str]:
    """Names a module imports: "x" for a library, ".a.b" for a module of the package
    (its dotted name inside the package, resolved from relative imports)."""
    found: set[str] = set()
    package = module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
                if node.module:
                    found.add("." + ".".join(target))
                else:
                    found.update("." + ".".join([*target, a.name]) for a in node.names)
            elif node.module and node.module.split(".")[0] == "assistant":
                found.add("." + node.module.removeprefix("assistant").lstrip("."))
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


def test_the_folders_are_the_layers() -> None:
    """Every module sits in a layer's folder (or is a front end or the facade at the top)."""
    tops = {name.split(".")[0] for name in _modules()}
    assert tops <= set(ORDER) | FRONT | {"__init__"}, tops - set(ORDER) - FRONT
    for layer in ORDER[:6]:
        assert (PACKAGE / layer / "__init__.py").is_file(), f"{layer}/ is not a package"


def test_imports_point_downward() -> None:
    checked = 0
    for module, path in _modules().items():
        mine = ORDER.index(_layer(module))
        for name in _imports(module, path):
            if name.startswith("."):
                other = name[1:] or "__init__"
                assert other != "cli" or module == "__main__", f"{module} imports cli"
                assert ORDER.index(_layer(other)) <= mine, f"{module} imports upward: {other}"
                checked += 1
    assert checked > 100  # the parser found the package's imports


def test_heavy_libraries_stay_in_their_module() -> None:
    for module, path in _modules().items():
        for name in _imports(module, path):
            if name in OWNERS:
                assert module in OWNERS[name], f"{module} imports {name}"


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
    from assistant.base.config import Settings

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
