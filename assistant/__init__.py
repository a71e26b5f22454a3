"""News assistant: cited question answering over news articles.

The package is a library core (ingest, retrieve, answer, verify) with thin
front ends (`cli`, `web`, `evaluate`). The public API is `__all__` below;
everything else may move between releases. Importing the package is cheap:
the names load on first use, and heavy libraries only when a backend is built.

    from assistant import Assistant, Settings
    assistant = Assistant(Settings())
    answer = assistant.ask("Who did the minister meet?")
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "Assistant": "core",
    "Settings": "base.config",
    "Answer": "base.schema",
    "Citation": "base.schema",
    "Passage": "base.schema",
    "Filters": "retrieval.filters",
    "AssistantError": "base.errors",
    "ConfigError": "base.errors",
    "StoreError": "base.errors",
    "IngestError": "base.errors",
    "ModelError": "base.errors",
    "PromptError": "base.errors",
}

__all__ = [
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

if TYPE_CHECKING:
    from .base.config import Settings
    from .base.errors import (
        AssistantError,
        ConfigError,
        IngestError,
        ModelError,
        PromptError,
        StoreError,
    )
    from .base.schema import Answer, Citation, Passage
    from .core import Assistant
    from .retrieval.filters import Filters


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'assistant' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value
