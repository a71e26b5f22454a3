"""Load the prompt files under `prompts/` and check their variables.

Prompts are Markdown files with `{name}` placeholders. Each is loaded once,
and its placeholders must be exactly the ones the code fills in, so a typo in
a prompt fails at start-up with a clear message rather than mid-answer.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .errors import PromptError

PROMPT_DIR = Path(__file__).resolve().parent.parent / "prompts"

#: Each prompt file and the variables it must use.
EXPECTED: dict[str, frozenset[str]] = {
    "answer_system": frozenset({"refusal", "citation_example"}),
    "answer_user": frozenset({"sources", "question", "citation_example"}),
    "condense": frozenset({"history", "question"}),
}


@dataclass(frozen=True)
class Prompt:
    name: str
    template: str

    def render(self, **values: str) -> str:
        return self.template.format(**values)


def variables(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def load_prompt(name: str, directory: Path = PROMPT_DIR) -> Prompt:
    path = directory / f"{name}.md"
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
def prompts(directory: Path = PROMPT_DIR) -> dict[str, Prompt]:
    """All prompts, loaded and checked once per directory."""
    return {name: load_prompt(name, directory) for name in EXPECTED}
