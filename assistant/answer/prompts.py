"""Load the prompt files under `prompts/` and check their variables.

Prompts are Markdown files with `{name}` placeholders. The top-level `prompts/`
folder ships inside the package as `assistant.prompt_files` (pyproject.toml maps
it), so a checkout, an editable install and an installed wheel all read them
through `importlib.resources`. Each is loaded once, and its placeholders must be
exactly the ones the code fills in, so a typo in a prompt fails at start-up with
a clear message rather than mid-answer.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from ..base.errors import PromptError

#: Each prompt file and the variables it must use.
EXPECTED: dict[str, frozenset[str]] = {
    "answer_system": frozenset({"refusal", "citation_example"}),
    "answer_user": frozenset({"sources", "question", "citation_example"}),
    "condense": frozenset({"history", "question"}),
    # Questions answered across the collection: evidence grouped by article, by date.
    "answer_across_user": frozenset({"sources", "question", "instruction", "citation_example"}),
    "across_timeline": frozenset(),
    "across_recency": frozenset(),
    "across_coverage": frozenset(),
    "across_enumeration": frozenset(),
}


@dataclass(frozen=True)
class Prompt:
    name: str
    template: str

    def render(self, **values: str) -> str:
        return self.template.format(**values)


def variables(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def prompt_dir() -> Traversable:
    """Where the prompt files are: the package data `assistant.prompt_files`."""
    try:
        return resources.files("assistant.prompt_files")
    except ModuleNotFoundError:  # a bare checkout on sys.path, not installed at all
        return Path(__file__).resolve().parents[2] / "prompts"


def load_prompt(name: str, directory: Traversable | None = None) -> Prompt:
    path = (directory or prompt_dir()) / f"{name}.md"
    try:
        template = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise PromptError(f"prompt {path}: cannot read ({exc.strerror})") from None
    found = variables(template)
    expected = EXPECTED.get(name, frozenset())
    if found != expected:
        missing = ", ".join(sorted(expected - found)) or "none"
        extra = ", ".join(sorted(found - expected)) or "none"
        raise PromptError(f"prompt {path}: variables missing: {missing}; unexpected: {extra}")
    return Prompt(name, template)


@cache
def prompts() -> dict[str, Prompt]:
    """All prompts, loaded and checked once per process."""
    return {name: load_prompt(name) for name in EXPECTED}
